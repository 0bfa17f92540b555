#pragma once
/// The access decision: one pure function, `Decide`, for every access to patient data
/// (../shared/DESIGN.md, "Access, in the order it is decided"). It reads nothing and writes
/// nothing: the caller loads the facts (access/context.hpp) inside the transaction that
/// will carry the data and the audit entry, asks, and honours the obligations.
#include <cstdint>
#include <string>
#include <string_view>

#include "access/grid.hpp"

namespace carnet::access {

/// Who is asking.
enum class ActorKind : uint8_t {
    kPatient,       // a person with a patient account (acting for self or for others)
    kProfessional,  // a health or social professional from the directory
    kAdvisor,       // operator staff
    kAdmin,         // operator staff
    kSystem,        // the server itself: imports, purges, the command line
};

struct Actor {
    ActorKind kind = ActorKind::kPatient;
    std::string account_id;
    /// Profession code of a professional (auth::Professions(): "medecin", "pharmacien",
    /// … and the categories that never read content: "assureur", "employeur",
    /// "medecin-travail").
    std::string profession;
    /// A SAMU regulation physician (directory specialty "regulation-samu"): may open ETREAT.
    bool samu_regulator = false;
    /// The person proved who they are within the re-authentication window (break-the-glass).
    bool fresh_auth = false;
};

/// Why the actor is asking (IHE/HL7 PurposeOfUse).
enum class Purpose : uint8_t {
    kTreatment,  // TREAT: ordinary care
    kEtreat,     // ETREAT: SAMU regulation
    kBtg,        // BTG: break-the-glass by any professional
};

enum class Action : uint8_t {
    kRead,            // read, vread, search result, _include, history entry, binary
    kCreate,          // a new resource in the record
    kUpdate,          // a new version of an existing resource
    kDelete,          //
    kExport,          // the whole record as a file
    kReadAudit,       // the record's access log (professionals: their own entries only)
    kManage,          // the patient's settings: blocks, roles, switches, codes, masking
    kMessage,         // secure messaging with the record's holder
    kOpenEmergency,   // start an emergency access (ETREAT or BTG) to this record
    kRedeemCode,      // use a temporary access code the patient handed over
    kReleaseDocument  // make a document hidden from the patient visible to them
};

/// The record's state and the holder's choices.
struct PatientSettings {
    /// Account status: "active", "pending" (not activated yet), "none" (records without an
    /// account: imported data), "opposed", "closed", "deleted".
    std::string status = "active";
    bool etreat_enabled = true;              // SAMU regulation may open the record
    bool btg_enabled = true;                 // break-the-glass may open the record
    bool emergency_includes_masked = false;  // emergency access sees masked documents
    bool emergency_only = false;             // professionals only through emergency access
    bool minor = false;                      // under 18: representatives manage it
};

/// What the actor is to this record, now.
struct Relationship {
    bool self = false;            // the holder
    bool representative = false;  // legal representative of a minor
    bool caregiver = false;       // named by the holder
    bool authorised = false;      // the holder authorised this professional (or a code did)
    bool via_code = false;        // ... and the authorisation came from an access code
    bool blocked = false;         // the holder blocked this professional
    bool medecin_traitant = false;
    bool sage_femme_referente = false;
    bool pharmacien_correspondant = false;
    bool administrator = false;  // a professional the holder named "administrator"
    /// An emergency access in force for this actor (ETREAT or BTG grant) until this time.
    int64_t emergency_until_us = 0;
    Purpose emergency_kind = Purpose::kBtg;
};

/// What is being accessed. For record-level actions (export, manage, search start) only
/// `patient_id` matters and `category` is kRecord.
struct Target {
    std::string resource_type;
    std::string patient_id;  // the record; empty: not patient data (directory, terminology)
    Category category = Category::kRecord;
    bool sensitive = false;  // a sensitive document type (the P cells of the grid)
    std::string author_account;
    bool masked = false;                       // hidden from professionals by the holder
    int64_t hidden_from_patient_until_us = 0;  // not yet visible to the patient (0: visible)
    bool hidden_from_representatives = false;  // confidential care of a minor
    /// For kRedeemCode/kOpenEmergency: the actor gave a written reason (BTG).
    bool reason_given = false;
    /// The resource's id (not used by Decide: for the log and for re-validating decisions).
    std::string resource_id;
};

/// Why access was given, or the rule that refused it.
enum class Basis : uint8_t {
    kNone,
    kSelf,
    kRepresentative,
    kCaregiver,
    kAuthorised,
    kCode,
    kMedecinTraitant,
    kDesignated,  // sage-femme référente, pharmacien correspondant, administrator
    kEtreat,
    kBtg,
    kAuthor,  // a professional's access to what they wrote
    kNotPatientData,
    kSystem,
};

enum class Reason : uint8_t {
    kAllowed,
    kNeverContent,         // insurer, employer, occupational physician, operator staff
    kRecordInactive,       // opposed, closed (for others than the holder), deleted
    kRecordReadOnly,       // closed: an archive, no writes
    kBlocked,              // the holder blocked this professional
    kNoBasis,              // no relation, authorisation, role or emergency access
    kEmergencyOnly,        // the holder allows professionals only in emergencies
    kEmergencyDisabled,    // the holder switched this emergency mode off
    kNotRegulator,         // ETREAT by someone who is not a SAMU regulator
    kNeedsFreshAuth,       // break-the-glass needs a fresh authentication
    kNeedsReason,          // break-the-glass needs a written reason
    kGrid,                 // the grid does not allow this profession this class
    kMasked,               // hidden from professionals by the holder
    kHiddenFromPatient,    // awaiting the announcement consultation
    kHiddenFromDelegates,  // confidential care of a minor / not for caregivers
    kNotAuthor,            // only the author changes or deletes what they wrote
    kNotPermitted,         // this role never does this action
};

enum class Notice : uint8_t {
    kNone,
    kCoalesced,  // "your record was opened": once per professional per day
    kImmediate,  // emergency access: at once, and to the médecin traitant too
};

struct Decision {
    bool allow = false;
    Basis basis = Basis::kNone;
    Reason reason = Reason::kNoBasis;
    /// Obligations when allowed (the audit entry is always owed for patient data, allowed
    /// or refused).
    Notice notice = Notice::kNone;
    bool emergency = false;  // flag the log entry
    bool audit = true;       // false only for data that is not a patient's
};

struct DecisionInput {
    Actor actor;
    PatientSettings patient;
    Relationship rel;
    Target target;
    Action action = Action::kRead;
    /// For kOpenEmergency: which mode is asked.
    Purpose purpose = Purpose::kTreatment;
    int64_t now_us = 0;
};

/// The decision. Pure: same input, same output; no I/O, no clock, no globals.
Decision Decide(const Grid& grid, const DecisionInput& in);

/// Categories of professions that never read content, whatever the grid or the patient says.
bool NeverContent(const Actor& actor);

std::string_view BasisName(Basis b);    // "self", "representative", … "BTG", "ETREAT"
std::string_view ReasonName(Reason r);  // "allowed", "blocked", …
std::string_view ActionName(Action a);  // "read", "create", …

}  // namespace carnet::access
