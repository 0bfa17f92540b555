#pragma once
/// FHIR R4 REST semantics over the store (http://hl7.org/fhir/R4/http.html): read, vread,
/// create (incl. conditional If-None-Exist), update (incl. If-Match and conditional update),
/// delete, history, search, and transaction/batch Bundles. Plain functions of their inputs:
/// no HTTP types here (api/routes.cpp maps requests and responses).
#include <boost/json/object.hpp>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "api/access_scope.hpp"
#include "api/binary_content.hpp"
#include "api/search_params.hpp"
#include "core/clock.hpp"
#include "core/result.hpp"
#include "store/store.hpp"

namespace carnet::api {

using QueryParams = std::vector<std::pair<std::string, std::string>>;

/// Outcome of a write: the stored version and the HTTP status it deserves.
struct WriteOutcome {
    store::ResourceVersion resource;
    int status = 200;     // 201 created, 200 updated / existing
    bool changed = true;  // false: no new version (identical update, matched If-None-Exist)
};

/// A source that writes into records on its own authority, through the system caller: the
/// insurer's claims feed (`carnet import --feed insurer`, docs/PROFILE.md). What it writes is
/// authored by it (access_flags.author_kind, no account: nobody may change it) and each
/// version gets a Provenance naming it.
struct FeedSource {
    std::string kind = "insurer";
    std::string display = "Assurance Maladie";
    /// The resource types it may write. Not Patient: a feed names records by their INS
    /// (conditional references), it never rewrites who a person is.
    std::vector<std::string> types = {"MedicationDispense", "Encounter", "Immunization",
                                      "Procedure"};
    [[nodiscard]] bool Carries(const std::string& type) const {
        for (const auto& t : types) {
            if (t == type) return true;
        }
        return false;
    }
};

struct BundleOptions {
    /// Import mode: POST entries keep the id their fullUrl (urn:uuid:X) or resource carries,
    /// and re-posting identical content creates no new version, so imports are idempotent.
    bool keep_client_ids = false;
    /// Written on behalf of this feed (entries of other types are refused one by one).
    std::optional<FeedSource> feed;
};

/// Counts of what a Bundle did (for the importer's summary).
struct BundleStats {
    int created = 0;
    int updated = 0;
    int unchanged = 0;
    int failed = 0;
};

class FhirService {
  public:
    FhirService(store::Store& store, const Clock& clock) : store_(store), clock_(clock) {}

    /// Checked inside the write transaction before every version written into a patient's
    /// compartment (create, update, delete, Bundle entries): an error refuses the whole
    /// write. The server sets it to refuse deposits into the record of a person who opposed
    /// the service or closed their space (auth::CheckRecordWritable). Set before serving.
    using WriteGate = std::function<Status(store::Reader& txn, const std::string& patient_id)>;
    void SetWriteGate(WriteGate gate) { write_gate_ = std::move(gate); }

    /// Every path to patient data goes through the access decision when a caller other than
    /// the system calls and SetAccess was given: the decision, the data and the access-log
    /// entry share one store transaction. A refused read answers exactly like a missing
    /// resource (kNotFound "resource not found").
    void SetAccess(AccessConfig config) { access_ = std::move(config); }

    /// Types another service serves as a read-only FHIR view (Communication: the messaging
    /// service's messages). They are not stored here, so a Bundle entry naming one is refused
    /// (405 not-supported) instead of becoming an ordinary resource beside the view. Set
    /// before serving (RegisterFhirRoutes does, with the view's routes).
    void SetViewTypes(std::set<std::string, std::less<>> types) { view_types_ = std::move(types); }

    /// Limits and rules for documents' content (Binary): set before serving.
    void SetContentPolicy(ContentPolicy policy) { content_ = policy; }
    [[nodiscard]] const ContentPolicy& content_policy() const { return content_; }
    [[nodiscard]] const Clock& clock() const { return clock_; }

    /// A Binary and its content, for serving the raw bytes: the read is decided and logged
    /// like any read; `content` streams the stored blob (nullptr for a Binary kept inline,
    /// outside any record, whose bytes are in `resource.json`).
    struct BinaryContent {
        store::ResourceVersion resource;
        std::unique_ptr<store::BlobSource> content;
    };
    Result<BinaryContent> ReadBinary(const std::string& id, const Caller& caller);

    /// POST of raw bytes as a Binary (R4 http 3.1.0.1: Content-Type gives the type,
    /// X-Security-Context the record): `raw` is read once, streamed through the checks and
    /// into the store, in the transaction that writes the Binary. The returned resource has
    /// no `data`.
    Result<WriteOutcome> CreateBinary(const std::string& declared_type,
                                      const std::string& security_context,
                                      const store::ChunkSource& raw, const Caller& caller);

    /// `base_url` ends with "/fhir" and prefixes fullUrl and links. A Binary of a record is
    /// read with its content in `data` (base64), from its blob.
    Result<store::ResourceVersion> Read(const std::string& type, const std::string& id,
                                        const Caller& caller = Caller::System());
    Result<store::ResourceVersion> VRead(const std::string& type, const std::string& id,
                                         const std::string& version,
                                         const Caller& caller = Caller::System());
    Result<WriteOutcome> Create(const std::string& type, boost::json::object resource,
                                const std::optional<std::string>& if_none_exist,
                                const Caller& caller = Caller::System());
    /// `if_match`: the ETag the client holds (W/"3"); mismatch → kPreconditionFailed.
    Result<WriteOutcome> Update(const std::string& type, const std::string& id,
                                boost::json::object resource,
                                const std::optional<std::string>& if_match,
                                const Caller& caller = Caller::System());
    /// PUT Type?criteria.
    Result<WriteOutcome> ConditionalUpdate(const std::string& type, const QueryParams& criteria,
                                           boost::json::object resource,
                                           const Caller& caller = Caller::System());
    Result<WriteOutcome> Delete(const std::string& type, const std::string& id,
                                const Caller& caller = Caller::System());
    /// Retraction of a document by its author (docs/DOCUMENTS.md, "Retraction"): the
    /// DocumentReference `id` of record `patient_id` gets a version with status
    /// "entered-in-error", decided as an update (only its author). Its earlier versions stay
    /// in history. Already retracted: no new version (changed false). kNotFound when it is
    /// not a document of that record or the caller may not read it; a refused update as any
    /// refused write (403 with the rule, or 404 to who may not open the record).
    Result<WriteOutcome> Retract(const std::string& patient_id, const std::string& id,
                                 const Caller& caller = Caller::System());

    /// A searchset Bundle as JSON text.
    Result<std::string> Search(const std::string& type, const QueryParams& params, bool lenient,
                               const std::string& base_url,
                               const Caller& caller = Caller::System());
    /// A history Bundle (type and id may be empty for type/system level).
    Result<std::string> History(const std::string& type, const std::string& id,
                                const QueryParams& params, const std::string& base_url,
                                const Caller& caller = Caller::System());
    /// transaction or batch → transaction-response / batch-response Bundle JSON.
    Result<std::string> ProcessBundle(boost::json::object bundle, const std::string& base_url,
                                      const BundleOptions& options = {},
                                      BundleStats* stats = nullptr,
                                      const Caller& caller = Caller::System());

    /// Runs `job` in one write transaction with the caller's Scope (nullptr for the system
    /// or without SetAccess). The job's data work runs in a savepoint: when it fails, its
    /// writes are undone but the log entries of the decisions it made still commit; its
    /// status is returned.
    Status WithScope(const Caller& caller,
                     const std::function<Status(store::WriteTxn&, Scope*)>& job);
    /// For reads: `job` runs on a reader snapshot (in parallel with other reads), then one
    /// writer job writes its log entries and re-makes each decision from the state current
    /// at commit (Scope::StillValid). When a consent change came in between, that is rolled
    /// back and `job` runs again inside the writer (WithScope): no read is answered on a
    /// decision the committed state no longer supports. `job` must be re-runnable.
    Status WithReadScope(const Caller& caller,
                         const std::function<Status(store::Reader&, Scope*)>& job);

    /// Checks the structure of a resource body for `type` (resourceType, id rules, R4
    /// validation). Exposed for $validate and the importer.
    static Status CheckResource(const std::string& type, const boost::json::object& resource);

  private:
    store::Store& store_;
    const Clock& clock_;
    /// Held across the write of every conditional create, conditional update and Bundle with
    /// such entries: their search-then-write must not interleave with another one. SQLite
    /// runs write jobs one at a time anyway; PostgreSQL runs write transactions concurrently
    /// (READ COMMITTED), where two If-None-Exist creates would both see no match and both
    /// insert. TODO(store): a lock inside the store (advisory lock) for several server
    /// processes on one database.
    std::mutex conditional_write_mu_;
    WriteGate write_gate_;
    AccessConfig access_;
    ContentPolicy content_;
    std::set<std::string, std::less<>> view_types_;
    Result<store::ResourceVersion> ReadDecided(const std::string& type, const std::string& id,
                                               const Caller& caller);
    Result<store::ResourceVersion> VReadDecided(const std::string& type, const std::string& id,
                                                const std::string& version, const Caller& caller);
    /// A Binary's JSON with `data` filled from its blob (unchanged when it has none).
    Result<store::ResourceVersion> WithBinaryData(store::ResourceVersion rv);
    /// store_.Write with every Put passed through write_gate_.
    Status Write(const std::function<Status(store::WriteTxn&)>& job);
};

/// ETag value for a version: W/"3".
std::string ETagFor(int64_t version);
/// Parses W/"3" or "3"; nullopt when malformed.
std::optional<int64_t> ParseETag(const std::string& etag);
/// Parses "a=1&b=2" (percent-decoded) into pairs.
QueryParams ParseQueryString(std::string_view text);

}  // namespace carnet::api
