// The production decision against the reference model (reference_model.hpp) on at least a
// million random inputs per run (issue 4, "Tests that must exist"). Environment:
//   CARNET_DIFF_SEED     the seed (default: a random one); always printed, to replay a run
//   CARNET_DIFF_TUPLES   how many inputs (default 1,000,000)
//   CARNET_DIFF_RESULTS  a file that receives the summary line
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>

#include "access/decision.hpp"
#include "access/grid.hpp"
#include "access/reference_model.hpp"

namespace carnet::access {
namespace {

constexpr int64_t kNow = 1'750'000'000'000'000;  // µs, June 2025
constexpr int64_t kHour = 3'600'000'000;

// Every profession of the directory, the never-content ones, and codes no grid knows.
const std::array<std::string, 19> kProfessions = {"medecin",
                                                  "pharmacien",
                                                  "infirmier",
                                                  "sage-femme",
                                                  "chirurgien-dentiste",
                                                  "masseur-kinesitherapeute",
                                                  "pedicure-podologue",
                                                  "orthophoniste",
                                                  "orthoptiste",
                                                  "social",
                                                  "assureur",
                                                  "employeur",
                                                  "medecin-travail",
                                                  "",
                                                  "veterinaire",
                                                  "MEDECIN",
                                                  "medecin ",
                                                  "Assureur",
                                                  "medecin-travail-x"};
const std::array<std::string, 10> kStatuses = {"active",    "pending", "none", "opposed",
                                               "closed",    "deleted", "",     "Active",
                                               "suspended", "closed "};
// Account ids: the actor's and the document author's are drawn from the same small pool so
// that "the author" happens often; "" is an unknown author.
const std::array<std::string, 3> kAccounts = {"", "acct-a", "acct-b"};

/// Random inputs. Debug builds are slow with the standard distributions, so the draw takes
/// bits from a pool filled by the engine: a few engine calls per input.
class Draw {
  public:
    explicit Draw(uint64_t seed) : rng_(seed) {}

    /// `bits` random bits (at most 32).
    uint64_t Bits(int bits) {
        if (left_ < bits) {
            pool_ = rng_();
            left_ = 64;
        }
        const uint64_t v = pool_ & ((uint64_t{1} << bits) - 1);
        pool_ >>= bits;
        left_ -= bits;
        return v;
    }
    /// True with probability `percent` / 100 (to within 1/1024).
    bool Flag(int percent) { return Bits(10) * 100 < static_cast<uint64_t>(percent) * 1024; }
    /// One of `n` (n ≤ 64; the modulo bias of 16 bits is negligible).
    size_t Below(size_t n) { return static_cast<size_t>(Bits(16) % n); }
    template <typename T>
    const T& Pick(const T* items, size_t n) {
        return items[Below(n)];
    }
    template <typename E>
    E Enum(int count) {
        return static_cast<E>(Below(static_cast<size_t>(count)));
    }
    /// A time around now: exactly now, just before or after, far away, or never set.
    int64_t Around() {
        switch (Below(8)) {
            case 0:
                return 0;
            case 1:
                return kNow;
            case 2:
                return kNow - 1;
            case 3:
                return kNow + 1;
            case 4:
                return kNow + 24 * kHour;
            case 5:
                return kNow - 24 * kHour;
            default:
                return kNow - 48 * kHour + static_cast<int64_t>(rng_() % (96 * kHour));
        }
    }

    DecisionInput Input() {
        DecisionInput in;
        Fill(in);
        return in;
    }

    /// Draws every field of `in` (reusing its strings' storage).
    void Fill(DecisionInput& in) {
        in.now_us = Flag(90) ? kNow : Around();
        Actor& a = in.actor;
        a.kind = Flag(45)   ? ActorKind::kProfessional
                 : Flag(70) ? ActorKind::kPatient
                            : Enum<ActorKind>(5);
        a.account_id = Pick(kAccounts.data(), kAccounts.size());
        a.profession = Pick(kProfessions.data(), kProfessions.size());
        a.samu_regulator = Flag(50);
        a.fresh_auth = Flag(50);

        PatientSettings& p = in.patient;
        p.status = Flag(50) ? kStatuses[0] : Pick(kStatuses.data(), kStatuses.size());
        p.etreat_enabled = Flag(70);
        p.btg_enabled = Flag(70);
        p.emergency_includes_masked = Flag(40);
        p.emergency_only = Flag(30);
        p.minor = Flag(30);

        Relationship& r = in.rel;
        r.self = Flag(30);
        r.representative = Flag(30);
        r.caregiver = Flag(30);
        r.authorised = Flag(40);
        r.via_code = Flag(40);
        r.blocked = Flag(15);
        r.medecin_traitant = Flag(20);
        r.sage_femme_referente = Flag(15);
        r.pharmacien_correspondant = Flag(15);
        r.administrator = Flag(15);
        r.emergency_until_us = Flag(40) ? Around() : 0;
        r.emergency_kind = Enum<Purpose>(3);

        Target& t = in.target;
        t.resource_type = Flag(50) ? "DocumentReference" : "Observation";
        t.patient_id = Flag(10) ? "" : "patient-1";
        t.category = Enum<Category>(kGridColumns + 1);
        t.sensitive = Flag(40);
        t.author_account = Pick(kAccounts.data(), kAccounts.size());
        t.masked = Flag(35);
        t.hidden_from_patient_until_us = Flag(35) ? Around() : 0;
        t.hidden_from_representatives = Flag(30);
        t.reason_given = Flag(60);

        in.action = Enum<Action>(11);
        in.purpose = Enum<Purpose>(3);
    }

  private:
    std::mt19937_64 rng_;
    uint64_t pool_ = 0;
    int left_ = 0;
};

std::string_view KindName(ActorKind k) {
    switch (k) {
        case ActorKind::kPatient:
            return "patient";
        case ActorKind::kProfessional:
            return "professional";
        case ActorKind::kAdvisor:
            return "advisor";
        case ActorKind::kAdmin:
            return "admin";
        case ActorKind::kSystem:
            return "system";
    }
    return "?";
}
std::string_view PurposeName(Purpose p) {
    switch (p) {
        case Purpose::kTreatment:
            return "TREAT";
        case Purpose::kEtreat:
            return "ETREAT";
        case Purpose::kBtg:
            return "BTG";
    }
    return "?";
}
std::string_view NoticeName(Notice n) {
    switch (n) {
        case Notice::kNone:
            return "none";
        case Notice::kCoalesced:
            return "coalesced";
        case Notice::kImmediate:
            return "immediate";
    }
    return "?";
}
std::string Rel(int64_t t) {
    if (t == 0) return "0";
    const int64_t d = t - kNow;
    return "now" + std::string(d >= 0 ? "+" : "") + std::to_string(d) + "us";
}

std::string Describe(const DecisionInput& in) {
    std::ostringstream o;
    const Actor& a = in.actor;
    const PatientSettings& p = in.patient;
    const Relationship& r = in.rel;
    const Target& t = in.target;
    o << "actor{kind=" << KindName(a.kind) << " account='" << a.account_id << "' profession='"
      << a.profession << "' regulator=" << a.samu_regulator << " fresh_auth=" << a.fresh_auth
      << "} patient{status='" << p.status << "' etreat=" << p.etreat_enabled
      << " btg=" << p.btg_enabled << " emergency_masked=" << p.emergency_includes_masked
      << " emergency_only=" << p.emergency_only << " minor=" << p.minor << "} rel{self=" << r.self
      << " representative=" << r.representative << " caregiver=" << r.caregiver
      << " authorised=" << r.authorised << " via_code=" << r.via_code << " blocked=" << r.blocked
      << " mt=" << r.medecin_traitant << " sfr=" << r.sage_femme_referente
      << " pc=" << r.pharmacien_correspondant << " administrator=" << r.administrator
      << " grant=" << PurposeName(r.emergency_kind) << " until " << Rel(r.emergency_until_us)
      << "} target{patient='" << t.patient_id << "' category=" << CategoryCode(t.category)
      << " sensitive=" << t.sensitive << " author='" << t.author_account << "' masked=" << t.masked
      << " hidden_until=" << Rel(t.hidden_from_patient_until_us)
      << " hidden_repr=" << t.hidden_from_representatives << " reason=" << t.reason_given
      << "} action=" << ActionName(in.action) << " purpose=" << PurposeName(in.purpose)
      << " now=" << Rel(in.now_us);
    return o.str();
}

std::string Describe(const Decision& d) {
    std::ostringstream o;
    o << (d.allow ? "allow" : "deny") << " basis=" << BasisName(d.basis)
      << " reason=" << ReasonName(d.reason) << " notice=" << NoticeName(d.notice)
      << " emergency=" << d.emergency << " audit=" << d.audit;
    return o.str();
}

bool Same(const Decision& x, const Decision& y) {
    return x.allow == y.allow && x.basis == y.basis && x.reason == y.reason &&
           x.notice == y.notice && x.emergency == y.emergency && x.audit == y.audit;
}

uint64_t EnvNumber(const char* name, uint64_t fallback) {
    const char* v = std::getenv(name);
    if (v == nullptr || *v == '\0') return fallback;
    return std::strtoull(v, nullptr, 10);
}

TEST(AccessDifferential, DecideAgreesWithTheReferenceModel) {
    const uint64_t seed = EnvNumber(
        "CARNET_DIFF_SEED", std::random_device{}() * 0x100000001ULL ^ std::random_device{}());
    const uint64_t tuples = EnvNumber("CARNET_DIFF_TUPLES", 1'000'000);
    std::printf("differential: seed %llu (replay with CARNET_DIFF_SEED=%llu)\n",
                static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed));
    std::fflush(stdout);

    const Grid& grid = Grid::Default();
    Draw draw(seed);
    uint64_t disagreements = 0;
    uint64_t allowed = 0;
    std::array<uint64_t, 17> reasons{};  // every Reason should come up
    const auto start = std::chrono::steady_clock::now();
    DecisionInput in;
    for (uint64_t i = 0; i < tuples; ++i) {
        draw.Fill(in);
        const Decision got = Decide(grid, in);
        const reference::Verdict want = reference::Evaluate(in);
        allowed += got.allow ? 1 : 0;
        ++reasons[static_cast<size_t>(want.decision.reason)];
        if (!Same(got, want.decision)) {
            if (++disagreements <= 5) {
                ADD_FAILURE() << "disagreement on tuple " << i << "\n  input:     " << Describe(in)
                              << "\n  Decide:    " << Describe(got)
                              << "\n  reference: " << Describe(want.decision) << " (rule '"
                              << want.rule << "')";
            }
        }
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    char line[160];
    std::snprintf(line, sizeof line, "differential: %llu tuples, %llu disagreements, seed %llu",
                  static_cast<unsigned long long>(tuples),
                  static_cast<unsigned long long>(disagreements),
                  static_cast<unsigned long long>(seed));
    std::printf("%s\n", line);
    std::printf("differential: %.2f s, %llu allowed\n", seconds,
                static_cast<unsigned long long>(allowed));
    if (const char* path = std::getenv("CARNET_DIFF_RESULTS"); path != nullptr && *path != '\0') {
        std::ofstream out(path);
        out << line << "\n";
        EXPECT_TRUE(out.good()) << "could not write " << path;
    }
    EXPECT_EQ(disagreements, 0U);
    // The draw reaches every rule's outcome (a generator that never reaches a branch would
    // agree with anything there).
    if (tuples >= 100'000) {
        for (size_t r = 0; r < reasons.size(); ++r) {
            EXPECT_GT(reasons[r], 0U)
                << "no tuple ended with reason " << ReasonName(static_cast<Reason>(r));
        }
    }
}

// Every rule of the reference model is reached by the draw, so none of its branches is left
// unchecked.
TEST(AccessDifferential, TheDrawReachesEveryReferenceRule) {
    Draw draw(20260401);
    std::map<std::string_view, uint64_t> hits;
    for (int i = 0; i < 300'000; ++i) ++hits[reference::Evaluate(draw.Input()).rule];
    for (const auto& rule : reference::kRules) {
        if (rule.name == "an actor kind with no access") continue;  // no such kind exists
        EXPECT_GT(hits[rule.name], 0U) << "rule never reached: " << rule.name;
    }
}

}  // namespace
}  // namespace carnet::access
