#include "importer/importer.hpp"

#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "fhir/json.hpp"

namespace carnet::importer {

namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

std::vector<fs::path> CollectFiles(const std::vector<fs::path>& paths,
                                   std::vector<FileError>& errors) {
    std::vector<fs::path> files;
    for (const auto& p : paths) {
        std::error_code ec;
        if (fs::is_directory(p, ec)) {
            std::vector<fs::path> found;
            for (auto it = fs::recursive_directory_iterator(p, ec);
                 !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
                if (it->is_regular_file() && it->path().extension() == ".json") {
                    found.push_back(it->path());
                }
            }
            std::sort(found.begin(), found.end());
            files.insert(files.end(), found.begin(), found.end());
        } else if (fs::is_regular_file(p, ec)) {
            files.push_back(p);
        } else {
            errors.push_back({p.string(), "no such file or folder"});
        }
    }
    return files;
}

// Bundles that others point at (batch/collection: organisations, practitioners) are loaded
// first. The Bundle's own "type" is read from the text before "entry" without a full parse;
// when it cannot be told, the file keeps its place and the retry pass covers it.
int LoadOrder(const std::string& text) {
    int depth = 0;
    bool in_string = false;
    const size_t limit = std::min<size_t>(text.size(), 1 << 16);
    for (size_t i = 0; i < limit; ++i) {
        char c = text[i];
        if (in_string) {
            if (c == '\\') {
                ++i;
            } else if (c == '"') {
                in_string = false;
            }
            continue;
        }
        if (c == '{' || c == '[') {
            ++depth;
        } else if (c == '}' || c == ']') {
            --depth;
        } else if (c == '"') {
            if (depth == 1 && text.compare(i, 6, "\"type\"") == 0) {
                auto colon = text.find(':', i + 6);
                auto q = text.find('"', colon);
                if (q == std::string::npos) return 1;
                if (text.compare(q, 7, "\"batch\"") == 0 ||
                    text.compare(q, 12, "\"collection\"") == 0) {
                    return 0;
                }
                return 1;
            }
            if (depth == 1 && text.compare(i, 7, "\"entry\"") == 0) return 1;
            in_string = true;
        }
    }
    return 1;
}

/// Turns what a file holds into a transaction or batch Bundle.
Result<json::object> AsBundle(json::value v) {
    if (!v.is_object()) return Error::Invalid("the file does not hold a JSON object");
    auto& obj = v.as_object();
    const auto* rt = obj.if_contains("resourceType");
    if (!rt || !rt->is_string()) return Error::Invalid("no resourceType");
    if (rt->as_string() != "Bundle") {
        // A single resource: a one-entry batch.
        std::string type(rt->as_string());
        json::object entry{{"resource", std::move(obj)},
                           {"request", json::object{{"method", "POST"}, {"url", type}}}};
        return json::object{{"resourceType", "Bundle"},
                            {"type", "batch"},
                            {"entry", json::array{std::move(entry)}}};
    }
    const auto* type = obj.if_contains("type");
    if (type && type->is_string() && type->as_string() == "collection") {
        // Collections carry no requests: each resource is stored under its own id.
        if (auto* entries = obj.if_contains("entry"); entries && entries->is_array()) {
            for (auto& e : entries->as_array()) {
                if (!e.is_object()) continue;
                auto* res = e.as_object().if_contains("resource");
                if (!res || !res->is_object()) continue;
                const auto* t = res->as_object().if_contains("resourceType");
                if (!t || !t->is_string()) continue;
                e.as_object()["request"] = json::object{{"method", "POST"}, {"url", *t}};
            }
        }
        obj["type"] = "batch";
    }
    return std::move(obj);
}

size_t CountEntries(const json::object& bundle) {
    const auto* e = bundle.if_contains("entry");
    return e && e->is_array() ? e->as_array().size() : 0;
}

bool IsUnresolvedReference(const Error& e) {
    for (const auto& i : e.issues) {
        if (i.code == "not-found" &&
            i.diagnostics.find("conditional reference") != std::string::npos) {
            return true;
        }
    }
    return false;
}

std::string Plural(int64_t n, const char* word) {
    return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

}  // namespace

ImportSummary ImportPaths(api::FhirService& service, const std::vector<fs::path>& paths,
                          const ImportOptions& options) {
    ImportSummary summary;
    auto started = std::chrono::steady_clock::now();
    std::vector<fs::path> files = CollectFiles(paths, summary.errors);
    summary.files = static_cast<int>(files.size());
    summary.files_failed = static_cast<int>(summary.errors.size());

    struct Work {
        fs::path path;
        std::string text;
        int order = 1;
    };
    // Read and order (cheap: the text is needed anyway).
    std::vector<Work> work;
    work.reserve(files.size());
    for (auto& f : files) {
        std::ifstream in(f, std::ios::binary);
        if (!in) {
            summary.errors.push_back({f.string(), "cannot read the file"});
            ++summary.files_failed;
            continue;
        }
        std::stringstream ss;
        ss << in.rdbuf();
        Work w{f, ss.str(), 1};
        w.order = LoadOrder(w.text);
        work.push_back(std::move(w));
    }
    std::stable_sort(work.begin(), work.end(),
                     [](const Work& a, const Work& b) { return a.order < b.order; });

    std::mutex mu;
    std::atomic<int64_t> done_resources{0};
    std::atomic<int> done_files{0};
    const int total_files = static_cast<int>(work.size());

    auto draw = [&](bool final_line) {
        if (!options.progress) return;
        double secs =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        int64_t res = done_resources.load();
        int files_done = done_files.load();
        const int width = 30;
        int filled = total_files ? files_done * width / total_files : width;
        std::ostringstream line;
        line << "\r[" << std::string(static_cast<size_t>(filled), '=')
             << std::string(static_cast<size_t>(width - filled), ' ') << "] " << files_done << "/"
             << total_files << " files, " << res << " resources, "
             << static_cast<int64_t>(secs > 0 ? static_cast<double>(res) / secs : 0)
             << " resources/s";
        std::lock_guard lock(mu);
        *options.progress << line.str() << (final_line ? "\n" : "") << std::flush;
    };

    // One pass over `items`; returns those to retry (unresolved conditional references).
    auto run_pass = [&](std::vector<Work*> items, bool last_pass) {
        std::vector<Work*> retry;
        std::atomic<size_t> next{0};
        auto worker = [&] {
            for (;;) {
                size_t i = next++;
                if (i >= items.size()) return;
                Work& w = *items[i];
                auto parsed = fhir::ParseJson(w.text, 128);
                Result<json::object> bundle = parsed.ok() ? AsBundle(std::move(parsed).value())
                                                          : Result<json::object>(parsed.error());
                if (!bundle.ok()) {
                    std::lock_guard lock(mu);
                    summary.errors.push_back({w.path.string(), bundle.error().Summary()});
                    ++summary.files_failed;
                    ++done_files;
                    continue;
                }
                const size_t entries = CountEntries(*bundle);
                api::BundleStats stats;
                api::BundleOptions bo;
                bo.keep_client_ids = true;
                bo.feed = options.feed;
                auto result =
                    service.ProcessBundle(std::move(bundle).value(), options.base_url, bo, &stats);
                if (!result.ok() && !last_pass && IsUnresolvedReference(result.error())) {
                    std::lock_guard lock(mu);
                    retry.push_back(&w);
                    continue;
                }
                {
                    std::lock_guard lock(mu);
                    if (!result.ok()) {
                        const auto& e = result.error();
                        std::string reason = e.Summary();
                        if (!e.issues.empty() && !e.issues.front().expression.empty()) {
                            reason += " (at " + e.issues.front().expression + ")";
                        }
                        summary.errors.push_back({w.path.string(), reason});
                        ++summary.files_failed;
                    } else {
                        summary.resources += static_cast<int64_t>(entries);
                        summary.created += stats.created;
                        summary.updated += stats.updated;
                        summary.unchanged += stats.unchanged;
                        summary.entries_failed += stats.failed;
                        if (stats.failed > 0) {
                            summary.errors.push_back(
                                {w.path.string(), Plural(stats.failed, "entry") +
                                                      " refused (see the batch response)"});
                        }
                        done_resources += static_cast<int64_t>(entries);
                    }
                    w.text.clear();
                    w.text.shrink_to_fit();
                }
                ++done_files;
                draw(false);
            }
        };
        std::vector<std::thread> threads;
        for (int t = 1; t < std::max(1, options.threads); ++t) threads.emplace_back(worker);
        worker();
        for (auto& th : threads) th.join();
        return retry;
    };

    std::vector<Work*> pending;
    for (auto& w : work) pending.push_back(&w);
    // Retry while each pass makes progress; the last pass reports what is still missing.
    for (int pass = 0; !pending.empty(); ++pass) {
        size_t before = pending.size();
        pending = run_pass(pending, false);
        if (pending.size() == before) {
            pending = run_pass(pending, true);
            break;
        }
    }
    draw(true);
    summary.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    return summary;
}

std::string FormatSummary(const ImportSummary& s) {
    std::ostringstream out;
    out << "Imported " << Plural(s.files - s.files_failed, "file") << " of " << s.files << ": "
        << s.resources << " resources (" << s.created << " created, " << s.updated << " updated, "
        << s.unchanged << " unchanged, " << s.entries_failed << " refused) in " << s.seconds
        << " s";
    if (s.seconds > 0)
        out << " — " << static_cast<int64_t>(static_cast<double>(s.resources) / s.seconds)
            << " resources/s";
    out << "\n";
    if (!s.errors.empty()) {
        out << Plural(static_cast<int64_t>(s.errors.size()), "error") << ":\n";
        for (const auto& e : s.errors) out << "  " << e.file << ": " << e.reason << "\n";
    }
    return out.str();
}

}  // namespace carnet::importer
