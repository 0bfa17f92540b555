#pragma once
/// The access service: what docs/ACCESS-API.md offers, one method per operation. Each runs in
/// ONE store transaction: the facts are loaded (context.hpp), `Decide` rules, the effect is
/// applied only when allowed, and the decision's log entry and notices are written
/// (obligations.hpp) — for refusals too: a refusal is the method's error, returned after the
/// transaction that holds its log entry has committed.
///
/// Refusals answer like the record does not exist (kNotFound, one fixed message) unless the
/// caller already has a relation to the record (holder, representative, caregiver, a
/// professional the holder authorised, blocked or named, or one with an emergency access in
/// force): then kForbidden, whose diagnostics start with the rule (`blocked: …`,
/// `needs-fresh-auth: …`).
#include <boost/json/object.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "access/context.hpp"
#include "access/decision.hpp"
#include "audit/audit.hpp"
#include "core/clock.hpp"
#include "core/result.hpp"
#include "store/store.hpp"

namespace carnet::access {

/// An access code lives this long, and is void after this many wrong tries.
inline constexpr int64_t kCodeDurationUs = 24LL * 3600 * 1'000'000;
inline constexpr int64_t kCodeTries = 5;
/// Codes open at once per record (a new one beyond this is refused until one is revoked).
inline constexpr int64_t kMaxOpenCodes = 10;
/// Characters of an access code (Crockford base32: 5 bits each).
inline constexpr size_t kCodeLength = 10;
/// Break-the-glass needs a written reason at least this long (characters).
inline constexpr size_t kMinBtgReason = 10;
/// The holder is told of a document hidden from them this long before it shows.
inline constexpr int64_t kHiddenWarningUs = 15LL * 24 * 3600 * 1'000'000;

/// The diagnostics of every "no such record" answer (unknown record, or a refusal to a
/// stranger): one text, so that the two cannot be told apart.
inline constexpr std::string_view kNoRecord = "dossier introuvable";

/// Roles the holder names; the first three are held by one professional at a time.
inline constexpr std::string_view kRoleMedecinTraitant = "medecin-traitant";
inline constexpr std::string_view kRoleSageFemme = "sage-femme-referente";
inline constexpr std::string_view kRolePharmacien = "pharmacien-correspondant";
inline constexpr std::string_view kRoleAdministrator = "administrator";

/// "ABCDEFGHJK" → "ABCD-EFGH-JK".
std::string GroupAccessCode(std::string_view code);
/// What a person typed → the 10 characters, or "" when it cannot be a code: upper case,
/// dashes and spaces dropped, O→0, I/L→1 (Crockford); U and other characters refused.
std::string NormalizeAccessCode(std::string_view text);

struct SettingsChange {
    std::optional<bool> etreat, btg, emergency_masked, emergency_only, mask_new, notify_email,
        notify_sms;
};

struct ProfessionalRow {
    std::string account_id;
    std::string name;
    std::string profession, profession_label, specialty, rpps;
    std::string status;  // authorised | blocked | known
    std::vector<std::string> roles;
    bool via_code = false;
    /// The newest allowed entry in the log (reading one's own log entries is no access).
    std::optional<int64_t> last_access_at;
};

struct ProfessionalChange {
    std::optional<std::string> status;
    std::optional<std::vector<std::string>> roles;
};

struct NewCode {
    std::string id;
    std::string code;  // grouped: XXXX-XXXX-XX; shown once, stored as a keyed hash
    int64_t expires_at = 0;
};

struct CodeInfo {
    std::string id;
    int64_t created_at = 0, expires_at = 0;
    std::string status;  // active | used | revoked | expired | void
    std::string used_by_name;
};

struct DocumentInfo {
    std::string type, id;
    std::string date;  // FHIR date or dateTime, as in the resource
    std::string title;
    std::string category;  // CategoryCode
    bool masked = false;
    int64_t hidden_until = 0;
    std::string author_name;
    /// The caller wrote it (a person may delete what they deposited).
    bool own = false;
    /// Its content, when the first attachment points to a Binary of Carnet ("Binary/{id}").
    std::string binary_id;
    std::string content_type;  // the attachment's
    int64_t size = 0;          // the attachment's, 0 when not given
    /// DocumentReference.status: current | superseded | entered-in-error (a retraction).
    std::string status = "current";
    /// The document this one replaces (relatesTo replaces), and the one that replaced it:
    /// both only when that document is in the same list (what the reader may not see is
    /// never named).
    std::string replaces, replaced_by;
};

/// Fills what a DocumentReference's body says (date, title, author's display, content,
/// status, what it replaces) into `info`.
void DescribeDocument(const boost::json::object& doc, DocumentInfo& info);
/// "X" of the first `relatesTo` with code "replaces" and target "DocumentReference/X" (an
/// optional "/_history/n" dropped); "" when there is none.
std::string ReplacedIdOf(const boost::json::object& doc);
/// A list as one reader gets it: drops what its author retracted (entered-in-error) unless
/// the reader wrote it, then links versions within what remains (`replaced_by` set, and a
/// `replaces` naming a document outside the list cleared).
void LinkVersions(std::vector<DocumentInfo>& list);

struct LogQuery {
    std::string outcome;  // "", "allow", "deny"
    bool emergency_only = false;
    std::optional<int64_t> since_us, until_us;
    int64_t before_seq = 0;
    int limit = 50;  // 1..200
};

struct LogLine {
    audit::StoredEntry stored;
    std::string actor_name;
};

struct LogPage {
    std::vector<LogLine> entries;
    /// One record's log: pass as `before_seq` for the next (older) page; null at the end.
    std::optional<int64_t> next_before;
    /// A professional's own log across records: pass as `until_us` for the next page.
    std::optional<int64_t> next_until;
};

struct EmergencyInfo {
    std::string id, professional_name, kind, reason;
    int64_t opened_at = 0, until = 0;
};

struct Redeemed {
    std::string patient_id, name;
};

struct ReachableRecord {
    std::string patient_id, name, basis;
    std::optional<int64_t> until;  // emergency access: its end
};

struct GridVersion {
    int64_t version = 0;
    int64_t created_at = 0;
    std::string created_by;
};

struct GridAnswer {
    GridVersion version;
    std::string grid_json;  // {"professions":{…}}
};

/// The answer to a refused decision about record `facts` (`exists`: the record exists): the
/// rule (403, diagnostics starting with its name) to someone with a relation to the record,
/// else the same 404 `not_found` as a record that does not exist.
Error RefusalOf(const RecordFacts& facts, bool exists, Reason reason,
                std::string_view not_found = kNoRecord);

/// What a list shows of a document (title, date, content, flags) for `reader`; the author's
/// name is left to the caller (an account's name needs a query).
DocumentInfo DescribeDocument(const store::ResourceVersion& doc, const DocFlags* flags,
                              Category category, const std::string& reader, int64_t now_us);

class AccessService {
  public:
    AccessService(store::Store& store, const Clock& clock, GridStore& grids, std::string secret_key,
                  std::string portal_url);

    // ---- the holder's controls (holder, or a representative of a minor): kManage ----
    Result<Settings> GetSettings(const Actor& actor, const std::string& pid,
                                 const std::string& request_id);
    Result<Settings> PutSettings(const Actor& actor, const std::string& pid,
                                 const std::string& request_id, const SettingsChange& change);
    Result<std::vector<ProfessionalRow>> ListProfessionals(const Actor& actor,
                                                           const std::string& pid,
                                                           const std::string& request_id);
    Result<ProfessionalRow> PutProfessional(const Actor& actor, const std::string& pid,
                                            const std::string& request_id,
                                            const std::string& account,
                                            const ProfessionalChange& change);
    Status RemoveProfessional(const Actor& actor, const std::string& pid,
                              const std::string& request_id, const std::string& account);
    Result<NewCode> CreateCode(const Actor& actor, const std::string& pid,
                               const std::string& request_id);
    Result<std::vector<CodeInfo>> ListCodes(const Actor& actor, const std::string& pid,
                                            const std::string& request_id);
    Status RevokeCode(const Actor& actor, const std::string& pid, const std::string& request_id,
                      const std::string& code_id);
    /// The record's DocumentReferences with their flags; each is decided (kRead) so that
    /// what is hidden from the caller is not listed. One log entry: read, with the count.
    Result<std::vector<DocumentInfo>> ListDocuments(const Actor& actor, const std::string& pid,
                                                    const std::string& request_id);
    Status SetMasked(const Actor& actor, const std::string& pid, const std::string& request_id,
                     const std::string& type, const std::string& id, bool masked);
    Result<std::vector<EmergencyInfo>> ListEmergencies(const Actor& actor, const std::string& pid,
                                                       const std::string& request_id);

    /// The record's log (kReadAudit): professionals get their own entries only.
    Result<LogPage> ReadLog(const Actor& actor, const std::string& pid,
                            const std::string& request_id, const LogQuery& query);

    // ---- professionals ----
    /// `ins` or `patient` names the record. Every failure to find the record or the code is
    /// the same kNotFound; a wrong code counts a try on every open code of the record.
    Result<Redeemed> RedeemCode(const Actor& actor, const std::string& request_id,
                                const std::string& ins, const std::string& patient,
                                const std::string& code);
    /// `purpose` "BTG" (reason ≥ kMinBtgReason characters, fresh authentication) or
    /// "ETREAT" (SAMU regulators). Returns the end of the access.
    Result<int64_t> OpenEmergency(const Actor& actor, const std::string& pid,
                                  const std::string& request_id, const std::string& purpose,
                                  const std::string& reason);
    /// The record of an INS (from the patient's card, in an emergency), or the same
    /// kNotFound as an unknown record.
    Result<std::string> RecordOfIns(const std::string& ins);
    Status ReleaseDocument(const Actor& actor, const std::string& pid,
                           const std::string& request_id, const std::string& type,
                           const std::string& id);
    /// The records this professional may open now (authorisation, role, emergency access).
    Result<std::vector<ReachableRecord>> ReachablePatients(const Actor& actor);
    /// This professional's own entries, every record (newest first).
    Result<LogPage> OwnLog(const Actor& actor, const LogQuery& query);

    // ---- the grid ----
    Result<GridAnswer> GetGrid();
    Result<std::vector<GridVersion>> GridVersions();
    /// Admins only (ActorKind::kAdmin): a new version. Every known profession that may read
    /// content must have a row, and no other row is accepted.
    Result<GridVersion> PutGrid(const Actor& actor, const std::string& request_id,
                                const std::string& grid_json);

    /// Documents still hidden from the patient that show within kHiddenWarningUs and whose
    /// holder was not told yet: tells the holder (hidden_document_notice) and marks them, in
    /// one transaction. Returns how many documents were announced.
    Result<int> SweepHidden(int64_t now_us);

  private:
    struct Gate;
    /// Loads the facts and decides, in `txn`. `exists` false: no such record.
    Result<Gate> Ask(store::WriteTxn& txn, const Actor& actor, const std::string& pid,
                     Action action, const Target& target, Purpose purpose, int64_t now_us);
    /// One of the holder's management requests: in one write transaction, the record-level
    /// `manage` decision is made and logged; refused, its refusal is the answer; allowed,
    /// `body(txn, gate, outcome)` gives the answer (a value, or a refusal of its own).
    template <typename T, typename Body>
    Result<T> Managed(const Actor& actor, const std::string& pid, const std::string& request_id,
                      const Body& body);
    /// Writes the gate's entry and notices (allowed and refused alike).
    Status Log(store::WriteTxn& txn, const Gate& gate, const Actor& actor,
               const std::string& request_id, int64_t count = 0);
    [[nodiscard]] std::string CodeHash(const std::string& pid, const std::string& code) const;
    Result<ProfessionalRow> LoadProfessional(store::Reader& txn, const std::string& pid,
                                             const std::string& account);
    Result<LogPage> List(store::Reader& txn, audit::Filter filter);

    store::Store& store_;
    const Clock& clock_;
    GridStore& grids_;
    std::string secret_key_;
    std::string portal_url_;
};

}  // namespace carnet::access
