/// access_micro: what one access decision and one durable access-log entry cost (issue 4).
///
///   access_micro --results FILE [--engines "sqlite postgres"] [--dir DIR] [--pg DSN]
///                [--seconds S] [--threads N] [--benchmark_* flags]
///
/// Decision cases (CPU only, one thread): `access::Decide` for a professional's read of a
/// document with the default grid; the same with its input assembled the way
/// api::Scope::CheckTarget does (copies of the actor, the record facts and the target); and
/// `access::TargetOf` (parses and classifies a Synthea DocumentReference body) + Decide.
/// Google Benchmark runs them when the build found it (5 repetitions, the median is
/// reported); otherwise plain std::chrono loops do the same.
///
/// Store cases, per engine (SQLite in DIR, default a new directory under the current one so
/// the fsyncs hit the same disk as the server's data; PostgreSQL when --pg or CARNET_TEST_PG
/// gives a DSN): the facts a read's decision loads (LoadRecordFacts + LoadFlags on a reader),
/// and `audit::Append` inside `Store::Write` — one append per job, from one thread (each
/// append waits for its own durable commit) and from N threads (64 by default; the writer
/// groups the jobs in flight into one commit), on N patients and on one patient; and a
/// professional opening a document the way the server does it without HTTP
/// (`api::FhirService::Read`: facts, decision, grid, durable log entry with group commit,
/// notice row, re-validation), one at a time and from N threads. Each case runs S seconds
/// (default 3) after a warm-up; the log is counted afterwards and must hold one entry per
/// read measured.
///
/// Prints a Markdown table and appends it to FILE.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <sys/resource.h>
#include <time.h>

#include "access/context.hpp"
#include "access/decision.hpp"
#include "access/grid.hpp"
#include "access/obligations.hpp"
#include "api/fhir_service.hpp"
#include "audit/audit.hpp"
#include "core/clock.hpp"
#include "core/ids.hpp"
#include "crypto/crypto.hpp"
#include "fhir/json.hpp"
#include "store/open.hpp"
#include "store/store.hpp"

#ifdef CARNET_HAVE_GBENCH
#include <benchmark/benchmark.h>
#endif

namespace fs = std::filesystem;
using namespace carnet;
using Steady = std::chrono::steady_clock;

namespace {

[[noreturn]] void Die(const std::string& what) {
    std::cerr << "access_micro: " << what << "\n";
    std::exit(1);
}

template <typename T>
T Must(Result<T> r, const std::string& what) {
    if (!r.ok()) Die(what + ": " + r.error().Summary() + " " + r.error().detail);
    return std::move(r).value();
}

/// Keeps a value alive for the optimiser (the same trick as benchmark::DoNotOptimize).
template <typename T>
inline void Keep(const T& value) {
    asm volatile("" : : "r,m"(value) : "memory");
}

#ifndef CARNET_HAVE_GBENCH
double ThreadCpuSeconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}
#endif

/// User + system CPU time of the whole process (every thread, the store's writer included).
double ProcessCpuSeconds() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    auto sec = [](const timeval& tv) {
        return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) * 1e-6;
    };
    return sec(ru.ru_utime) + sec(ru.ru_stime);
}

std::string LoadAverage() {
    std::ifstream in("/proc/loadavg");
    std::string a, b, c;
    in >> a >> b >> c;
    return a + " " + b + " " + c;
}

std::string Fixed(double v, int decimals) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return buf;
}

/// 12345678 -> "12,345,678".
std::string Thousands(double v) {
    const std::string digits = std::to_string(static_cast<long long>(v + 0.5));
    std::string out;
    out.reserve(digits.size() + digits.size() / 3);
    for (size_t i = 0; i < digits.size(); ++i) {
        if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
        out.push_back(digits[i]);
    }
    return out;
}

double Percentile(std::vector<double>& v, double p) {
    if (v.empty()) return 0;
    const auto k = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
    return v[k];
}

// ---- the decision ------------------------------------------------------------------------

/// A Synthea DocumentReference as imported (LOINC 34117-2 "History and physical note": DMP
/// class 10), with a note of the usual size in its attachment.
std::string DocumentJson(const std::string& id, const std::string& patient_id) {
    return R"({"resourceType":"DocumentReference","id":")" + id +
           R"(","meta":{"versionId":"1","lastUpdated":"2026-11-22T10:00:00.000000Z","profile":["http://hl7.org/fhir/us/core/StructureDefinition/us-core-documentreference"]},)"
           R"("identifier":[{"system":"urn:ietf:rfc:3986","value":"urn:uuid:51c61d6c-8cb9-45c9-f3e6-badc4e51543c"}],"status":"superseded",)"
           R"("type":{"coding":[{"system":"http://loinc.org","code":"34117-2","display":"History and physical note"},{"system":"http://loinc.org","code":"51847-2","display":"Evaluation+Plan note"}]},)"
           R"("category":[{"coding":[{"system":"http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category","code":"clinical-note","display":"Clinical Note"}]}],)"
           R"("subject":{"reference":"Patient/)" +
           patient_id +
           R"("},"date":"1993-05-02T16:52:12.345+00:00","author":[{"reference":"Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|9999941999","display":"Dr. Marybeth994 Corwin846"}],)"
           R"("custodian":{"reference":"Organization?identifier=https://github.com/synthetichealth/synthea|3d90ef21-b72c-39ba-8515-2ac2fba269de","display":"POST OCONNOR AND KADRMAS EYE CENTERS P C"},)"
           R"("content":[{"attachment":{"contentType":"text/plain; charset=utf-8","data":")" +
           std::string(864, 'Q') +
           R"("},"format":{"system":"http://ihe.net/fhir/ValueSet/IHE.FormatCode.codesystem","code":"urn:ihe:iti:xds:2017:mimeTypeSufficient","display":"mimeType Sufficient"}}],)"
           R"("context":{"encounter":[{"reference":"Encounter/0d4c5b2c-5e2a-4b8a-9d0e-1f2a3b4c5d6e"}],"period":{"start":"1993-05-02T16:52:12+00:00","end":"1993-05-02T17:07:12+00:00"}}})";
}

/// A professional (médecin) the holder authorised, reading one of the record's documents.
struct ReadFixture {
    access::Actor actor;
    access::RecordFacts facts;
    store::ResourceVersion document;
    access::DocFlags flags;  // no row: nothing masked or hidden
    access::Target target;
    access::DecisionInput input;
    const access::Grid& grid = access::Grid::Default();

    ReadFixture() {
        actor.kind = access::ActorKind::kProfessional;
        actor.account_id = NewUuid();
        actor.profession = "medecin";
        // An imported record (no patient account yet), as in the end-to-end bench.
        facts.patient_id = "micro-patient";
        facts.patient.status = "none";
        facts.rel.authorised = true;
        document.type = "DocumentReference";
        document.id = NewUuid();
        document.version = 1;
        document.patient_id = facts.patient_id;
        document.json = DocumentJson(document.id, facts.patient_id);
        target = access::TargetOf(document, &flags);
        input = Assemble(target);
        const access::Decision d = access::Decide(grid, input);
        if (!d.allow || d.basis != access::Basis::kAuthorised ||
            target.category != access::Category::kC10) {
            Die("the fixture's read is not an authorised read of a class-10 document");
        }
    }

    /// As api::Scope::CheckTarget builds it.
    [[nodiscard]] access::DecisionInput Assemble(const access::Target& t) const {
        access::DecisionInput in;
        in.actor = actor;
        in.target = t;
        in.action = access::Action::kRead;
        in.purpose = access::Purpose::kTreatment;
        in.now_us = 1'795'000'000'000'000;
        in.patient = facts.patient;
        in.rel = facts.rel;
        return in;
    }
};

struct CpuResult {
    std::string name;
    std::string what;
    double ns = 0;      // median wall-clock ns per operation
    double cpu_ns = 0;  // median CPU ns per operation (what a busy machine does not inflate)
    double cv_pct = 0;  // coefficient of variation of the repetitions
    int64_t iterations = 0;
};

const char* const kCpuWhat[] = {
    "`access::Decide`, input ready (professional, authorised, class 10, default grid)",
    "input assembled as `Scope::CheckTarget` does (actor, facts, target copied) + Decide",
    "`access::TargetOf` (parse + classify the 2.2 KB DocumentReference body) + assemble + Decide",
};

#ifdef CARNET_HAVE_GBENCH
/// Prints as the console reporter does, and keeps the median and CV of each case.
class Collector : public benchmark::ConsoleReporter {
  public:
    void ReportRuns(const std::vector<Run>& runs) override {
        for (const auto& r : runs) {
            if (r.error_occurred) Die("benchmark " + r.benchmark_name() + " failed");
            const std::string& base = r.run_name.function_name;
            auto it = std::find_if(results.begin(), results.end(),
                                   [&](const CpuResult& c) { return c.name == base; });
            if (it == results.end()) {
                results.push_back(CpuResult{base, "", 0, 0, 0, 0});
                it = results.end() - 1;
            }
            if (r.run_type == Run::RT_Iteration) it->iterations += r.iterations;
            if (r.aggregate_name == "median") {
                it->ns = r.GetAdjustedRealTime();
                it->cpu_ns = r.GetAdjustedCPUTime();
            }
            // The CV aggregate holds a fraction in its accumulated-time field.
            if (r.aggregate_name == "cv" && r.aggregate_unit == benchmark::kPercentage) {
                it->cv_pct = r.real_accumulated_time * 100;
            }
        }
        ConsoleReporter::ReportRuns(runs);
    }
    std::vector<CpuResult> results;
};
#else
/// Runs `fn` in rounds of growing size until a round takes ≥ 0.5 s, five times; the median.
template <typename F>
CpuResult TimeLoop(const std::string& name, F fn) {
    std::vector<double> per_op, cpu_per_op;
    int64_t total = 0;
    for (int rep = 0; rep < 5; ++rep) {
        for (int64_t n = 1000;; n *= 4) {
            const double c0 = ThreadCpuSeconds();
            const auto t0 = Steady::now();
            for (int64_t i = 0; i < n; ++i) fn();
            const double s = std::chrono::duration<double>(Steady::now() - t0).count();
            if (s >= 0.5 || n > (int64_t{1} << 40)) {
                per_op.push_back(s * 1e9 / static_cast<double>(n));
                cpu_per_op.push_back((ThreadCpuSeconds() - c0) * 1e9 / static_cast<double>(n));
                total += n;
                break;
            }
        }
    }
    std::vector<double> sorted = per_op;
    const double median = Percentile(sorted, 0.5);
    const double cpu_median = Percentile(cpu_per_op, 0.5);
    double mean = 0, var = 0;
    for (double v : per_op) mean += v / static_cast<double>(per_op.size());
    for (double v : per_op) var += (v - mean) * (v - mean) / static_cast<double>(per_op.size());
    std::cerr << name << ": " << Fixed(median, 1) << " ns (median of 5)\n";
    return CpuResult{name, "", median, cpu_median, mean > 0 ? std::sqrt(var) / mean * 100 : 0,
                     total};
}
#endif

std::vector<CpuResult> RunDecisionCases(int& argc, char** argv) {
    static ReadFixture fx;  // static: the benchmark lambdas outlive this frame
    auto decide = [] {
        access::Decision d = access::Decide(fx.grid, fx.input);
        Keep(d);
    };
    auto assembled = [] {
        access::DecisionInput in = fx.Assemble(fx.target);
        access::Decision d = access::Decide(fx.grid, in);
        Keep(d);
    };
    auto classified = [] {
        access::Target t = access::TargetOf(fx.document, &fx.flags);
        access::DecisionInput in = fx.Assemble(t);
        access::Decision d = access::Decide(fx.grid, in);
        Keep(d);
    };
    std::vector<CpuResult> out;
#ifdef CARNET_HAVE_GBENCH
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) std::exit(2);
    auto add = [](const char* name, auto fn) {
        benchmark::RegisterBenchmark(name,
                                     [fn](benchmark::State& st) {
                                         for (auto _ : st) fn();
                                     })
            ->Repetitions(5)
            ->ReportAggregatesOnly(true)
            ->Unit(benchmark::kNanosecond);
    };
    add("decide", decide);
    add("decide_assembled", assembled);
    add("target_of_decide", classified);
    Collector collector;
    benchmark::RunSpecifiedBenchmarks(&collector);
    out = collector.results;
#else
    if (argc > 1) Die(std::string("unknown option ") + argv[1]);
    out.push_back(TimeLoop("decide", decide));
    out.push_back(TimeLoop("decide_assembled", assembled));
    out.push_back(TimeLoop("target_of_decide", classified));
#endif
    for (auto& r : out) {
        if (r.name == "decide") r.what = kCpuWhat[0];
        if (r.name == "decide_assembled") r.what = kCpuWhat[1];
        if (r.name == "target_of_decide") r.what = kCpuWhat[2];
    }
    return out;
}

// ---- the store ---------------------------------------------------------------------------

struct StoreResult {
    std::string engine;
    std::string name;
    std::string what;
    int threads = 1;
    int64_t ops = 0;
    double seconds = 0;
    double cpu_seconds = 0;            // the whole process's CPU time during the run
    std::vector<double> latencies_us;  // per operation, as its caller saw it
    bool skipped = false;              // left out by --cases
};

/// --cases: the store cases to run (names containing one of these words); empty = all.
std::vector<std::string> g_cases;

bool Wanted(const std::string& name) {
    if (g_cases.empty()) return true;
    for (const auto& c : g_cases)
        if (name.find(c) != std::string::npos) return true;
    return false;
}

/// Runs `op(thread, i)` on `threads` threads for `seconds`; each thread records the latency of
/// each call. `op` returns false on failure (the run stops with an error).
StoreResult RunTimed(const std::string& engine, const std::string& name, const std::string& what,
                     int threads, double seconds,
                     const std::function<bool(int thread, int64_t i)>& op) {
    if (!Wanted(name)) {
        StoreResult skipped{engine, name, what, threads, 0, 0, 0, {}};
        skipped.skipped = true;
        return skipped;
    }
    std::atomic<bool> failed{false};
    std::atomic<int> ready{0};
    std::atomic<bool> go{false};
    std::vector<std::vector<double>> lat(static_cast<size_t>(threads));
    std::vector<std::thread> pool;
    Steady::time_point start, deadline;
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            auto& mine = lat[static_cast<size_t>(t)];
            mine.reserve(1 << 14);
            ready.fetch_add(1);
            while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
            for (int64_t i = 0; Steady::now() < deadline && !failed.load(); ++i) {
                const auto t0 = Steady::now();
                if (!op(t, i)) {
                    failed = true;
                    return;
                }
                mine.push_back(
                    std::chrono::duration<double, std::micro>(Steady::now() - t0).count());
            }
        });
    }
    while (ready.load() < threads) std::this_thread::yield();
    const double cpu0 = ProcessCpuSeconds();
    start = Steady::now();
    deadline = start +
               std::chrono::duration_cast<Steady::duration>(std::chrono::duration<double>(seconds));
    go.store(true, std::memory_order_release);
    for (auto& th : pool) th.join();
    const double elapsed = std::chrono::duration<double>(Steady::now() - start).count();
    const double cpu = ProcessCpuSeconds() - cpu0;
    if (failed) Die(engine + " " + name + ": an operation failed");
    StoreResult r{engine, name, what, threads, 0, elapsed, cpu, {}};
    for (auto& v : lat) {
        r.ops += static_cast<int64_t>(v.size());
        r.latencies_us.insert(r.latencies_us.end(), v.begin(), v.end());
    }
    std::cerr << engine << " " << name << " x" << threads << ": " << r.ops << " ops in "
              << Fixed(elapsed, 2) << " s = " << Thousands(static_cast<double>(r.ops) / elapsed)
              << "/s\n";
    return r;
}

void RunStoreCases(const std::string& engine, const store::StoreOptions& options, int threads,
                   double seconds, std::vector<StoreResult>& out) {
    auto st = Must(store::OpenStore(options, crypto::MasterKey::FromKeyForTest(crypto::NewKey())),
                   "opening the " + engine + " store");
    const ReadFixture fx;
    const SystemClock clock;
    // Fresh patients for every run (a PostgreSQL database may be reused).
    const std::string run = NewUuid().substr(0, 8);
    std::vector<std::string> patients;
    for (int t = 0; t < threads; ++t) patients.push_back("micro-" + run + "-" + std::to_string(t));
    const std::string& first = patients.front();

    // The relation the holder's "authorise" writes, on every patient.
    const int64_t now0 = clock.NowMicros();
    Must(st->Write([&](store::WriteTxn& txn) -> Status {
        for (const auto& pid : patients) {
            CARNET_CHECK(txn.Exec(
                "INSERT INTO access_relations(patient_id, professional_account, status, via_code, "
                "roles, created_at, updated_at, updated_by) VALUES (?, ?, 'authorised', 0, '', ?, "
                "?, 'access_micro')",
                {pid, fx.actor.account_id, now0, now0}));
        }
        return Ok();
    }),
         "inserting the relations");

    auto entry_for = [&](const std::string& pid, int64_t i) {
        access::Target t = fx.target;
        t.patient_id = pid;
        const access::Decision d = access::Decide(fx.grid, fx.Assemble(t));
        return access::EntryFor(fx.actor, d, access::Action::kRead, t, access::Purpose::kTreatment,
                                "micro-" + std::to_string(i), clock.NowMicros(), 1);
    };
    auto append = [&](const std::string& pid, int64_t i) {
        const audit::Entry e = entry_for(pid, i);
        Status s = st->Write([&](store::WriteTxn& txn) { return audit::Append(txn, e); });
        if (!s.ok())
            std::cerr << "append: " << s.error().Summary() << " " << s.error().detail << "\n";
        return s.ok();
    };
    // Warm-up: every head row exists, statements are prepared, pools are full.
    for (int64_t i = 0; i < 3; ++i)
        for (const auto& pid : patients)
            if (!append(pid, i)) Die(engine + ": warm-up append failed");

    const std::vector<std::pair<std::string, std::string>> keys = {
        {fx.document.type, fx.document.id}};
    out.push_back(RunTimed(
        engine, "facts",
        "the facts a read's decision loads: `OpenReader` + `LoadRecordFacts` + `LoadFlags`", 1,
        seconds, [&](int, int64_t) {
            auto reader = st->OpenReader();
            if (!reader.ok()) return false;
            auto f = access::LoadRecordFacts(**reader, fx.actor, first, clock.NowMicros());
            auto fl = access::LoadFlags(**reader, first, keys);
            return f.ok() && fl.ok() && f->rel.authorised;
        }));
    out.push_back(RunTimed(engine, "append_1",
                           "`audit::Append` in `Store::Write`, one job at a time (own commit)", 1,
                           seconds, [&](int, int64_t i) { return append(first, i); }));
    out.push_back(RunTimed(
        engine, "append_grouped",
        "the same from " + std::to_string(threads) + " threads, one patient each (group commit)",
        threads, seconds,
        [&](int t, int64_t i) { return append(patients[static_cast<size_t>(t)], i); }));
    out.push_back(RunTimed(
        engine, "append_grouped_one_patient",
        "the same from " + std::to_string(threads) + " threads, all on one patient's chain",
        threads, seconds, [&](int, int64_t i) { return append(first, i); }));

    // A professional opening a document of a record they were authorised on, as the server
    // does it without HTTP: api::FhirService::Read with the professional as caller — the
    // record's facts and the document's flags on a reader snapshot, the decision with the
    // grid in force, then one writer job (group commit) that appends the durable log entry,
    // writes the day's notice row the holder's default preference asks for, and re-validates
    // the decision (Scope::StillValid).
    access::GridStore grids;
    api::FhirService svc(*st, clock);
    api::AccessConfig config;
    config.grids = &grids;
    config.portal_url = "https://carnet.localhost";
    svc.SetAccess(config);
    std::vector<std::string> documents;
    for (const auto& pid : patients) {
        auto patient = Must(fhir::ParseJson(R"({"resourceType":"Patient","id":")" + pid + "\"}"),
                            "the Patient");
        Must(svc.Update("Patient", pid, patient.as_object(), std::nullopt), "storing the Patient");
        const std::string id = NewUuid();
        auto doc = Must(fhir::ParseJson(DocumentJson(id, pid)), "the document");
        Must(svc.Update("DocumentReference", id, doc.as_object(), std::nullopt),
             "storing the document");
        documents.push_back(id);
    }
    api::Caller caller;
    caller.actor = fx.actor;
    caller.purpose = access::Purpose::kTreatment;
    caller.request_id = "access-micro";
    auto open = [&](size_t p) {
        auto r = svc.Read("DocumentReference", documents[p], caller);
        if (!r.ok()) {
            std::cerr << "open: " << r.error().Summary() << " " << r.error().detail << "\n";
            return false;
        }
        return r->id == documents[p] && !r->json.empty();
    };
    auto logged = [&](const std::string& pid) -> int64_t {
        auto reader = Must(st->OpenReader(), "opening a reader");
        auto rows = Must(reader->Query("SELECT COUNT(*) FROM audit_log WHERE patient_id = ? AND "
                                       "actor_account = ? AND action = 'read' AND outcome = "
                                       "'allow' AND request_id = ?",
                                       {pid, fx.actor.account_id, caller.request_id}),
                         "counting the log");
        return store::AsInt(rows[0][0]);
    };
    if (!open(0)) Die(engine + ": the warm-up read failed");
    if (const int64_t n = logged(first); n != 1) {
        Die(engine + ": the warm-up read left " + std::to_string(n) + " log entries, not 1");
    }
    const size_t before = out.size();
    out.push_back(RunTimed(engine, "open_document_1",
                           "a professional opens a document: `FhirService::Read` (facts, "
                           "decision, grid, durable log entry, notice row, re-validation), one "
                           "at a time",
                           1, seconds, [&](int, int64_t) { return open(0); }));
    out.push_back(RunTimed(
        engine, "open_document_grouped",
        "the same from " + std::to_string(threads) + " threads, one record each (group commit)",
        threads, seconds, [&](int t, int64_t) { return open(static_cast<size_t>(t)); }));
    out.push_back(RunTimed(engine, "open_document_one_record",
                           "the same from " + std::to_string(threads) +
                               " threads, all on one record (as the "
                               "end-to-end bench)",
                           threads, seconds, [&](int, int64_t) { return open(0); }));
    // Every read counted above left its own entry: the log is the proof, not the timer.
    int64_t opened = 1;
    for (size_t i = before; i < out.size(); ++i) opened += out[i].ops;
    int64_t entries = 0;
    for (const auto& pid : patients) entries += logged(pid);
    if (entries != opened) {
        Die(engine + ": " + std::to_string(opened) + " reads but " + std::to_string(entries) +
            " log entries");
    }
    std::cerr << engine << ": " << entries << " reads, " << entries << " log entries\n";
    st->Close();
}

// ---- report ------------------------------------------------------------------------------

std::string Report(const std::vector<CpuResult>& cpu, const std::vector<StoreResult>& stores,
                   const std::string& load_before, const std::string& load_after, double seconds) {
    std::ostringstream o;
    const auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    char date[64];
    std::strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", std::gmtime(&now));
    o << "### access_micro, " << date << "\n\n";
    o << "Load average " << load_before << " before, " << load_after
      << " after (machine shared with other builds). "
#ifdef CARNET_HAVE_GBENCH
      << "Decision cases: Google Benchmark, 5 repetitions, median. "
#else
      << "Decision cases: std::chrono loops (≥ 0.5 s each), 5 repetitions, median. "
#endif
      << "Store cases: " << Fixed(seconds, 0)
      << " s each after a warm-up; latency is one `Store::Write` (or one reader's queries) as "
         "its caller waits for it.\n\n";
    o << "| Decision | ns per decision (wall) | CPU ns per decision | decisions/s per core "
         "(CPU) | CV of repetitions |\n";
    o << "|---|---:|---:|---:|---:|\n";
    for (const auto& r : cpu) {
        o << "| " << r.what << " | " << Fixed(r.ns, 1) << " | " << Fixed(r.cpu_ns, 1) << " | "
          << Thousands(1e9 / r.cpu_ns) << " | " << Fixed(r.cv_pct, 1) << "% |\n";
    }
    o << "\n";
    if (!stores.empty()) {
        o << "| Engine | Store case | Threads | Operations | µs per operation (wall / ops) | "
             "Operations/s | Latency p50 µs | p99 µs | Process CPU µs per operation |\n";
        o << "|---|---|---:|---:|---:|---:|---:|---:|---:|\n";
        for (auto r : stores) {
            if (r.skipped) continue;
            const double rate = static_cast<double>(r.ops) / r.seconds;
            const double p50 = Percentile(r.latencies_us, 0.5);
            const double p99 = Percentile(r.latencies_us, 0.99);
            o << "| " << r.engine << " | " << r.what << " | " << r.threads << " | "
              << Thousands(static_cast<double>(r.ops)) << " | " << Fixed(1e6 / rate, 1) << " | "
              << Thousands(rate) << " | " << Fixed(p50, 0) << " | " << Fixed(p99, 0) << " | "
              << Fixed(r.cpu_seconds * 1e6 / static_cast<double>(r.ops), 1) << " |\n";
        }
        o << "\n";
    }
    return o.str();
}

}  // namespace

int main(int argc, char** argv) {
    std::string results_path, dir, pg_dsn, engines_arg;
    double seconds = 3;
    int threads = 64;
    if (const char* env = std::getenv("CARNET_TEST_PG"); env != nullptr) pg_dsn = env;
    // Our options out, the rest (--benchmark_*) left for Google Benchmark.
    // Plain console output unless asked otherwise (Google Benchmark colours by $TERM alone).
    static char no_color[] = "--benchmark_color=false";
    std::vector<char*> rest = {argv[0]};
#ifdef CARNET_HAVE_GBENCH
    rest.push_back(no_color);
#else
    (void)no_color;
#endif
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) Die(a + " needs a value");
            return argv[++i];
        };
        if (a == "--results") {
            results_path = value();
        } else if (a == "--dir") {
            dir = value();
        } else if (a == "--pg") {
            pg_dsn = value();
        } else if (a == "--engines") {
            engines_arg = value();
        } else if (a == "--seconds") {
            seconds = std::stod(value());
        } else if (a == "--threads") {
            threads = std::stoi(value());
        } else if (a == "--cases") {
            std::istringstream in(value());
            for (std::string c; std::getline(in, c, ',');)
                if (!c.empty()) g_cases.push_back(c);
        } else if (a == "-h" || a == "--help") {
            std::cout
                << "access_micro --results FILE [--engines \"sqlite postgres\"] [--dir DIR] "
                   "[--pg DSN] [--seconds S] [--threads N] [--cases NAME,NAME…] [--benchmark_* "
                   "flags]\n";
            return 0;
        } else {
            rest.push_back(argv[i]);
        }
    }
    if (results_path.empty()) Die("--results FILE is required");
    if (threads < 1 || seconds <= 0) Die("--threads and --seconds must be positive");
    std::vector<std::string> engines;
    if (engines_arg.empty()) {
        engines.emplace_back("sqlite");
        if (!pg_dsn.empty()) engines.emplace_back("postgres");
    } else {
        std::istringstream in(engines_arg);
        for (std::string e; in >> e;) {
            if (e != "sqlite" && e != "postgres") Die("unknown engine " + e);
            if (e == "postgres" && pg_dsn.empty()) Die("postgres needs --pg DSN or CARNET_TEST_PG");
            engines.push_back(e);
        }
    }

    crypto::Init();
    const std::string load_before = LoadAverage();
    int rest_argc = static_cast<int>(rest.size());
    std::vector<CpuResult> cpu = RunDecisionCases(rest_argc, rest.data());

    std::vector<StoreResult> stores;
    for (const auto& engine : engines) {
        store::StoreOptions options;
        options.engine = engine;
        fs::path data = dir.empty()
                            ? fs::current_path() / ("access-micro-" + NewUuid().substr(0, 8))
                            : fs::path(dir) / engine;
        options.data_dir = data;
        options.pg_dsn = pg_dsn;
        std::error_code ec;
        fs::create_directories(data, ec);
        RunStoreCases(engine, options, threads, seconds, stores);
        fs::remove_all(data, ec);
    }

    const std::string table = Report(cpu, stores, load_before, LoadAverage(), seconds);
    std::cout << "\n" << table;
    std::ofstream file(results_path, std::ios::app);
    file << table;
    if (!file) Die("cannot write " + results_path);
    return 0;
}
