// The access rules as a table of cases (issue 4, "Tests that must exist"): actor × patient
// state × relationship × target × action → expected decision, one array, one test. The grid
// rows come from a literal copy of the issue's table written here, so a wrong cell in
// default_grid.json fails. Then the grid file and the document classification.
#include <gtest/gtest.h>

#include <array>
#include <boost/json.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "access/classify.hpp"
#include "access/decision.hpp"
#include "access/grid.hpp"

namespace carnet::access {
namespace {

constexpr int64_t kNow = 1'750'000'000'000'000;  // µs, June 2025
constexpr int64_t kHour = 3'600'000'000;
constexpr int64_t kDay = 24 * kHour;

// ---------------------------------------------------------------------------------------------
// A small builder for the inputs: each case reads as "who, the record, the relation, the
// target, the action".

class In {
  public:
    In() {
        d_.now_us = kNow;
        d_.target.patient_id = "patient-1";
        d_.target.resource_type = "DocumentReference";
        d_.target.category = Category::kC10;
    }

    // Actors.
    static In Holder() { return Person("holder").Self(); }
    static In Representative() { return Person("parent").Rep().Minor(); }
    static In Caregiver() { return Person("carer").Carer(); }
    static In Stranger() { return Person("someone"); }
    static In Pro(const std::string& profession, const std::string& account = "pro-1") {
        In i;
        i.d_.actor.kind = ActorKind::kProfessional;
        i.d_.actor.account_id = account;
        i.d_.actor.profession = profession;
        return i;
    }
    static In Staff(ActorKind kind) {
        In i;
        i.d_.actor.kind = kind;
        i.d_.actor.account_id = "staff-1";
        return i;
    }

    // The record's state and the holder's switches.
    In& Status(const std::string& s) {
        return Set([&](DecisionInput& d) { d.patient.status = s; });
    }
    In& EtreatOff() {
        return Set([](DecisionInput& d) { d.patient.etreat_enabled = false; });
    }
    In& BtgOff() {
        return Set([](DecisionInput& d) { d.patient.btg_enabled = false; });
    }
    In& EmergencyMasked() {
        return Set([](DecisionInput& d) { d.patient.emergency_includes_masked = true; });
    }
    In& EmergencyOnly() {
        return Set([](DecisionInput& d) { d.patient.emergency_only = true; });
    }
    In& Minor() {
        return Set([](DecisionInput& d) { d.patient.minor = true; });
    }

    // What the actor is to the record.
    In& Self() {
        return Set([](DecisionInput& d) { d.rel.self = true; });
    }
    In& Rep() {
        return Set([](DecisionInput& d) { d.rel.representative = true; });
    }
    In& Carer() {
        return Set([](DecisionInput& d) { d.rel.caregiver = true; });
    }
    In& Authorised() {
        return Set([](DecisionInput& d) { d.rel.authorised = true; });
    }
    In& ByCode() {
        return Set([](DecisionInput& d) { d.rel.authorised = d.rel.via_code = true; });
    }
    In& Blocked() {
        return Set([](DecisionInput& d) { d.rel.blocked = true; });
    }
    In& Mt() {
        return Set([](DecisionInput& d) { d.rel.medecin_traitant = true; });
    }
    In& SageFemmeReferente() {
        return Set([](DecisionInput& d) { d.rel.sage_femme_referente = true; });
    }
    In& PharmacienCorrespondant() {
        return Set([](DecisionInput& d) { d.rel.pharmacien_correspondant = true; });
    }
    In& Administrator() {
        return Set([](DecisionInput& d) { d.rel.administrator = true; });
    }
    In& Grant(Purpose kind, int64_t until = kNow + kDay) {
        return Set([&](DecisionInput& d) {
            d.rel.emergency_kind = kind;
            d.rel.emergency_until_us = until;
        });
    }
    /// Every relation, role and emergency access at once.
    In& Everything() {
        Self().Rep().Carer().ByCode().Mt().SageFemmeReferente().PharmacienCorrespondant();
        Administrator().Grant(Purpose::kBtg).Regulator().Fresh().WithReason().EmergencyMasked();
        return *this;
    }

    // The target.
    In& Doc(Category c, bool sensitive = false) {
        return Set([&](DecisionInput& d) {
            d.target.category = c;
            d.target.sensitive = sensitive;
        });
    }
    In& Sensitive() {
        return Set([](DecisionInput& d) { d.target.sensitive = true; });
    }
    In& RecordItself() {
        return Set([](DecisionInput& d) {
            d.target.resource_type = "Patient";
            d.target.category = Category::kRecord;
        });
    }
    In& NotPatientData() {
        return Set([](DecisionInput& d) {
            d.target.resource_type = "Organization";
            d.target.patient_id.clear();
            d.target.category = Category::kRecord;
        });
    }
    In& By(const std::string& author) {
        return Set([&](DecisionInput& d) { d.target.author_account = author; });
    }
    /// A message thread whose professional is `professional`.
    In& Thread(const std::string& professional) {
        return Set([&](DecisionInput& d) {
            d.target.resource_type = "Communication";
            d.target.category = Category::kRecord;
            d.target.author_account = professional;
        });
    }
    In& Masked() {
        return Set([](DecisionInput& d) { d.target.masked = true; });
    }
    In& HiddenUntil(int64_t t) {
        return Set([&](DecisionInput& d) { d.target.hidden_from_patient_until_us = t; });
    }
    In& HiddenFromRepresentatives() {
        return Set([](DecisionInput& d) { d.target.hidden_from_representatives = true; });
    }
    In& WithReason() {
        return Set([](DecisionInput& d) { d.target.reason_given = true; });
    }

    // The action.
    In& Do(Action a) {
        return Set([&](DecisionInput& d) { d.action = a; });
    }
    In& Open(Purpose p) {
        return Set([&](DecisionInput& d) {
            d.action = Action::kOpenEmergency;
            d.purpose = p;
        });
    }
    In& Fresh() {
        return Set([](DecisionInput& d) { d.actor.fresh_auth = true; });
    }
    In& Regulator() {
        return Set([](DecisionInput& d) { d.actor.samu_regulator = true; });
    }
    /// Anything the named setters do not cover.
    In& Set(const std::function<void(DecisionInput&)>& change) {
        change(d_);
        return *this;
    }

    operator DecisionInput() const { return d_; }  // NOLINT: implicit on purpose

  private:
    static In Person(const std::string& account) {
        In i;
        i.d_.actor.kind = ActorKind::kPatient;
        i.d_.actor.account_id = account;
        return i;
    }
    DecisionInput d_;
};

struct Expect {
    bool allow = false;
    Basis basis = Basis::kNone;
    Reason reason = Reason::kNoBasis;
    Notice notice = Notice::kNone;
};

/// Allowed, nobody told (the holder's side, the server, own log entries, codes).
Expect Allows(Basis b) { return {true, b, Reason::kAllowed, Notice::kNone}; }
/// A professional's access to content: told once a day, at once for an emergency access.
Expect Care(Basis b) {
    const bool emergency = b == Basis::kEtreat || b == Basis::kBtg;
    return {true, b, Reason::kAllowed, emergency ? Notice::kImmediate : Notice::kCoalesced};
}
Expect Refuses(Reason r, Basis b = Basis::kNone) { return {false, b, r, Notice::kNone}; }

struct Case {
    std::string name;
    DecisionInput in;
    Expect want;
};

// ---------------------------------------------------------------------------------------------
// The issue's grid, literally:
// | profession | 10 | 11 | 31 | 42 | 43 | 44 | 45 | 52 | 60 | 90 | 95 |

constexpr char Y = 'Y';
constexpr char N = 'N';
constexpr char P = 'P';

constexpr std::array<Category, 11> kIssueColumns = {
    Category::kC10, Category::kC11, Category::kC31, Category::kC42, Category::kC43, Category::kC44,
    Category::kC45, Category::kC52, Category::kC60, Category::kC90, Category::kC95};

struct IssueRow {
    std::vector<std::string> professions;
    std::array<char, 11> cells;
};

// clang-format off
const std::vector<IssueRow> kIssueGrid = {
    //                                                                10 11 31 42 43 44 45 52 60 90 95
    {{"medecin"},                                                    {Y, Y, Y, Y, Y, Y, Y, Y, Y, Y, Y}},
    {{"pharmacien", "infirmier", "sage-femme"},                      {Y, Y, Y, Y, Y, Y, Y, Y, N, Y, N}},
    {{"chirurgien-dentiste"},                                        {P, P, Y, Y, Y, P, Y, Y, N, Y, N}},
    {{"masseur-kinesitherapeute", "pedicure-podologue", "orthophoniste", "orthoptiste"},
                                                                     {P, P, Y, Y, N, Y, N, Y, N, Y, N}},
    {{"social"},                                                     {N, P, N, N, N, Y, N, N, N, P, Y}},
};

// The profile columns are not in the issue: Carnet's choice, as shipped.
constexpr std::array<Category, 5> kProfileColumns = {
    Category::kConditions, Category::kAllergies, Category::kTreatments, Category::kImmunizations,
    Category::kMeasurements};
const std::vector<std::pair<std::string, std::array<char, 5>>> kProfileGrid = {
    //                            cond allg trt  imm  meas
    {"medecin",                  {Y,   Y,   Y,   Y,   Y}},
    {"pharmacien",               {Y,   Y,   Y,   Y,   Y}},
    {"infirmier",                {Y,   Y,   Y,   Y,   Y}},
    {"sage-femme",               {Y,   Y,   Y,   Y,   Y}},
    {"chirurgien-dentiste",      {Y,   Y,   Y,   N,   Y}},
    {"masseur-kinesitherapeute", {Y,   Y,   Y,   N,   Y}},
    {"pedicure-podologue",       {Y,   Y,   Y,   N,   Y}},
    {"orthophoniste",            {Y,   Y,   Y,   N,   Y}},
    {"orthoptiste",              {Y,   Y,   Y,   N,   Y}},
    {"social",                   {N,   N,   N,   N,   N}},
};
// clang-format on

Expect FromCell(char cell, bool sensitive) {
    if (cell == Y || (cell == P && !sensitive)) return Care(Basis::kAuthorised);
    return Refuses(Reason::kGrid, Basis::kAuthorised);
}

void AddGridRows(std::vector<Case>& cases) {
    for (const auto& row : kIssueGrid) {
        for (const auto& profession : row.professions) {
            for (size_t col = 0; col < kIssueColumns.size(); ++col) {
                const Category c = kIssueColumns[col];
                for (bool sensitive : {false, true}) {
                    cases.push_back({"grid " + profession + " × " + std::string(CategoryCode(c)) +
                                         (sensitive ? " sensitive" : "") + " (" + row.cells[col] +
                                         ")",
                                     In::Pro(profession).Authorised().Doc(c, sensitive),
                                     FromCell(row.cells[col], sensitive)});
                }
            }
            // The record itself: any basis sees it, no cell applies.
            cases.push_back({"grid " + profession + " × record",
                             In::Pro(profession).Authorised().RecordItself(),
                             Care(Basis::kAuthorised)});
        }
    }
    for (const auto& [profession, cells] : kProfileGrid) {
        for (size_t col = 0; col < kProfileColumns.size(); ++col) {
            const Category c = kProfileColumns[col];
            cases.push_back({"grid " + profession + " × " + std::string(CategoryCode(c)) + " (" +
                                 cells[col] + ")",
                             In::Pro(profession).Authorised().Doc(c), FromCell(cells[col], false)});
        }
    }
    // A profession the grid does not know reads nothing but the record itself.
    for (int col = 0; col < kGridColumns; ++col) {
        const auto c = static_cast<Category>(col);
        cases.push_back({"grid unknown profession × " + std::string(CategoryCode(c)),
                         In::Pro("veterinaire").Authorised().Doc(c), FromCell(N, false)});
    }
}

// ---------------------------------------------------------------------------------------------
// The cases.

using A = Action;
using B = Basis;
using R = Reason;
using Pu = Purpose;

const std::vector<Case>& Cases() {
    static const std::vector<Case> cases = [] {
        std::vector<Case> v = {
            // --- A basis for professionals (DESIGN step 5) ---
            {"unrelated professional: no basis", In::Pro("medecin"), Refuses(R::kNoBasis)},
            {"unrelated professional, record itself: no basis", In::Pro("medecin").RecordItself(),
             Refuses(R::kNoBasis)},
            {"authorised médecin reads a report", In::Pro("medecin").Authorised(),
             Care(B::kAuthorised)},
            {"médecin authorised by a code reads", In::Pro("medecin").ByCode(), Care(B::kCode)},
            {"via_code alone is no authorisation",
             In::Pro("medecin").Set([](DecisionInput& d) { d.rel.via_code = true; }),
             Refuses(R::kNoBasis)},
            {"médecin traitant reads", In::Pro("medecin").Mt(), Care(B::kMedecinTraitant)},
            {"sage-femme référente reads", In::Pro("sage-femme").SageFemmeReferente(),
             Care(B::kDesignated)},
            {"pharmacien correspondant reads", In::Pro("pharmacien").PharmacienCorrespondant(),
             Care(B::kDesignated)},
            {"administrator reads", In::Pro("medecin").Administrator(), Care(B::kDesignated)},
            {"médecin traitant also authorised: the role is the basis",
             In::Pro("medecin").Authorised().Mt(), Care(B::kMedecinTraitant)},
            {"authorised with a BTG grant: the ordinary basis counts",
             In::Pro("medecin").Authorised().Grant(Pu::kBtg), Care(B::kAuthorised)},
            {"authorised kiné opens the record itself",
             In::Pro("masseur-kinesitherapeute").Authorised().RecordItself(), Care(B::kAuthorised)},
            {"unknown profession opens the record itself",
             In::Pro("veterinaire").Authorised().RecordItself(), Care(B::kAuthorised)},
            {"record not activated yet (pending)", In::Pro("medecin").Mt().Status("pending"),
             Care(B::kMedecinTraitant)},
            {"record without an account (imported)", In::Pro("medecin").Mt().Status("none"),
             Care(B::kMedecinTraitant)},

            // --- Emergency access in force, and the switches ---
            {"BTG grant in force: reads", In::Pro("infirmier").Grant(Pu::kBtg), Care(B::kBtg)},
            {"ETREAT grant in force: reads", In::Pro("medecin").Grant(Pu::kEtreat),
             Care(B::kEtreat)},
            {"BTG grant, BTG switched off afterwards",
             In::Pro("infirmier").Grant(Pu::kBtg).BtgOff(), Refuses(R::kNoBasis)},
            {"ETREAT grant, ETREAT switched off afterwards",
             In::Pro("medecin").Grant(Pu::kEtreat).EtreatOff(), Refuses(R::kNoBasis)},
            {"BTG grant, only ETREAT switched off",
             In::Pro("infirmier").Grant(Pu::kBtg).EtreatOff(), Care(B::kBtg)},
            {"ETREAT grant, only BTG switched off", In::Pro("medecin").Grant(Pu::kEtreat).BtgOff(),
             Care(B::kEtreat)},
            {"BTG grant expired a microsecond ago", In::Pro("infirmier").Grant(Pu::kBtg, kNow - 1),
             Refuses(R::kNoBasis)},
            {"BTG grant expired yesterday", In::Pro("infirmier").Grant(Pu::kBtg, kNow - kDay),
             Refuses(R::kNoBasis)},
            {"BTG grant ending exactly now", In::Pro("infirmier").Grant(Pu::kBtg, kNow),
             Refuses(R::kNoBasis)},
            {"BTG grant ending in a microsecond", In::Pro("infirmier").Grant(Pu::kBtg, kNow + 1),
             Care(B::kBtg)},
            {"a grant of an ordinary purpose is nothing", In::Pro("medecin").Grant(Pu::kTreatment),
             Refuses(R::kNoBasis)},
            {"BTG grant: messages the holder", In::Pro("infirmier").Grant(Pu::kBtg).Do(A::kMessage),
             Care(B::kBtg)},
            // --- Message threads: one professional each ---
            {"médecin traitant writes in own thread",
             In::Pro("medecin").Mt().Thread("pro-1").Do(A::kMessage), Care(B::kMedecinTraitant)},
            {"médecin traitant reads own thread", In::Pro("medecin").Mt().Thread("pro-1"),
             Care(B::kMedecinTraitant)},
            {"médecin traitant reads another professional's thread",
             In::Pro("medecin").Mt().Thread("pro-2"), Refuses(R::kNotAuthor, B::kMedecinTraitant)},
            {"authorised writes in another professional's thread",
             In::Pro("infirmier").Authorised().Thread("pro-2").Do(A::kMessage),
             Refuses(R::kNotAuthor, B::kAuthorised)},
            {"BTG grant reads another professional's thread",
             In::Pro("medecin").Grant(Pu::kBtg).Thread("pro-2"), Refuses(R::kNotAuthor, B::kBtg)},
            {"own thread, no basis any more", In::Pro("medecin").Thread("pro-1"),
             Refuses(R::kNoBasis)},
            {"own thread, blocked since", In::Pro("medecin").Mt().Blocked().Thread("pro-1"),
             Refuses(R::kBlocked)},
            {"own thread, the record closed",
             In::Pro("medecin").Mt().Thread("pro-1").Status("closed").Do(A::kMessage),
             Refuses(R::kRecordInactive)},
            {"holder reads any thread of the record", In::Holder().Thread("pro-2"),
             Allows(B::kSelf)},
            {"caregiver replies in a thread", In::Caregiver().Thread("pro-2").Do(A::kMessage),
             Allows(B::kCaregiver)},
            {"a stranger reads a thread", In::Stranger().Thread("pro-2"), Refuses(R::kNoBasis)},
            {"BTG grant: writes a report", In::Pro("medecin").Grant(Pu::kBtg).Do(A::kCreate),
             Care(B::kBtg)},
            {"BTG grant: the grid still applies (kiné × 43)",
             In::Pro("masseur-kinesitherapeute").Grant(Pu::kBtg).Doc(Category::kC43),
             Refuses(R::kGrid, B::kBtg)},

            // --- Opening an emergency access ---
            {"open BTG with a reason and a fresh authentication",
             In::Pro("infirmier").Open(Pu::kBtg).WithReason().Fresh(), Care(B::kBtg)},
            {"open BTG, the holder switched BTG off",
             In::Pro("infirmier").Open(Pu::kBtg).WithReason().Fresh().BtgOff(),
             Refuses(R::kEmergencyDisabled)},
            {"open BTG without a reason", In::Pro("infirmier").Open(Pu::kBtg).Fresh(),
             Refuses(R::kNeedsReason)},
            {"open BTG without a fresh authentication",
             In::Pro("infirmier").Open(Pu::kBtg).WithReason(), Refuses(R::kNeedsFreshAuth)},
            {"open BTG with neither reason nor fresh authentication",
             In::Pro("infirmier").Open(Pu::kBtg), Refuses(R::kNeedsReason)},
            {"open BTG, only ETREAT switched off",
             In::Pro("infirmier").Open(Pu::kBtg).WithReason().Fresh().EtreatOff(), Care(B::kBtg)},
            {"open BTG by a médecin traitant",
             In::Pro("medecin").Mt().Open(Pu::kBtg).WithReason().Fresh(), Care(B::kBtg)},
            {"open ETREAT as a SAMU regulator", In::Pro("medecin").Regulator().Open(Pu::kEtreat),
             Care(B::kEtreat)},
            {"open ETREAT by a non-regulator",
             In::Pro("medecin").Open(Pu::kEtreat).WithReason().Fresh(), Refuses(R::kNotRegulator)},
            {"open ETREAT, the holder switched ETREAT off",
             In::Pro("medecin").Regulator().Open(Pu::kEtreat).EtreatOff(),
             Refuses(R::kEmergencyDisabled)},
            {"open ETREAT, only BTG switched off",
             In::Pro("medecin").Regulator().Open(Pu::kEtreat).BtgOff(), Care(B::kEtreat)},
            {"open an emergency for ordinary treatment",
             In::Pro("medecin").Regulator().Open(Pu::kTreatment).WithReason().Fresh(),
             Refuses(R::kNotPermitted)},
            {"open BTG in emergency-only mode",
             In::Pro("infirmier").Open(Pu::kBtg).WithReason().Fresh().EmergencyOnly(),
             Care(B::kBtg)},

            // --- Emergency-only mode: only an emergency access counts ---
            {"emergency only: authorised professional",
             In::Pro("medecin").Authorised().EmergencyOnly(), Refuses(R::kEmergencyOnly)},
            {"emergency only: médecin traitant", In::Pro("medecin").Mt().EmergencyOnly(),
             Refuses(R::kEmergencyOnly)},
            {"emergency only: authorised by a code", In::Pro("medecin").ByCode().EmergencyOnly(),
             Refuses(R::kEmergencyOnly)},
            {"emergency only: administrator", In::Pro("medecin").Administrator().EmergencyOnly(),
             Refuses(R::kEmergencyOnly)},
            {"emergency only: unrelated professional", In::Pro("medecin").EmergencyOnly(),
             Refuses(R::kEmergencyOnly)},
            {"emergency only: médecin traitant messages",
             In::Pro("medecin").Mt().EmergencyOnly().Do(A::kMessage), Refuses(R::kEmergencyOnly)},
            {"emergency only: authorised writes",
             In::Pro("medecin").Authorised().EmergencyOnly().Do(A::kCreate),
             Refuses(R::kEmergencyOnly)},
            {"emergency only: redeeming a code",
             In::Pro("medecin").EmergencyOnly().Do(A::kRedeemCode), Refuses(R::kEmergencyOnly)},
            {"emergency only: médecin traitant with a BTG grant",
             In::Pro("medecin").Mt().EmergencyOnly().Grant(Pu::kBtg), Care(B::kBtg)},
            {"emergency only: authorised with an ETREAT grant",
             In::Pro("medecin").Authorised().EmergencyOnly().Grant(Pu::kEtreat), Care(B::kEtreat)},
            {"emergency only: a grant whose mode was switched off",
             In::Pro("medecin").Authorised().EmergencyOnly().Grant(Pu::kBtg).BtgOff(),
             Refuses(R::kEmergencyOnly)},
            {"emergency only: an expired grant",
             In::Pro("medecin").Mt().EmergencyOnly().Grant(Pu::kEtreat, kNow - 1),
             Refuses(R::kEmergencyOnly)},
            {"emergency only: the holder still reads", In::Holder().EmergencyOnly(),
             Allows(B::kSelf)},
            {"emergency only: a professional's own log entries",
             In::Pro("medecin").EmergencyOnly().Do(A::kReadAudit), Allows(B::kAuthor)},

            // --- Masked documents (DESIGN step 7) ---
            {"masked: authorised professional", In::Pro("medecin").Authorised().Masked(),
             Refuses(R::kMasked, B::kAuthorised)},
            {"masked: professional authorised by a code", In::Pro("medecin").ByCode().Masked(),
             Refuses(R::kMasked, B::kCode)},
            {"masked: sage-femme référente", In::Pro("sage-femme").SageFemmeReferente().Masked(),
             Refuses(R::kMasked, B::kDesignated)},
            {"masked: pharmacien correspondant",
             In::Pro("pharmacien").PharmacienCorrespondant().Masked(),
             Refuses(R::kMasked, B::kDesignated)},
            {"masked: its author", In::Pro("medecin").Authorised().Masked().By("pro-1"),
             Care(B::kAuthorised)},
            {"masked: another professional's document",
             In::Pro("medecin").Authorised().Masked().By("pro-2"),
             Refuses(R::kMasked, B::kAuthorised)},
            {"masked: the médecin traitant", In::Pro("medecin").Mt().Masked(),
             Care(B::kMedecinTraitant)},
            {"masked: an administrator", In::Pro("infirmier").Administrator().Masked(),
             Care(B::kDesignated)},
            {"masked: the holder", In::Holder().Masked(), Allows(B::kSelf)},
            {"masked: a representative", In::Representative().Masked(), Allows(B::kRepresentative)},
            {"masked: a caregiver", In::Caregiver().Masked(), Allows(B::kCaregiver)},
            {"masked: BTG without the switch", In::Pro("infirmier").Grant(Pu::kBtg).Masked(),
             Refuses(R::kMasked, B::kBtg)},
            {"masked: BTG with the switch",
             In::Pro("infirmier").Grant(Pu::kBtg).Masked().EmergencyMasked(), Care(B::kBtg)},
            {"masked: ETREAT without the switch", In::Pro("medecin").Grant(Pu::kEtreat).Masked(),
             Refuses(R::kMasked, B::kEtreat)},
            {"masked: ETREAT with the switch",
             In::Pro("medecin").Grant(Pu::kEtreat).Masked().EmergencyMasked(), Care(B::kEtreat)},
            {"masked: the switch does nothing for an ordinary basis",
             In::Pro("medecin").Authorised().Masked().EmergencyMasked(),
             Refuses(R::kMasked, B::kAuthorised)},
            {"masked: authorised with a BTG grant, no switch",
             In::Pro("medecin").Authorised().Grant(Pu::kBtg).Masked(),
             Refuses(R::kMasked, B::kAuthorised)},
            // Emergency access includes masked documents when the holder says so, also for a
            // professional who has an ordinary basis too: that read rests on the emergency.
            {"masked: authorised with a BTG grant and the switch",
             In::Pro("medecin").Authorised().Grant(Pu::kBtg).Masked().EmergencyMasked(),
             Care(B::kBtg)},
            {"masked: the switch with an expired grant",
             In::Pro("medecin").Authorised().Grant(Pu::kBtg, kNow - 1).Masked().EmergencyMasked(),
             Refuses(R::kMasked, B::kAuthorised)},
            {"masked: the author updates it",
             In::Pro("medecin").Authorised().Masked().By("pro-1").Do(A::kUpdate),
             Care(B::kAuthorised)},

            // --- Blocked professionals: refused everything (DESIGN step 4) ---
            {"blocked médecin traitant reads", In::Pro("medecin").Mt().Blocked(),
             Refuses(R::kBlocked)},
            {"blocked médecin traitant opens the record itself",
             In::Pro("medecin").Mt().Blocked().RecordItself(), Refuses(R::kBlocked)},
            {"blocked médecin traitant writes", In::Pro("medecin").Mt().Blocked().Do(A::kCreate),
             Refuses(R::kBlocked)},
            {"blocked author updates own document",
             In::Pro("medecin").Mt().Blocked().By("pro-1").Do(A::kUpdate), Refuses(R::kBlocked)},
            {"blocked médecin traitant messages", In::Pro("medecin").Mt().Blocked().Do(A::kMessage),
             Refuses(R::kBlocked)},
            {"blocked professional redeems a code", In::Pro("medecin").Blocked().Do(A::kRedeemCode),
             Refuses(R::kBlocked)},
            {"blocked médecin traitant opens BTG",
             In::Pro("medecin").Mt().Blocked().Open(Pu::kBtg).WithReason().Fresh(),
             Refuses(R::kBlocked)},
            {"blocked regulator opens ETREAT",
             In::Pro("medecin").Blocked().Regulator().Open(Pu::kEtreat), Refuses(R::kBlocked)},
            {"blocked with a BTG grant in force", In::Pro("medecin").Blocked().Grant(Pu::kBtg),
             Refuses(R::kBlocked)},
            {"blocked administrator reads a masked document",
             In::Pro("medecin").Administrator().Blocked().Masked(), Refuses(R::kBlocked)},
            {"blocked professional reads own log entries",
             In::Pro("medecin").Blocked().Do(A::kReadAudit), Refuses(R::kBlocked)},
            {"blocked author releases own document",
             In::Pro("medecin").Blocked().By("pro-1").Do(A::kReleaseDocument),
             Refuses(R::kBlocked)},
            {"blocked in emergency-only mode with a grant",
             In::Pro("medecin").Blocked().EmergencyOnly().Grant(Pu::kEtreat), Refuses(R::kBlocked)},

            // --- Categories that never read content (DESIGN step 2), whatever holds ---
            {"assureur with every relation reads", In::Pro("assureur").Everything(),
             Refuses(R::kNeverContent)},
            {"assureur with every relation opens the record itself",
             In::Pro("assureur").Everything().RecordItself(), Refuses(R::kNeverContent)},
            {"assureur opens BTG", In::Pro("assureur").Everything().Open(Pu::kBtg),
             Refuses(R::kNeverContent)},
            {"assureur redeems a code", In::Pro("assureur").Everything().Do(A::kRedeemCode),
             Refuses(R::kNeverContent)},
            {"assureur messages", In::Pro("assureur").Everything().Do(A::kMessage),
             Refuses(R::kNeverContent)},
            {"employeur with every relation reads", In::Pro("employeur").Everything(),
             Refuses(R::kNeverContent)},
            {"employeur exports", In::Pro("employeur").Everything().Do(A::kExport),
             Refuses(R::kNeverContent)},
            {"employeur opens ETREAT", In::Pro("employeur").Everything().Open(Pu::kEtreat),
             Refuses(R::kNeverContent)},
            {"médecin du travail with every relation reads",
             In::Pro("medecin-travail").Everything(), Refuses(R::kNeverContent)},
            {"médecin du travail reads the record itself",
             In::Pro("medecin-travail").Everything().RecordItself(), Refuses(R::kNeverContent)},
            {"médecin du travail writes", In::Pro("medecin-travail").Everything().Do(A::kCreate),
             Refuses(R::kNeverContent)},
            {"médecin du travail reads its log entries",
             In::Pro("medecin-travail").Everything().Do(A::kReadAudit), Refuses(R::kNeverContent)},
            {"advisor with every relation reads", In::Staff(ActorKind::kAdvisor).Everything(),
             Refuses(R::kNeverContent)},
            {"advisor reads the access log", In::Staff(ActorKind::kAdvisor).Do(A::kReadAudit),
             Refuses(R::kNeverContent)},
            {"advisor manages the settings", In::Staff(ActorKind::kAdvisor).Do(A::kManage),
             Refuses(R::kNeverContent)},
            {"admin with every relation reads", In::Staff(ActorKind::kAdmin).Everything(),
             Refuses(R::kNeverContent)},
            {"admin exports", In::Staff(ActorKind::kAdmin).Everything().Do(A::kExport),
             Refuses(R::kNeverContent)},
            {"admin reads the record itself", In::Staff(ActorKind::kAdmin).RecordItself(),
             Refuses(R::kNeverContent)},

            // --- The record's state (DESIGN step 3) ---
            {"opposed: the holder reads", In::Holder().Status("opposed"),
             Refuses(R::kRecordInactive)},
            {"opposed: the holder exports", In::Holder().Status("opposed").Do(A::kExport),
             Refuses(R::kRecordInactive)},
            {"opposed: the holder manages", In::Holder().Status("opposed").Do(A::kManage),
             Refuses(R::kRecordInactive)},
            {"opposed: a representative reads", In::Representative().Status("opposed"),
             Refuses(R::kRecordInactive)},
            {"opposed: a caregiver reads", In::Caregiver().Status("opposed"),
             Refuses(R::kRecordInactive)},
            {"opposed: the médecin traitant reads", In::Pro("medecin").Mt().Status("opposed"),
             Refuses(R::kRecordInactive)},
            {"opposed: a BTG grant in force", In::Pro("medecin").Grant(Pu::kBtg).Status("opposed"),
             Refuses(R::kRecordInactive)},
            {"opposed: opening BTG",
             In::Pro("medecin").Open(Pu::kBtg).WithReason().Fresh().Status("opposed"),
             Refuses(R::kRecordInactive)},
            {"deleted: the holder reads", In::Holder().Status("deleted"),
             Refuses(R::kRecordInactive)},
            {"deleted: the médecin traitant reads", In::Pro("medecin").Mt().Status("deleted"),
             Refuses(R::kRecordInactive)},
            {"deleted: a regulator opens ETREAT",
             In::Pro("medecin").Regulator().Open(Pu::kEtreat).Status("deleted"),
             Refuses(R::kRecordInactive)},
            {"deleted: redeeming a code", In::Pro("medecin").Do(A::kRedeemCode).Status("deleted"),
             Refuses(R::kRecordInactive)},
            {"unknown state: the holder reads", In::Holder().Status("suspended"),
             Refuses(R::kRecordInactive)},
            {"unknown state: the médecin traitant reads", In::Pro("medecin").Mt().Status("Active"),
             Refuses(R::kRecordInactive)},
            {"empty state: the holder reads", In::Holder().Status(""), Refuses(R::kRecordInactive)},
            {"deleted: the server still purges it",
             In::Staff(ActorKind::kSystem).Status("deleted").Do(A::kDelete), Allows(B::kSystem)},
            {"closed: the holder reads", In::Holder().Status("closed"), Allows(B::kSelf)},
            {"closed: the holder reads the record itself",
             In::Holder().Status("closed").RecordItself(), Allows(B::kSelf)},
            {"closed: the holder exports", In::Holder().Status("closed").Do(A::kExport),
             Allows(B::kSelf)},
            {"closed: the holder reads the access log",
             In::Holder().Status("closed").Do(A::kReadAudit), Allows(B::kSelf)},
            {"closed: the holder writes", In::Holder().Status("closed").Do(A::kCreate),
             Refuses(R::kRecordReadOnly, B::kSelf)},
            {"closed: the holder updates own document",
             In::Holder().Status("closed").By("holder").Do(A::kUpdate),
             Refuses(R::kRecordReadOnly, B::kSelf)},
            {"closed: the holder deletes own document",
             In::Holder().Status("closed").By("holder").Do(A::kDelete),
             Refuses(R::kRecordReadOnly, B::kSelf)},
            {"closed: the holder changes the settings",
             In::Holder().Status("closed").Do(A::kManage), Refuses(R::kRecordReadOnly, B::kSelf)},
            {"closed: the holder messages", In::Holder().Status("closed").Do(A::kMessage),
             Refuses(R::kRecordReadOnly, B::kSelf)},
            {"closed: a representative reads", In::Representative().Status("closed"),
             Refuses(R::kRecordInactive)},
            {"closed: a representative exports",
             In::Representative().Status("closed").Do(A::kExport), Refuses(R::kRecordInactive)},
            {"closed: a caregiver reads", In::Caregiver().Status("closed"),
             Refuses(R::kRecordInactive)},
            {"closed: the médecin traitant reads", In::Pro("medecin").Mt().Status("closed"),
             Refuses(R::kRecordInactive)},
            {"closed: an authorised professional writes",
             In::Pro("medecin").Authorised().Status("closed").Do(A::kCreate),
             Refuses(R::kRecordInactive)},
            {"closed: opening BTG",
             In::Pro("medecin").Open(Pu::kBtg).WithReason().Fresh().Status("closed"),
             Refuses(R::kRecordInactive)},
            {"closed: redeeming a code", In::Pro("medecin").Do(A::kRedeemCode).Status("closed"),
             Refuses(R::kRecordInactive)},
            // DESIGN: step 3 (the record) comes before step 4 (the block).
            {"closed and blocked: the record's state first",
             In::Pro("medecin").Mt().Blocked().Status("closed"), Refuses(R::kRecordInactive)},

            // --- Hidden from the patient until the announcement consultation ---
            {"hidden from patient: the holder", In::Holder().HiddenUntil(kNow + kHour),
             Refuses(R::kHiddenFromPatient, B::kSelf)},
            {"hidden from patient for a month: the holder",
             In::Holder().HiddenUntil(kNow + 30 * kDay), Refuses(R::kHiddenFromPatient, B::kSelf)},
            {"hidden from patient: a representative",
             In::Representative().HiddenUntil(kNow + kHour),
             Refuses(R::kHiddenFromPatient, B::kRepresentative)},
            {"hidden from patient: a caregiver", In::Caregiver().HiddenUntil(kNow + kHour),
             Refuses(R::kHiddenFromPatient, B::kCaregiver)},
            {"hidden from patient, time passed: the holder", In::Holder().HiddenUntil(kNow - 1),
             Allows(B::kSelf)},
            {"hidden from patient, ending exactly now: the holder", In::Holder().HiddenUntil(kNow),
             Allows(B::kSelf)},
            {"hidden from patient, time passed: a representative",
             In::Representative().HiddenUntil(kNow - kDay), Allows(B::kRepresentative)},
            {"hidden from patient, time passed: a caregiver", In::Caregiver().HiddenUntil(kNow - 1),
             Allows(B::kCaregiver)},
            {"hidden from patient: an authorised professional",
             In::Pro("medecin").Authorised().HiddenUntil(kNow + kHour), Care(B::kAuthorised)},
            {"hidden from patient: the author releases it",
             In::Pro("medecin")
                 .Authorised()
                 .By("pro-1")
                 .HiddenUntil(kNow + kHour)
                 .Do(A::kReleaseDocument),
             Allows(B::kAuthor)},
            {"hidden from patient: another professional releases it",
             In::Pro("medecin").Mt().By("pro-2").HiddenUntil(kNow + kHour).Do(A::kReleaseDocument),
             Refuses(R::kNotAuthor)},
            {"release with no author known", In::Pro("medecin", "").Mt().Do(A::kReleaseDocument),
             Refuses(R::kNotAuthor)},
            {"hidden from patient: the holder releases it",
             In::Holder().HiddenUntil(kNow + kHour).Do(A::kReleaseDocument),
             Refuses(R::kNotPermitted, B::kSelf)},

            // --- Hidden from representatives (confidential care of a minor) ---
            {"hidden from representatives: a representative",
             In::Representative().HiddenFromRepresentatives(),
             Refuses(R::kHiddenFromDelegates, B::kRepresentative)},
            {"hidden from representatives: a caregiver",
             In::Caregiver().HiddenFromRepresentatives(),
             Refuses(R::kHiddenFromDelegates, B::kCaregiver)},
            {"hidden from representatives: the minor holder",
             In::Holder().Minor().HiddenFromRepresentatives(), Allows(B::kSelf)},
            {"hidden from representatives: the médecin traitant",
             In::Pro("medecin").Mt().HiddenFromRepresentatives(), Care(B::kMedecinTraitant)},
            {"representative reads an ordinary document", In::Representative(),
             Allows(B::kRepresentative)},

            // --- The holder's side: what each may do ---
            {"holder reads", In::Holder(), Allows(B::kSelf)},
            {"holder reads the record itself", In::Holder().RecordItself(), Allows(B::kSelf)},
            {"holder writes", In::Holder().Do(A::kCreate), Allows(B::kSelf)},
            {"holder exports", In::Holder().Do(A::kExport), Allows(B::kSelf)},
            {"holder manages", In::Holder().Do(A::kManage), Allows(B::kSelf)},
            {"holder reads the access log", In::Holder().Do(A::kReadAudit), Allows(B::kSelf)},
            {"holder messages", In::Holder().Do(A::kMessage), Allows(B::kSelf)},
            {"holder opens an emergency access", In::Holder().Open(Pu::kBtg).WithReason().Fresh(),
             Refuses(R::kNotPermitted, B::kSelf)},
            {"holder redeems a code", In::Holder().Do(A::kRedeemCode),
             Refuses(R::kNotPermitted, B::kSelf)},
            {"representative exports", In::Representative().Do(A::kExport),
             Allows(B::kRepresentative)},
            {"representative manages", In::Representative().Do(A::kManage),
             Allows(B::kRepresentative)},
            {"representative reads the access log", In::Representative().Do(A::kReadAudit),
             Allows(B::kRepresentative)},
            {"caregiver reads", In::Caregiver(), Allows(B::kCaregiver)},
            {"caregiver writes", In::Caregiver().Do(A::kCreate), Allows(B::kCaregiver)},
            {"caregiver messages", In::Caregiver().Do(A::kMessage), Allows(B::kCaregiver)},
            {"caregiver exports", In::Caregiver().Do(A::kExport),
             Refuses(R::kNotPermitted, B::kCaregiver)},
            {"caregiver manages", In::Caregiver().Do(A::kManage),
             Refuses(R::kNotPermitted, B::kCaregiver)},
            {"caregiver reads the access log", In::Caregiver().Do(A::kReadAudit),
             Refuses(R::kNotPermitted, B::kCaregiver)},
            {"caregiver opens an emergency access", In::Caregiver().Open(Pu::kEtreat),
             Refuses(R::kNotPermitted, B::kCaregiver)},
            {"another person reads", In::Stranger(), Refuses(R::kNoBasis)},
            {"another person exports", In::Stranger().Do(A::kExport), Refuses(R::kNoBasis)},
            {"another person with professional relations reads",
             In::Stranger().Authorised().Mt().Grant(Pu::kBtg), Refuses(R::kNoBasis)},

            // --- Professionals: record-level actions ---
            {"médecin traitant exports", In::Pro("medecin").Mt().Do(A::kExport),
             Refuses(R::kNotPermitted)},
            {"authorised professional exports", In::Pro("medecin").Authorised().Do(A::kExport),
             Refuses(R::kNotPermitted)},
            {"médecin traitant manages", In::Pro("medecin").Mt().Do(A::kManage),
             Refuses(R::kNotPermitted)},
            {"administrator manages", In::Pro("medecin").Administrator().Do(A::kManage),
             Refuses(R::kNotPermitted)},
            {"BTG grant exports", In::Pro("medecin").Grant(Pu::kBtg).Do(A::kExport),
             Refuses(R::kNotPermitted)},
            {"professional reads own log entries",
             In::Pro("infirmier").Authorised().Do(A::kReadAudit), Allows(B::kAuthor)},
            {"unrelated professional redeems a code", In::Pro("infirmier").Do(A::kRedeemCode),
             Allows(B::kCode)},

            // --- Writes: only the author changes or deletes what they wrote ---
            {"authorised médecin writes a report", In::Pro("medecin").Authorised().Do(A::kCreate),
             Care(B::kAuthorised)},
            {"authorised kiné writes a dispensation (43: N)",
             In::Pro("masseur-kinesitherapeute").Authorised().Doc(Category::kC43).Do(A::kCreate),
             Refuses(R::kGrid, B::kAuthorised)},
            {"authorised pharmacien writes a reimbursement (60: N)",
             In::Pro("pharmacien").Authorised().Doc(Category::kC60).Do(A::kCreate),
             Refuses(R::kGrid, B::kAuthorised)},
            {"authorised dentist writes a sensitive synthesis (11: P)",
             In::Pro("chirurgien-dentiste").Authorised().Doc(Category::kC11, true).Do(A::kCreate),
             Refuses(R::kGrid, B::kAuthorised)},
            {"author updates own report",
             In::Pro("medecin").Authorised().By("pro-1").Do(A::kUpdate), Care(B::kAuthorised)},
            {"author deletes own report",
             In::Pro("medecin").Authorised().By("pro-1").Do(A::kDelete), Care(B::kAuthorised)},
            {"non-author updates a report",
             In::Pro("medecin").Authorised().By("pro-2").Do(A::kUpdate),
             Refuses(R::kNotAuthor, B::kAuthorised)},
            {"non-author deletes a report",
             In::Pro("medecin").Authorised().By("pro-2").Do(A::kDelete),
             Refuses(R::kNotAuthor, B::kAuthorised)},
            {"médecin traitant updates another's report",
             In::Pro("medecin").Mt().By("pro-2").Do(A::kUpdate),
             Refuses(R::kNotAuthor, B::kMedecinTraitant)},
            {"BTG grant updates another's report",
             In::Pro("medecin").Grant(Pu::kBtg).By("pro-2").Do(A::kUpdate),
             Refuses(R::kNotAuthor, B::kBtg)},
            {"author without a basis any more updates",
             In::Pro("medecin").By("pro-1").Do(A::kUpdate), Refuses(R::kNoBasis)},
            {"unknown author, actor without an id, updates",
             In::Pro("medecin", "").Authorised().By("").Do(A::kUpdate),
             Refuses(R::kNotAuthor, B::kAuthorised)},
            {"author updates, the grid refuses the class",
             In::Pro("orthoptiste").Authorised().By("pro-1").Doc(Category::kC60).Do(A::kUpdate),
             Refuses(R::kGrid, B::kAuthorised)},
            {"holder updates own document", In::Holder().By("holder").Do(A::kUpdate),
             Allows(B::kSelf)},
            {"holder deletes own document", In::Holder().By("holder").Do(A::kDelete),
             Allows(B::kSelf)},
            {"holder updates a professional's report", In::Holder().By("pro-1").Do(A::kUpdate),
             Refuses(R::kNotAuthor, B::kSelf)},
            {"holder deletes a professional's report", In::Holder().By("pro-1").Do(A::kDelete),
             Refuses(R::kNotAuthor, B::kSelf)},
            {"representative deletes the holder's document",
             In::Representative().By("holder").Do(A::kDelete),
             Refuses(R::kNotAuthor, B::kRepresentative)},
            {"caregiver updates own document", In::Caregiver().By("carer").Do(A::kUpdate),
             Allows(B::kCaregiver)},
            {"caregiver updates the holder's document", In::Caregiver().By("holder").Do(A::kUpdate),
             Refuses(R::kNotAuthor, B::kCaregiver)},

            // --- Data that is no patient's (directory, terminology): never audited ---
            {"other data: the holder reads", In::Holder().NotPatientData(),
             Allows(B::kNotPatientData)},
            {"other data: a person without relation reads", In::Stranger().NotPatientData(),
             Allows(B::kNotPatientData)},
            {"other data: a professional reads", In::Pro("infirmier").NotPatientData(),
             Allows(B::kNotPatientData)},
            {"other data: an unknown profession reads", In::Pro("veterinaire").NotPatientData(),
             Allows(B::kNotPatientData)},
            {"other data: a professional creates",
             In::Pro("medecin").NotPatientData().Do(A::kCreate), Allows(B::kNotPatientData)},
            {"other data: a professional updates",
             In::Pro("medecin").NotPatientData().Do(A::kUpdate), Allows(B::kNotPatientData)},
            {"other data: a professional deletes",
             In::Pro("medecin").NotPatientData().Do(A::kDelete), Refuses(R::kNotPermitted)},
            {"other data: a professional exports",
             In::Pro("medecin").NotPatientData().Do(A::kExport), Refuses(R::kNotPermitted)},
            {"other data: the holder creates", In::Holder().NotPatientData().Do(A::kCreate),
             Refuses(R::kNotPermitted)},
            {"other data: the holder updates", In::Holder().NotPatientData().Do(A::kUpdate),
             Refuses(R::kNotPermitted)},
            {"other data: an assureur reads", In::Pro("assureur").NotPatientData(),
             Refuses(R::kNeverContent)},
            {"other data: an employeur reads", In::Pro("employeur").NotPatientData(),
             Refuses(R::kNeverContent)},
            {"other data: a médecin du travail reads", In::Pro("medecin-travail").NotPatientData(),
             Refuses(R::kNeverContent)},
            {"other data: an advisor reads", In::Staff(ActorKind::kAdvisor).NotPatientData(),
             Refuses(R::kNeverContent)},
            {"other data: an admin reads", In::Staff(ActorKind::kAdmin).NotPatientData(),
             Refuses(R::kNeverContent)},
            {"other data: the server creates",
             In::Staff(ActorKind::kSystem).NotPatientData().Do(A::kCreate), Allows(B::kSystem)},
            {"other data: the server deletes",
             In::Staff(ActorKind::kSystem).NotPatientData().Do(A::kDelete), Allows(B::kSystem)},

            // --- The server itself (imports, purges, the command line) ---
            {"the server reads a record", In::Staff(ActorKind::kSystem), Allows(B::kSystem)},
            {"the server writes an opposed record",
             In::Staff(ActorKind::kSystem).Status("opposed").Do(A::kCreate), Allows(B::kSystem)},
        };
        AddGridRows(v);
        return v;
    }();
    return cases;
}

std::string Describe(const Decision& d) {
    std::ostringstream o;
    o << (d.allow ? "allow" : "deny") << " basis=" << BasisName(d.basis)
      << " reason=" << ReasonName(d.reason) << " notice=" << static_cast<int>(d.notice)
      << " emergency=" << d.emergency << " audit=" << d.audit;
    return o.str();
}

TEST(AccessDecisionTable, EveryCase) {
    const Grid& grid = Grid::Default();
    const auto& cases = Cases();
    std::set<std::string> names;
    std::set<Reason> reasons;
    std::set<Action> actions;
    size_t refused = 0;
    for (const Case& c : cases) {
        EXPECT_TRUE(names.insert(c.name).second) << "two rows named '" << c.name << "'";
        const Decision d = Decide(grid, c.in);
        const bool emergency =
            c.want.allow && (c.want.basis == Basis::kEtreat || c.want.basis == Basis::kBtg);
        const bool audit = !c.in.target.patient_id.empty();
        const bool ok = d.allow == c.want.allow && d.basis == c.want.basis &&
                        d.reason == c.want.reason && d.notice == c.want.notice &&
                        d.emergency == emergency && d.audit == audit;
        if (!ok) {
            Decision want;
            want.allow = c.want.allow;
            want.basis = c.want.basis;
            want.reason = c.want.reason;
            want.notice = c.want.notice;
            want.emergency = emergency;
            want.audit = audit;
            ADD_FAILURE() << "row '" << c.name << "' (" << ActionName(c.in.action)
                          << ")\n  expected: " << Describe(want) << "\n  Decide:   " << Describe(d);
        }
        reasons.insert(d.reason);
        actions.insert(c.in.action);
        refused += c.want.allow ? 0 : 1;
    }
    // Every refusal reason and every action is tried by some row.
    for (int r = 0; r <= static_cast<int>(Reason::kNotPermitted); ++r) {
        EXPECT_TRUE(reasons.count(static_cast<Reason>(r)))
            << "no row ends with " << ReasonName(static_cast<Reason>(r));
    }
    for (int a = 0; a <= static_cast<int>(Action::kReleaseDocument); ++a) {
        EXPECT_TRUE(actions.count(static_cast<Action>(a)))
            << "no row tries " << ActionName(static_cast<Action>(a));
    }
    EXPECT_GE(cases.size(), 150U);
    std::printf("decision table: %zu cases (%zu refused)\n", cases.size(), refused);
}

// The decision is pure: the same input gives the same answer, whatever came before.
TEST(AccessDecisionTable, SameInputSameAnswer) {
    const Grid& grid = Grid::Default();
    for (const Case& c : Cases()) {
        const Decision a = Decide(grid, c.in);
        const Decision b = Decide(grid, c.in);
        EXPECT_EQ(a.allow, b.allow) << c.name;
        EXPECT_EQ(a.reason, b.reason) << c.name;
    }
}

// The decision reads the grid it is given: an admin's edit takes effect on the next call.
TEST(AccessDecisionTable, AnEditedGridIsTheOneApplied) {
    Grid grid = Grid::Default();
    const DecisionInput in = In::Pro("masseur-kinesitherapeute").Authorised().Doc(Category::kC43);
    EXPECT_EQ(Decide(grid, in).reason, Reason::kGrid);
    grid.Set("masseur-kinesitherapeute", Category::kC43, Cell::kYes);
    EXPECT_TRUE(Decide(grid, in).allow);
    grid.Set("medecin", Category::kC10, Cell::kPartial);
    EXPECT_FALSE(Decide(grid, In::Pro("medecin").Authorised().Sensitive()).allow);
    EXPECT_TRUE(Decide(grid, In::Pro("medecin").Authorised()).allow);
}

TEST(AccessDecisionNames, EveryValueHasItsOwnName) {
    std::set<std::string_view> seen;
    for (int b = 0; b <= static_cast<int>(Basis::kSystem); ++b) {
        EXPECT_TRUE(seen.insert(BasisName(static_cast<Basis>(b))).second) << b;
    }
    EXPECT_EQ(BasisName(Basis::kBtg), "BTG");
    EXPECT_EQ(BasisName(Basis::kEtreat), "ETREAT");
    seen.clear();
    for (int r = 0; r <= static_cast<int>(Reason::kNotPermitted); ++r) {
        EXPECT_TRUE(seen.insert(ReasonName(static_cast<Reason>(r))).second) << r;
    }
    seen.clear();
    for (int a = 0; a <= static_cast<int>(Action::kReleaseDocument); ++a) {
        EXPECT_TRUE(seen.insert(ActionName(static_cast<Action>(a))).second) << a;
    }
}

TEST(AccessDecisionNames, NeverContentCategories) {
    Actor a;
    a.kind = ActorKind::kProfessional;
    for (const char* p : {"assureur", "employeur", "medecin-travail"}) {
        a.profession = p;
        EXPECT_TRUE(NeverContent(a)) << p;
    }
    for (const char* p : {"medecin", "social", "infirmier", ""}) {
        a.profession = p;
        EXPECT_FALSE(NeverContent(a)) << p;
    }
    a.profession = "medecin";
    a.kind = ActorKind::kAdvisor;
    EXPECT_TRUE(NeverContent(a));
    a.kind = ActorKind::kAdmin;
    EXPECT_TRUE(NeverContent(a));
    a.kind = ActorKind::kPatient;
    a.profession = "assureur";  // a person's account has no profession that counts
    EXPECT_FALSE(NeverContent(a));
}

// ---------------------------------------------------------------------------------------------
// The grid file.

std::string SourceFile(const std::string& relative) {
    const char* root = std::getenv("CARNET_SOURCE_DIR");
    std::string base = root != nullptr && *root != '\0' ? std::string(root) : std::string();
    if (base.empty()) {
        // Run by hand: this file is tests/access/decision_test.cpp under the source root.
        base = __FILE__;
        for (int i = 0; i < 3; ++i) base = base.substr(0, base.find_last_of('/'));
    }
    std::ifstream in(base + "/" + relative);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

const std::string kCols[] = {
    "10",          "11",         "31",        "42",         "43",
    "44",          "45",         "52",        "60",         "90",
    "95",          "conditions", "allergies", "treatments", "immunizations",
    "measurements"};

/// A one-row grid with every column set to `cell`, with `extra` appended inside the row.
std::string OneRow(const std::string& cell, const std::string& extra = "",
                   const std::string& skip = "") {
    std::string row;
    for (const auto& c : kCols) {
        if (c == skip) continue;
        if (!row.empty()) row += ",";
        row += "\"" + c + "\":" + cell;
    }
    if (!extra.empty()) row += "," + extra;
    return R"({"professions":{"medecin":{)" + row + "}}}";
}

TEST(AccessGrid, TheShippedFileParsesAndIsTheDefault) {
    const std::string text = SourceFile("src/access/default_grid.json");
    ASSERT_FALSE(text.empty()) << "src/access/default_grid.json not found";
    auto parsed = Grid::FromJson(text);
    ASSERT_TRUE(parsed.ok()) << parsed.error().Summary();
    EXPECT_EQ(parsed->ToJson(), Grid::Default().ToJson());
    const std::vector<std::string> want = {
        "chirurgien-dentiste", "infirmier",   "masseur-kinesitherapeute", "medecin",
        "orthophoniste",       "orthoptiste", "pedicure-podologue",       "pharmacien",
        "sage-femme",          "social"};
    EXPECT_EQ(Grid::Default().Professions(), want);
}

TEST(AccessGrid, RoundTripsThroughJson) {
    const Grid& g = Grid::Default();
    auto again = Grid::FromJson(g.ToJson());
    ASSERT_TRUE(again.ok()) << again.error().Summary();
    EXPECT_EQ(again->ToJson(), g.ToJson());
    for (const auto& p : g.Professions()) {
        for (int c = 0; c <= kGridColumns; ++c) {
            EXPECT_EQ(again->At(p, static_cast<Category>(c)), g.At(p, static_cast<Category>(c)))
                << p << " × " << CategoryCode(static_cast<Category>(c));
        }
    }
    // An edited grid round-trips too, P cells included.
    Grid edited = g;
    edited.Set("social", Category::kC10, Cell::kPartial);
    edited.Set("nouvelle-profession", Category::kC42, Cell::kYes);
    auto edited_again = Grid::FromJson(edited.ToJson());
    ASSERT_TRUE(edited_again.ok()) << edited_again.error().Summary();
    EXPECT_EQ(edited_again->At("social", Category::kC10), Cell::kPartial);
    EXPECT_EQ(edited_again->At("nouvelle-profession", Category::kC42), Cell::kYes);
    EXPECT_EQ(edited_again->At("nouvelle-profession", Category::kC10), Cell::kNo);
}

TEST(AccessGrid, UnknownProfessionsAreNEverywhereAndTheRecordIsY) {
    const Grid& g = Grid::Default();
    for (int c = 0; c < kGridColumns; ++c) {
        EXPECT_EQ(g.At("veterinaire", static_cast<Category>(c)), Cell::kNo);
        EXPECT_EQ(g.At("assureur", static_cast<Category>(c)), Cell::kNo);
    }
    EXPECT_EQ(g.At("veterinaire", Category::kRecord), Cell::kYes);
    EXPECT_EQ(g.At("social", Category::kRecord), Cell::kYes);
}

TEST(AccessGrid, FromJsonAcceptsAWellFormedGrid) {
    auto g = Grid::FromJson(OneRow("\"P\""));
    ASSERT_TRUE(g.ok()) << g.error().Summary();
    EXPECT_EQ(g->At("medecin", Category::kC95), Cell::kPartial);
    EXPECT_EQ(g->Professions(), std::vector<std::string>{"medecin"});
    // A comment beside the professions, as in the shipped file, is fine.
    auto commented = Grid::FromJson(R"({"comment":"x",)" + OneRow("\"N\"").substr(1));
    ASSERT_TRUE(commented.ok()) << commented.error().Summary();
}

TEST(AccessGrid, FromJsonRefusesBadGrids) {
    const std::vector<std::pair<std::string, std::string>> bad = {
        {"unknown column", OneRow("\"Y\"", R"("12":"Y")")},
        {"the record column", OneRow("\"Y\"", R"("record":"Y")")},
        {"missing column 95", OneRow("\"Y\"", "", "95")},
        {"missing column measurements", OneRow("\"Y\"", "", "measurements")},
        {"lower-case cell", OneRow("\"y\"")},
        {"unknown cell", OneRow("\"X\"")},
        {"empty cell", OneRow("\"\"")},
        {"numeric cell", OneRow("1")},
        {"boolean cell", OneRow("true")},
        {"empty grid", R"({"professions":{}})"},
        {"no professions", R"({"grid":{}})"},
        {"professions not an object", R"({"professions":[]})"},
        {"row not an object", R"({"professions":{"medecin":"Y"}})"},
        {"empty profession code", R"({"professions":{"":{}}})"},
        {"not an object", R"([])"},
        {"not JSON", R"({"professions":)"},
        {"empty text", ""},
    };
    for (const auto& [name, text] : bad) {
        EXPECT_FALSE(Grid::FromJson(text).ok()) << name;
    }
    // One bad row spoils the grid even when another is fine.
    std::string two = OneRow("\"Y\"");
    two.insert(two.size() - 2, R"(,"social":{"10":"Y"})");
    EXPECT_FALSE(Grid::FromJson(two).ok());
}

TEST(AccessGrid, CategoryCodesRoundTrip) {
    for (int c = 0; c <= kGridColumns; ++c) {
        const auto cat = static_cast<Category>(c);
        EXPECT_EQ(CategoryFromCode(CategoryCode(cat)), cat) << CategoryCode(cat);
    }
    EXPECT_EQ(CategoryCode(Category::kC10), "10");
    EXPECT_EQ(CategoryCode(Category::kMeasurements), "measurements");
    EXPECT_EQ(CategoryCode(Category::kRecord), "record");
    EXPECT_FALSE(CategoryFromCode("12").has_value());
    EXPECT_FALSE(CategoryFromCode("").has_value());
}

// ---------------------------------------------------------------------------------------------
// Classification of resources.

constexpr const char* kClassSystem = "urn:oid:1.2.250.1.213.1.1.4.1";

boost::json::object Parse(const std::string& text) { return boost::json::parse(text).as_object(); }

boost::json::object DocRef(const std::string& system, const std::string& code,
                           const std::string& category_extra = "") {
    std::string json = R"({"resourceType":"DocumentReference","type":{"coding":[{"system":")" +
                       system + R"(","code":")" + code + R"("}]})";
    if (!category_extra.empty()) json += R"(,"category":[{"coding":[)" + category_extra + "]}]";
    return Parse(json + "}");
}

TEST(AccessClassify, DocumentsByTheirLoincType) {
    auto c = Classify(DocRef("http://loinc.org", "34117-2"));
    EXPECT_EQ(c.category, Category::kC10);
    EXPECT_FALSE(c.sensitive);
    c = Classify(DocRef("http://loinc.org", "34792-3"));  // psychiatry note
    EXPECT_EQ(c.category, Category::kC11);
    EXPECT_TRUE(c.sensitive);
    c = Classify(DocRef("http://loinc.org", "11490-0"));  // psychology note
    EXPECT_EQ(c.category, Category::kC11);
    EXPECT_TRUE(c.sensitive);
    c = Classify(DocRef("http://loinc.org", "18748-4"));
    EXPECT_EQ(c.category, Category::kC31);
    EXPECT_FALSE(c.sensitive);
    c = Classify(DocRef("urn:oid:1.2.250.1.213.1.1.4.12", "PLAN_EHPAD"));
    EXPECT_EQ(c.category, Category::kC44);
    EXPECT_TRUE(c.sensitive);
    c = Classify(DocRef("urn:oid:1.2.250.1.213.1.1.4.12", "TLM_DEMANDE"));
    EXPECT_EQ(c.category, Category::kC10);
    EXPECT_TRUE(c.sensitive);
    c = Classify(DocRef("urn:oid:1.2.250.1.213.1.1.4.12", "LIAISON_SOCIALE"));
    EXPECT_EQ(c.category, Category::kC11);
    EXPECT_TRUE(c.sensitive);
}

TEST(AccessClassify, EveryShippedTypeGivesItsClass) {
    const std::string text = SourceFile("src/access/document_classes.json");
    ASSERT_FALSE(text.empty()) << "src/access/document_classes.json not found";
    const auto table = Parse(text);
    EXPECT_EQ(table.at("class_system").as_string(), kClassSystem);
    size_t n = 0;
    for (const auto& e : table.at("types").as_array()) {
        const auto& row = e.as_object();
        const std::string system(row.at("system").as_string());
        const std::string code(row.at("code").as_string());
        const auto want = CategoryFromCode(row.at("class").as_string());
        ASSERT_TRUE(want.has_value()) << code;
        const auto* s = row.if_contains("sensitive");
        const auto got = Classify(DocRef(system, code));
        EXPECT_EQ(got.category, *want) << code;
        EXPECT_EQ(got.sensitive, s != nullptr && s->as_bool()) << code;
        ++n;
    }
    EXPECT_GE(n, 20U);
}

TEST(AccessClassify, AnExplicitDmpClassWins) {
    const std::string class52 = R"({"system":")" + std::string(kClassSystem) + R"(","code":"52"})";
    auto c = Classify(DocRef("http://loinc.org", "34117-2", class52));
    EXPECT_EQ(c.category, Category::kC52);
    // The class moves; a sensitive type stays sensitive.
    const std::string class10 = R"({"system":")" + std::string(kClassSystem) + R"(","code":"10"})";
    c = Classify(DocRef("http://loinc.org", "34792-3", class10));
    EXPECT_EQ(c.category, Category::kC10);
    EXPECT_TRUE(c.sensitive);
    // A class code in another system is not a DMP class.
    c = Classify(DocRef("http://loinc.org", "34117-2", R"({"system":"http://x","code":"52"})"));
    EXPECT_EQ(c.category, Category::kC10);
    // Neither is an unknown code in the DMP system, nor "record".
    const std::string bogus = R"({"system":")" + std::string(kClassSystem) + R"(","code":"77"})";
    EXPECT_EQ(Classify(DocRef("http://loinc.org", "18748-4", bogus)).category, Category::kC31);
    const std::string record =
        R"({"system":")" + std::string(kClassSystem) + R"(","code":"record"})";
    EXPECT_EQ(Classify(DocRef("http://loinc.org", "18748-4", record)).category, Category::kC31);
}

TEST(AccessClassify, UnknownTypesAreReports) {
    auto c = Classify(DocRef("http://loinc.org", "00000-0"));
    EXPECT_EQ(c.category, Category::kC10);
    EXPECT_FALSE(c.sensitive);
    // A known code under another system is unknown.
    c = Classify(DocRef("http://snomed.info/sct", "34792-3"));
    EXPECT_EQ(c.category, Category::kC10);
    EXPECT_FALSE(c.sensitive);
    c = Classify(Parse(R"({"resourceType":"DocumentReference"})"));
    EXPECT_EQ(c.category, Category::kC10);
    c = Classify(Parse(R"({"resourceType":"DocumentReference","type":"x","category":3})"));
    EXPECT_EQ(c.category, Category::kC10);
}

TEST(AccessClassify, ObservationsLaboratoryVersusMeasurements) {
    const std::string obs = R"({"resourceType":"Observation","category":[{"coding":[{"system":)"
                            R"("http://terminology.hl7.org/CodeSystem/observation-category",)"
                            R"("code":")";
    EXPECT_EQ(Classify(Parse(obs + R"(laboratory"}]}]})")).category, Category::kC10);
    EXPECT_EQ(Classify(Parse(obs + R"(vital-signs"}]}]})")).category, Category::kMeasurements);
    EXPECT_EQ(Classify(Parse(R"({"resourceType":"Observation"})")).category,
              Category::kMeasurements);
}

TEST(AccessClassify, ProfileResourcesAndOthers) {
    auto of = [](const std::string& type) {
        return Classify(Parse(R"({"resourceType":")" + type + R"("})")).category;
    };
    EXPECT_EQ(of("Condition"), Category::kConditions);
    EXPECT_EQ(of("AllergyIntolerance"), Category::kAllergies);
    EXPECT_EQ(of("MedicationStatement"), Category::kTreatments);
    EXPECT_EQ(of("Immunization"), Category::kImmunizations);
    EXPECT_EQ(of("MedicationRequest"), Category::kC42);
    EXPECT_EQ(of("MedicationDispense"), Category::kC43);
    EXPECT_EQ(of("CarePlan"), Category::kC44);
    EXPECT_EQ(of("MedicationAdministration"), Category::kC45);
    EXPECT_EQ(of("Claim"), Category::kC60);
    EXPECT_EQ(of("Encounter"), Category::kC95);
    EXPECT_EQ(of("ImagingStudy"), Category::kC31);
    EXPECT_EQ(of("Procedure"), Category::kC10);
    EXPECT_EQ(of("Patient"), Category::kRecord);
    const auto rad =
        Parse(R"({"resourceType":"DiagnosticReport","category":[{"coding":[{"code":"RAD"}]}]})");
    EXPECT_EQ(Classify(rad).category, Category::kC31);
    EXPECT_EQ(of("DiagnosticReport"), Category::kC10);
}

TEST(AccessClassify, DepositedByThePatientIsClass90) {
    auto c = Classify(DocRef("http://loinc.org", "34792-3"), true);
    EXPECT_EQ(c.category, Category::kC90);
    EXPECT_FALSE(c.sensitive);
    EXPECT_EQ(Classify(Parse(R"({"resourceType":"Media"})"), true).category, Category::kC90);
    EXPECT_EQ(Classify(Parse(R"({"resourceType":"Encounter"})"), true).category, Category::kC90);
    // Profile entries keep their column: the grid decides who sees a patient's allergies.
    EXPECT_EQ(Classify(Parse(R"({"resourceType":"Observation"})"), true).category,
              Category::kMeasurements);
    EXPECT_EQ(Classify(Parse(R"({"resourceType":"Condition"})"), true).category,
              Category::kConditions);
    EXPECT_EQ(Classify(Parse(R"({"resourceType":"Immunization"})"), true).category,
              Category::kImmunizations);
    // The record itself stays the record.
    EXPECT_EQ(Classify(Parse(R"({"resourceType":"Patient"})"), true).category, Category::kRecord);
    EXPECT_EQ(Classify(Parse(R"({"resourceType":"Patient"})")).category, Category::kRecord);
}

TEST(AccessClassify, CategoryOfTypeWithoutABody) {
    EXPECT_EQ(CategoryOfType("Patient"), Category::kRecord);
    EXPECT_EQ(CategoryOfType("Condition"), Category::kConditions);
    EXPECT_EQ(CategoryOfType("Observation"), Category::kMeasurements);
    EXPECT_EQ(CategoryOfType("Composition"), Category::kC11);
    EXPECT_EQ(CategoryOfType("DocumentReference"), Category::kC10);
    EXPECT_EQ(CategoryOfType("ExplanationOfBenefit"), Category::kC60);
    EXPECT_EQ(CategoryOfType("Unheard"), Category::kC10);
}

}  // namespace
}  // namespace carnet::access
