#pragma once
/// A reference model of the access rules for the differential test, written from issue 4 and
/// ../shared/DESIGN.md ("Access, in the order it is decided"), not from decision.cpp, and in
/// another style: the facts are worked out once, then an ordered list of guard rules is read
/// top to bottom and the first rule whose guard holds gives the answer. It carries its own
/// literal copy of the grid, so a wrong cell in default_grid.json shows up as a disagreement.
/// Slow and plain on purpose.
#include <array>
#include <string>
#include <string_view>

#include "access/decision.hpp"

namespace carnet::access::reference {

/// The grid of issue 4, one letter per column in the order
///   10 11 31 42 43 44 45 52 60 90 95 | conditions allergies treatments immunizations measurements
/// The eleven DMP columns are the table (the kiné row and the pharmacien/infirmier/
/// sage-femme row stand for each profession they name). The five profile columns are not in
/// the issue: they are Carnet's choice, copied from the shipped grid.
struct GridLine {
    std::string_view profession;
    std::string_view cells;
};
inline constexpr std::array<GridLine, 10> kGridLines = {{
    {"medecin",
     "YYYYYYYYYYY"
     "YYYYY"},
    {"pharmacien",
     "YYYYYYYYNYN"
     "YYYYY"},
    {"infirmier",
     "YYYYYYYYNYN"
     "YYYYY"},
    {"sage-femme",
     "YYYYYYYYNYN"
     "YYYYY"},
    {"chirurgien-dentiste",
     "PPYYYPYYNYN"
     "YYYNY"},
    {"masseur-kinesitherapeute",
     "PPYYNYNYNYN"
     "YYYNY"},
    {"pedicure-podologue",
     "PPYYNYNYNYN"
     "YYYNY"},
    {"orthophoniste",
     "PPYYNYNYNYN"
     "YYYNY"},
    {"orthoptiste",
     "PPYYNYNYNYN"
     "YYYNY"},
    {"social",
     "NPNNNYNNNPY"
     "NNNNN"},
}};

/// The letter of the reference grid for this profession and category: 'R' for the record
/// itself (no cell applies), 'N' for a profession the grid does not know.
inline char GridLetter(std::string_view profession, Category category) {
    int column = -1;
    switch (category) {
        case Category::kC10:
            column = 0;
            break;
        case Category::kC11:
            column = 1;
            break;
        case Category::kC31:
            column = 2;
            break;
        case Category::kC42:
            column = 3;
            break;
        case Category::kC43:
            column = 4;
            break;
        case Category::kC44:
            column = 5;
            break;
        case Category::kC45:
            column = 6;
            break;
        case Category::kC52:
            column = 7;
            break;
        case Category::kC60:
            column = 8;
            break;
        case Category::kC90:
            column = 9;
            break;
        case Category::kC95:
            column = 10;
            break;
        case Category::kConditions:
            column = 11;
            break;
        case Category::kAllergies:
            column = 12;
            break;
        case Category::kTreatments:
            column = 13;
            break;
        case Category::kImmunizations:
            column = 14;
            break;
        case Category::kMeasurements:
            column = 15;
            break;
        case Category::kRecord:
            return 'R';
    }
    for (const auto& line : kGridLines) {
        if (line.profession == profession) return line.cells[static_cast<size_t>(column)];
    }
    return 'N';
}

/// Everything the rules look at, worked out once from the input.
struct Facts {
    const DecisionInput& in;
    bool patient_data = false;
    bool never_content = false;
    bool record_gone = false;    // opposed, deleted, or a state nobody knows (fail closed)
    bool record_closed = false;  // an archive: the holder still reads and exports it
    bool is_author = false;
    Basis side = Basis::kNone;       // the holder, a representative, a caregiver
    Basis ordinary = Basis::kNone;   // a professional's basis without emergency access
    Basis emergency = Basis::kNone;  // an emergency access in force and still switched on
    Basis basis = Basis::kNone;      // the one that counts (emergency-only mode applied)
    char cell = 'N';

    explicit Facts(const DecisionInput& input) : in(input) {
        const Actor& a = in.actor;
        const Relationship& r = in.rel;
        patient_data = !in.target.patient_id.empty();
        const bool staff = a.kind == ActorKind::kAdvisor || a.kind == ActorKind::kAdmin;
        const bool outsider_profession = a.profession == "assureur" ||
                                         a.profession == "employeur" ||
                                         a.profession == "medecin-travail";
        never_content = staff || (a.kind == ActorKind::kProfessional && outsider_profession);
        const std::string& s = in.patient.status;
        record_closed = s == "closed";
        record_gone = !(s == "active" || s == "pending" || s == "none" || s == "closed");
        is_author = !in.target.author_account.empty() && in.target.author_account == a.account_id;

        if (r.self) {
            side = Basis::kSelf;
        } else if (r.representative) {
            side = Basis::kRepresentative;
        } else if (r.caregiver) {
            side = Basis::kCaregiver;
        }

        if (r.medecin_traitant) {
            ordinary = Basis::kMedecinTraitant;
        } else if (r.sage_femme_referente || r.pharmacien_correspondant || r.administrator) {
            ordinary = Basis::kDesignated;
        } else if (r.authorised && r.via_code) {
            ordinary = Basis::kCode;
        } else if (r.authorised) {
            ordinary = Basis::kAuthorised;
        }

        const bool grant_live = r.emergency_until_us > in.now_us;
        if (grant_live && r.emergency_kind == Purpose::kEtreat && in.patient.etreat_enabled) {
            emergency = Basis::kEtreat;
        }
        if (grant_live && r.emergency_kind == Purpose::kBtg && in.patient.btg_enabled) {
            emergency = Basis::kBtg;
        }

        if (in.patient.emergency_only) {
            basis = emergency;
        } else {
            basis = ordinary != Basis::kNone ? ordinary : emergency;
        }
        cell = GridLetter(a.profession, in.target.category);
    }

    [[nodiscard]] bool Acting(Action a) const { return in.action == a; }
    [[nodiscard]] bool ByEmergency() const {
        return basis == Basis::kEtreat || basis == Basis::kBtg;
    }
    [[nodiscard]] bool Professional() const { return in.actor.kind == ActorKind::kProfessional; }
    [[nodiscard]] bool PatientSide() const { return in.actor.kind == ActorKind::kPatient; }
};

inline Decision Permit(Basis basis, Notice notice = Notice::kNone) {
    Decision d;
    d.allow = true;
    d.basis = basis;
    d.reason = Reason::kAllowed;
    d.notice = notice;
    d.emergency = basis == Basis::kEtreat || basis == Basis::kBtg;
    return d;
}

inline Decision Refuse(Reason reason, Basis basis = Basis::kNone) {
    Decision d;
    d.allow = false;
    d.basis = basis;
    d.reason = reason;
    return d;
}

/// A professional's access to the record's content: the patient is told once a day, at once
/// for an emergency access.
inline Decision PermitCare(const Facts& f) {
    return Permit(f.basis, f.ByEmergency() ? Notice::kImmediate : Notice::kCoalesced);
}

inline Decision NotPatientData(Basis basis) {
    Decision d = Permit(basis);
    d.audit = false;
    return d;
}
inline Decision NotPatientDataRefused(Reason reason) {
    Decision d = Refuse(reason);
    d.audit = false;
    return d;
}

struct Rule {
    std::string_view name;
    bool (*when)(const Facts&);
    Decision (*then)(const Facts&);
};

// clang-format off
/// The rules, first match wins. Each guard may assume every rule above it did not match.
inline constexpr Rule kRules[] = {
    // Data that belongs to no patient: the directory, terminology. No audit entry.
    {"other data: the server",
     [](const Facts& f) { return !f.patient_data && f.in.actor.kind == ActorKind::kSystem; },
     [](const Facts&) { return NotPatientData(Basis::kSystem); }},
    {"other data: never-content categories",
     [](const Facts& f) { return !f.patient_data && f.never_content; },
     [](const Facts&) { return NotPatientDataRefused(Reason::kNeverContent); }},
    {"other data: anyone reads",
     [](const Facts& f) { return !f.patient_data && f.Acting(Action::kRead); },
     [](const Facts&) { return NotPatientData(Basis::kNotPatientData); }},
    {"other data: professionals create and update",
     [](const Facts& f) {
         return !f.patient_data && f.Professional() &&
                (f.Acting(Action::kCreate) || f.Acting(Action::kUpdate));
     },
     [](const Facts&) { return NotPatientData(Basis::kNotPatientData); }},
    {"other data: nothing else",
     [](const Facts& f) { return !f.patient_data; },
     [](const Facts&) { return NotPatientDataRefused(Reason::kNotPermitted); }},

    // Patient data. The server itself (imports, purges) passes every rule.
    {"the server",
     [](const Facts& f) { return f.in.actor.kind == ActorKind::kSystem; },
     [](const Facts&) { return Permit(Basis::kSystem); }},
    // DESIGN step 2: whatever else holds.
    {"never-content category",
     [](const Facts& f) { return f.never_content; },
     [](const Facts&) { return Refuse(Reason::kNeverContent); }},
    // DESIGN step 3.
    {"record opposed, deleted or unknown state",
     [](const Facts& f) { return f.record_gone; },
     [](const Facts&) { return Refuse(Reason::kRecordInactive); }},
    {"closed record, anyone but its holder",
     [](const Facts& f) { return f.record_closed && !(f.PatientSide() && f.side == Basis::kSelf); },
     [](const Facts&) { return Refuse(Reason::kRecordInactive); }},
    {"an actor kind with no access",
     [](const Facts& f) { return !f.PatientSide() && !f.Professional(); },
     [](const Facts&) { return Refuse(Reason::kNotPermitted); }},

    // The holder, a representative of a minor, a caregiver.
    {"patient side: no relation to the record",
     [](const Facts& f) { return f.PatientSide() && f.side == Basis::kNone; },
     [](const Facts&) { return Refuse(Reason::kNoBasis); }},
    {"patient side: professional actions",
     [](const Facts& f) {
         return f.PatientSide() && (f.Acting(Action::kOpenEmergency) ||
                                    f.Acting(Action::kRedeemCode) ||
                                    f.Acting(Action::kReleaseDocument));
     },
     [](const Facts& f) { return Refuse(Reason::kNotPermitted, f.side); }},
    {"patient side: caregivers neither export, manage nor read the log",
     [](const Facts& f) {
         return f.PatientSide() && f.side == Basis::kCaregiver &&
                (f.Acting(Action::kExport) || f.Acting(Action::kManage) ||
                 f.Acting(Action::kReadAudit));
     },
     [](const Facts& f) { return Refuse(Reason::kNotPermitted, f.side); }},
    {"patient side: awaiting the announcement consultation",
     [](const Facts& f) {
         return f.PatientSide() && f.Acting(Action::kRead) &&
                f.in.now_us < f.in.target.hidden_from_patient_until_us;
     },
     [](const Facts& f) { return Refuse(Reason::kHiddenFromPatient, f.side); }},
    {"patient side: confidential care, not for delegates",
     [](const Facts& f) {
         return f.PatientSide() && f.Acting(Action::kRead) && f.side != Basis::kSelf &&
                f.in.target.hidden_from_representatives;
     },
     [](const Facts& f) { return Refuse(Reason::kHiddenFromDelegates, f.side); }},
    {"patient side: a closed record takes no writes",
     [](const Facts& f) {
         return f.PatientSide() && f.record_closed &&
                (f.Acting(Action::kCreate) || f.Acting(Action::kUpdate) ||
                 f.Acting(Action::kDelete) || f.Acting(Action::kManage) ||
                 f.Acting(Action::kMessage));
     },
     [](const Facts& f) { return Refuse(Reason::kRecordReadOnly, f.side); }},
    {"patient side: changes only to what one wrote",
     [](const Facts& f) {
         return f.PatientSide() && (f.Acting(Action::kUpdate) || f.Acting(Action::kDelete)) &&
                !f.is_author;
     },
     [](const Facts& f) { return Refuse(Reason::kNotAuthor, f.side); }},
    {"patient side: allowed",
     [](const Facts& f) { return f.PatientSide(); },
     [](const Facts& f) { return Permit(f.side); }},

    // Professionals. DESIGN step 4: blocked means refused everything.
    {"professional: blocked by the holder",
     [](const Facts& f) { return f.in.rel.blocked; },
     [](const Facts&) { return Refuse(Reason::kBlocked); }},
    {"professional: export and settings are the holder's",
     [](const Facts& f) { return f.Acting(Action::kExport) || f.Acting(Action::kManage); },
     [](const Facts&) { return Refuse(Reason::kNotPermitted); }},
    {"professional: their own log entries",
     [](const Facts& f) { return f.Acting(Action::kReadAudit); },
     [](const Facts&) { return Permit(Basis::kAuthor); }},
    {"professional: a code in emergency-only mode",
     [](const Facts& f) { return f.Acting(Action::kRedeemCode) && f.in.patient.emergency_only; },
     [](const Facts&) { return Refuse(Reason::kEmergencyOnly); }},
    {"professional: a code",
     [](const Facts& f) { return f.Acting(Action::kRedeemCode); },
     [](const Facts&) { return Permit(Basis::kCode); }},
    {"ETREAT: switched off",
     [](const Facts& f) {
         return f.Acting(Action::kOpenEmergency) && f.in.purpose == Purpose::kEtreat &&
                !f.in.patient.etreat_enabled;
     },
     [](const Facts&) { return Refuse(Reason::kEmergencyDisabled); }},
    {"ETREAT: SAMU regulators only",
     [](const Facts& f) {
         return f.Acting(Action::kOpenEmergency) && f.in.purpose == Purpose::kEtreat &&
                !f.in.actor.samu_regulator;
     },
     [](const Facts&) { return Refuse(Reason::kNotRegulator); }},
    {"ETREAT: opened",
     [](const Facts& f) {
         return f.Acting(Action::kOpenEmergency) && f.in.purpose == Purpose::kEtreat;
     },
     [](const Facts&) { return Permit(Basis::kEtreat, Notice::kImmediate); }},
    {"BTG: switched off",
     [](const Facts& f) {
         return f.Acting(Action::kOpenEmergency) && f.in.purpose == Purpose::kBtg &&
                !f.in.patient.btg_enabled;
     },
     [](const Facts&) { return Refuse(Reason::kEmergencyDisabled); }},
    {"BTG: a written reason",
     [](const Facts& f) {
         return f.Acting(Action::kOpenEmergency) && f.in.purpose == Purpose::kBtg &&
                !f.in.target.reason_given;
     },
     [](const Facts&) { return Refuse(Reason::kNeedsReason); }},
    {"BTG: a fresh authentication",
     [](const Facts& f) {
         return f.Acting(Action::kOpenEmergency) && f.in.purpose == Purpose::kBtg &&
                !f.in.actor.fresh_auth;
     },
     [](const Facts&) { return Refuse(Reason::kNeedsFreshAuth); }},
    {"BTG: opened",
     [](const Facts& f) {
         return f.Acting(Action::kOpenEmergency) && f.in.purpose == Purpose::kBtg;
     },
     [](const Facts&) { return Permit(Basis::kBtg, Notice::kImmediate); }},
    {"emergency: not an emergency purpose",
     [](const Facts& f) { return f.Acting(Action::kOpenEmergency); },
     [](const Facts&) { return Refuse(Reason::kNotPermitted); }},
    {"release: only the author",
     [](const Facts& f) { return f.Acting(Action::kReleaseDocument) && !f.is_author; },
     [](const Facts&) { return Refuse(Reason::kNotAuthor); }},
    {"release: the author",
     [](const Facts& f) { return f.Acting(Action::kReleaseDocument); },
     [](const Facts&) { return Permit(Basis::kAuthor); }},

    // Read, create, update, delete, message. DESIGN step 5: a basis.
    {"emergency-only mode without an emergency access",
     [](const Facts& f) { return f.in.patient.emergency_only && f.basis == Basis::kNone; },
     [](const Facts&) { return Refuse(Reason::kEmergencyOnly); }},
    {"no basis",
     [](const Facts& f) { return f.basis == Basis::kNone; },
     [](const Facts&) { return Refuse(Reason::kNoBasis); }},
    {"message with a basis",
     [](const Facts& f) { return f.Acting(Action::kMessage); },
     [](const Facts& f) { return PermitCare(f); }},
    {"changes only to what one wrote",
     [](const Facts& f) {
         return (f.Acting(Action::kUpdate) || f.Acting(Action::kDelete)) && !f.is_author;
     },
     [](const Facts& f) { return Refuse(Reason::kNotAuthor, f.basis); }},
    // DESIGN step 6: the grid.
    {"grid: N",
     [](const Facts& f) { return f.cell == 'N'; },
     [](const Facts& f) { return Refuse(Reason::kGrid, f.basis); }},
    {"grid: P and a sensitive type",
     [](const Facts& f) { return f.cell == 'P' && f.in.target.sensitive; },
     [](const Facts& f) { return Refuse(Reason::kGrid, f.basis); }},
    // DESIGN step 7: masked documents stay visible to the author, the médecin traitant and
    // the administrators; and to an emergency access when the holder switched that on (issue
    // 4: "a third switch lets emergency access include masked documents"), even for someone
    // who also has an ordinary basis: that read then rests on the emergency access.
    {"masked from professionals",
     [](const Facts& f) {
         if (!f.Acting(Action::kRead) || !f.in.target.masked) return false;
         if (f.is_author || f.in.rel.medecin_traitant || f.in.rel.administrator) return false;
         return f.emergency == Basis::kNone || !f.in.patient.emergency_includes_masked;
     },
     [](const Facts& f) { return Refuse(Reason::kMasked, f.basis); }},
    {"masked, seen through the emergency access",
     [](const Facts& f) {
         if (!f.Acting(Action::kRead) || !f.in.target.masked) return false;
         return !(f.is_author || f.in.rel.medecin_traitant || f.in.rel.administrator);
     },
     [](const Facts& f) { return Permit(f.emergency, Notice::kImmediate); }},
    {"care access",
     [](const Facts&) { return true; },
     [](const Facts& f) { return PermitCare(f); }},
};
// clang-format on

struct Verdict {
    Decision decision;
    std::string_view rule;  // the name of the rule that gave it
};

inline Verdict Evaluate(const DecisionInput& in) {
    const Facts facts(in);
    for (const Rule& rule : kRules) {
        if (rule.when(facts)) return {rule.then(facts), rule.name};
    }
    return {Refuse(Reason::kNotPermitted), "unreachable"};  // the last rule always matches
}

}  // namespace carnet::access::reference
