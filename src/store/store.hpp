#pragma once
/// The storage interface: two engines (sqlite/, postgres/) behind it, one behavioural test
/// suite over both (tests/store/store_test.cpp). The store never decides access: callers
/// (api/ through access/) do. It encrypts every resource body with the owning patient's
/// data key (crypto/) before it reaches disk, and decrypts on read.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "core/result.hpp"
#include "store/index_values.hpp"

namespace carnet::store {

/// A value in the service tables (accounts, sessions, outbox, audit…), which are plain SQL
/// rows rather than FHIR resources: NULL, integer, real or text. Binary data is stored as
/// text (base64 or hex) so that the same SQL runs on both engines.
using Value = std::variant<std::nullptr_t, int64_t, double, std::string>;
using Row = std::vector<Value>;

/// Typed access to a column of a Row; a NULL or another type gives the fallback.
inline int64_t AsInt(const Value& v, int64_t fallback = 0) {
    if (const auto* n = std::get_if<int64_t>(&v)) return *n;
    return fallback;
}
inline std::string AsText(const Value& v) {
    if (const auto* s = std::get_if<std::string>(&v)) return *s;
    return {};
}
inline bool IsNull(const Value& v) { return std::holds_alternative<std::nullptr_t>(v); }

/// One stored version of a resource. `json` is the plain FHIR JSON (meta.versionId and
/// meta.lastUpdated already set by the caller).
struct ResourceVersion {
    std::string type;
    std::string id;
    int64_t version = 0;  // 1, 2, …
    int64_t last_updated_us = 0;
    bool deleted = false;
    std::string patient_id;  // owning patient (compartment); empty for non-patient data
    std::string json;        // empty for a deletion
};

/// A write of a new version. The store assigns nothing: the caller computed version,
/// timestamps and the body; the store checks `expected_previous_version` atomically.
struct PutRequest {
    ResourceVersion resource;
    IndexValues index;
    /// The version that must be current (deletion markers included) for the write to
    /// succeed; 0: the resource must never have existed. Mismatch → Code::kConflict: a
    /// concurrent writer got there first (the api maps If-Match failures to 412 itself).
    int64_t expected_previous_version = 0;
};

// ---- search ---------------------------------------------------------------------------

enum class Prefix { kEq, kNe, kLt, kGt, kLe, kGe, kSa, kEb, kAp };

enum class StringMatch { kStartsWith, kExact, kContains };

/// One value of one parameter; a Clause ORs several, a query ANDs clauses.
struct Predicate {
    enum class Kind { kToken, kString, kDate, kReference, kQuantity, kId, kLastUpdated };
    Kind kind = Kind::kToken;
    std::string param;  // search parameter code (empty for kId / kLastUpdated)
    // token: system (nullopt: any system; "" : no system), code (nullopt: any code)
    std::optional<std::string> system;
    std::optional<std::string> code;
    bool negate = false;  // token :not
    // string
    std::string text;  // already normalised for kStartsWith / kContains
    StringMatch match = StringMatch::kStartsWith;
    // date / lastUpdated / quantity / number
    Prefix prefix = Prefix::kEq;
    int64_t low_us = 0, high_us = 0;         // date: the period the search value denotes
    double number = 0;                       // quantity/number value
    double number_low = 0, number_high = 0;  // implicit precision range for eq
    // reference: target type may be empty (any type)
    std::string target_type;
    std::string target_id;
    // _id
    std::string id;
};

struct Clause {
    std::vector<Predicate> any_of;  // OR
};

struct SortKey {
    enum class Field { kLastUpdated, kDateParam, kId };
    Field field = Field::kLastUpdated;
    std::string param;  // for kDateParam
    bool descending = false;
};

struct SearchQuery {
    std::string type;
    std::vector<Clause> all_of;   // AND
    std::optional<SortKey> sort;  // default: by internal order (insertion), stable
    int count = 20;               // page size, 0 allowed (count only)
    std::string cursor;           // opaque, from a previous SearchPage::next_cursor
    bool want_total = false;      // compute the total (for _summary=count / _total)
    /// When set: only resources of these patients' records, or of no patient's (directory,
    /// terminology). The access layer narrows a caller's searches to the records they may
    /// open before deciding on each result.
    std::optional<std::vector<std::string>> patients;
};

struct SearchPage {
    std::vector<ResourceVersion> resources;
    std::string next_cursor;  // empty when this is the last page
    std::optional<int64_t> total;
};

// ---- history --------------------------------------------------------------------------

struct HistoryQuery {
    std::string type;  // empty: whole system
    std::string id;    // empty: whole type
    std::optional<int64_t> since_us;
    int count = 50;
    std::string cursor;
};

struct HistoryPage {
    std::vector<ResourceVersion> versions;  // newest first
    std::string next_cursor;
};

// ---- binaries -------------------------------------------------------------------------

/// A document's content (a Binary's bytes), kept apart from resource bodies so that it is
/// never held whole in memory: sealed with the patient's data key as a stream of chunks
/// (crypto::StreamSealer), one row per chunk. Identified by (patient, id); the id is the
/// Binary resource's.
struct BlobMeta {
    std::string patient_id;
    std::string id;
    std::string content_type;
    int64_t size = 0;    // plaintext bytes
    int64_t chunks = 0;  // sealed chunks (≥ 1: an empty blob is one empty final chunk)
    int64_t created_at_us = 0;
    std::string header;  // the stream header (not secret)
};

/// Plaintext chunk size of a blob.
constexpr size_t kBlobChunkBytes = 256 * 1024;

/// Gives the next piece of a blob's content (any size), nullopt at the end.
using ChunkSource = std::function<Result<std::optional<std::string>>()>;

/// A stored blob read chunk by chunk, each chunk in its own short read (a slow download
/// holds no transaction open). A chunk that fails to open (tampering, truncation, the blob
/// deleted meanwhile) ends the stream with an error.
class BlobSource {
  public:
    virtual ~BlobSource() = default;
    [[nodiscard]] virtual const BlobMeta& Meta() const = 0;
    /// The next plaintext chunk; nullopt once the final chunk has been given.
    virtual Result<std::optional<std::string>> Next() = 0;
};

// ---- interfaces -----------------------------------------------------------------------

/// Reads: from a consistent snapshot.
class Reader {
  public:
    virtual ~Reader() = default;
    /// Current version (possibly a deletion marker with deleted=true), nullopt if never existed.
    virtual Result<std::optional<ResourceVersion>> ReadCurrent(const std::string& type,
                                                               const std::string& id) = 0;
    virtual Result<std::optional<ResourceVersion>> ReadVersion(const std::string& type,
                                                               const std::string& id,
                                                               int64_t version) = 0;
    /// Whether the resource was ever stored, its current version possibly a deletion (what
    /// ReadCurrent would find, from the index row alone: no body is read or decrypted).
    virtual Result<bool> Exists(const std::string& type, const std::string& id) = 0;
    virtual Result<SearchPage> Search(const SearchQuery& query) = 0;
    virtual Result<HistoryPage> History(const HistoryQuery& query) = 0;

    /// Service tables: one statement with `?` placeholders (renumbered for PostgreSQL), in
    /// this reader's snapshot. Integer columns come back as int64_t, text as std::string,
    /// NULL as nullptr. Never used for FHIR resources, whose bodies are sealed.
    virtual Result<std::vector<Row>> Query(const std::string& sql,
                                           const std::vector<Value>& params = {}) = 0;
    /// A blob's metadata, nullopt if there is none.
    virtual Result<std::optional<BlobMeta>> BlobMetaOf(const std::string& patient_id,
                                                       const std::string& id) = 0;
};

/// A write transaction: reads see its own writes.
class WriteTxn : public Reader {
  public:
    virtual Status Put(const PutRequest& request) = 0;
    /// Runs `fn` inside a nested savepoint: if it fails, only its own writes are undone and
    /// the transaction goes on (batch Bundles: entries fail independently, commit once).
    virtual Status Nested(const std::function<Status()>& fn) = 0;
    /// Service tables: one INSERT/UPDATE/DELETE in this transaction; the number of rows it
    /// changed. A unique-key violation is Code::kConflict.
    virtual Result<int64_t> Exec(const std::string& sql, const std::vector<Value>& params = {}) = 0;
    /// True when no other transaction can write while this one runs (SQLite: the one writer
    /// thread holds the database's write lock), so a row read here cannot change before
    /// commit and needs no row lock. False on PostgreSQL, where writers run side by side.
    virtual bool SoleWriter() const = 0;
    /// Stores a blob (`meta`: patient, id, content type and creation time; the rest is
    /// filled in) from `source`, sealed chunk by chunk with the patient's key (created if the
    /// patient has none yet). More than `max_bytes` of content: Code::kTooLarge, and the
    /// caller's job must fail (its savepoint drops the chunks written so far). An existing
    /// blob of that id: Code::kConflict.
    virtual Result<BlobMeta> PutBlob(BlobMeta meta, const ChunkSource& source,
                                     int64_t max_bytes) = 0;
    /// Removes a blob and its chunks; false if there was none.
    virtual Result<bool> DeleteBlob(const std::string& patient_id, const std::string& id) = 0;
};

struct StoreStats {
    int64_t resources = 0;  // current, non-deleted
    int64_t versions = 0;
    int64_t patients_with_keys = 0;
};

class Store {
  public:
    virtual ~Store() = default;

    /// Runs `job` inside one transaction. Jobs from many threads are grouped into one
    /// durable commit (group commit); a job's writes are all applied or none (its own
    /// savepoint). Returns the job's own status, or the commit's failure.
    virtual Status Write(const std::function<Status(WriteTxn&)>& job) = 0;

    /// A reader for the calling thread (engines keep one connection per thread or a pool).
    virtual Result<std::unique_ptr<Reader>> OpenReader() = 0;

    /// Streams a committed blob; Code::kNotFound if there is none. The caller has decided
    /// access to it already (through the Binary resource it belongs to).
    virtual Result<std::unique_ptr<BlobSource>> OpenBlob(const std::string& patient_id,
                                                         const std::string& id) = 0;

    /// Destroys the patient's data key and every row keyed by that patient (crypto-shredding).
    virtual Status PurgePatient(const std::string& patient_id) = 0;

    /// Store reachable (for /readyz).
    virtual Status Ping() = 0;
    virtual Result<StoreStats> Stats() = 0;
    /// Engine name: "sqlite" or "postgres".
    [[nodiscard]] virtual std::string Engine() const = 0;
    /// Flushes and closes; later calls fail with kUnavailable.
    virtual void Close() = 0;
};

}  // namespace carnet::store
