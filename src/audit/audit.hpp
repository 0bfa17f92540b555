#pragma once
/// The access log: one entry per access decision on patient data (allowed and refused),
/// written by the caller in the same store transaction as the access it records. Entries
/// hold no health content. Each patient's entries form a hash chain (seq 1, 2, …; each
/// hash covers the previous one); a checkpoint, written at least every minute by the
/// server, signs (Ed25519, key derived from the master key) the heads of the chains that
/// moved since the previous checkpoint and chains to it. Each checkpoint is also appended
/// to a witness file outside the database, so that an old backup restored over a newer
/// log is detected. `Verify` checks all of it and names the first broken entry.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.hpp"
#include "core/result.hpp"
#include "crypto/crypto.hpp"
#include "store/store.hpp"

namespace carnet::audit {

struct Entry {
    std::string patient_id;
    int64_t at_us = 0;
    std::string actor_account;     // "" for the system
    std::string actor_kind;        // patient | professional | advisor | admin | system
    std::string actor_profession;  // professionals
    std::string action;            // access::ActionName
    std::string resource_type;     // "" for record-level actions
    std::string resource_id;
    std::string category;  // access::CategoryCode
    std::string basis;     // access::BasisName
    std::string outcome;   // "allow" | "deny"
    std::string reason;    // access::ReasonName
    std::string purpose;   // TREAT | ETREAT | BTG
    bool emergency = false;
    int64_t count = 0;  // search: entries returned
    std::string request_id;
};

/// An entry as stored, with its place in the chain.
struct StoredEntry {
    Entry entry;
    int64_t seq = 0;
    std::string hash;  // hex
};

/// Appends `entry` to its patient's chain inside `txn`. Safe under concurrent writers on
/// PostgreSQL (the patient's head row is locked for the rest of the transaction).
Status Append(store::WriteTxn& txn, const Entry& entry);

/// The canonical bytes hashed for an entry (exposed for tests and the verifier).
std::string Canonical(const Entry& e, int64_t seq, const std::string& prev_hash_hex);
/// hex(BLAKE2b-256(prev_hash_hex || canonical)).
std::string ChainHash(const Entry& e, int64_t seq, const std::string& prev_hash_hex);

struct Filter {
    std::string patient_id;
    std::string actor_account;  // only this actor's entries (professionals)
    std::optional<int64_t> since_us, until_us;
    std::string outcome;  // "", "allow", "deny"
    bool emergency_only = false;
    int limit = 100;
    int64_t before_seq = 0;  // paging: entries with seq < before_seq (0: newest)
};
/// Newest first. Times are [since_us, until_us). With a patient: ordered by seq, paged with
/// before_seq. Without one (an actor's own entries across records, `actor_account`
/// required): ordered by time, paged with until_us (before_seq is ignored). `limit` is
/// clamped to 1..1000. Neither a patient nor an actor: kInvalid.
Result<std::vector<StoredEntry>> List(store::Reader& reader, const Filter& filter);

/// Signs checkpoints. The key pair is derived from the master key ("audit-checkpoints").
class Signer {
  public:
    explicit Signer(const crypto::MasterKey& master);
    ~Signer();  // wipes the secret key
    Signer(const Signer&) = default;
    Signer& operator=(const Signer&) = default;
    Signer(Signer&&) = default;
    Signer& operator=(Signer&&) = default;
    [[nodiscard]] std::string Sign(const std::string& message) const;  // hex signature
    [[nodiscard]] const std::string& PublicKeyHex() const { return public_hex_; }
    static bool VerifySignature(const std::string& public_hex, const std::string& message,
                                const std::string& signature_hex);

  private:
    std::string secret_;  // 64 bytes (libsodium's Ed25519 secret key)
    std::string public_hex_;
};

/// Writes a checkpoint if some chain moved since the last one (or `force`): the heads that
/// moved, the previous checkpoint's hash, the time; signed; appended to `witness` (one JSON
/// line per checkpoint; the file is created 0600) after the commit. Returns the new seq, or
/// 0 when nothing moved. A head counts as moved when its last entry is stamped no earlier
/// than two minutes before the previous checkpoint (an entry may commit a little after its
/// stamp) and no recent checkpoint signed it as it is. A witness write that fails after the commit
/// is an error whose detail names the committed seq (the verifier accepts a witness behind).
Result<int64_t> WriteCheckpoint(store::Store& store, const Signer& signer,
                                const std::filesystem::path& witness, const Clock& clock,
                                bool force = false);

/// `what`, for an entry (at most one problem per patient: the first broken entry):
///   "hash mismatch"   the entry's hash is not the hash of its fields and its predecessor's
///                     (a field rewritten, or entries moved)
///   "out of order"    an authentic entry at another seq than its own (entries swapped)
///   "missing entry"   a gap: this seq is absent and a later one is present
///   "truncated"       this seq and every later one are absent, but a checkpoint or the
///                     head row names a later seq
///   "not as signed"   the chain is consistent but its hash at this seq is not the one a
///                     checkpoint signed: an entry at or before it was rewritten and the
///                     chain recomputed (`detail` gives the range)
///   "head mismatch"   the head row does not match the last entry
/// for a checkpoint (patient_id empty, seq = the checkpoint's):
///   "missing checkpoint"  absent from the database: a gap, or only in the witness file
///                         (an older backup restored over a newer log)
///   "bad signature", "checkpoint hash mismatch", "broken link" (prev is not the previous
///   checkpoint's hash), "invalid checkpoint" (payload unreadable or not matching its row),
///   "witness mismatch" (the witness file holds another checkpoint under that seq),
///   "invalid witness line" (unreadable, or its hash or signature does not verify).
struct Problem {
    std::string patient_id;  // empty for checkpoint problems
    int64_t seq = 0;         // the first broken entry (or checkpoint seq)
    std::string what;        // one of the kinds above
    std::string detail;      // for people: which checkpoint, which seq range…
};

struct Report {
    int64_t patients = 0;
    int64_t entries = 0;
    int64_t checkpoints = 0;
    int64_t witnessed = 0;          // valid lines in the witness file
    std::vector<Problem> problems;  // empty: the log is intact
    [[nodiscard]] bool ok() const { return problems.empty(); }
};

/// Recomputes every chain, checks every checkpoint's signature and link, that every head a
/// checkpoint signed is still present with that hash (deleted, truncated, reordered or
/// rewritten entries), and that the database holds every checkpoint the witness file holds
/// (an old backup restored over a newer log). `witness` may be empty: that check is skipped.
Result<Report> Verify(store::Store& store, const std::string& public_key_hex,
                      const std::filesystem::path& witness);

/// Writes a checkpoint every `every` on a background thread (`WriteCheckpoint`, not
/// forced). Stop() wakes it, joins it and writes a last checkpoint (skipped when nothing
/// moved); call it before closing the store. Failures are logged (never entry content) and
/// retried at the next tick.
class CheckpointLoop {
  public:
    CheckpointLoop(store::Store& store, const Signer& signer, std::filesystem::path witness,
                   const Clock& clock, std::chrono::seconds every = std::chrono::seconds(30));
    ~CheckpointLoop();  // Stop()
    CheckpointLoop(const CheckpointLoop&) = delete;
    CheckpointLoop& operator=(const CheckpointLoop&) = delete;

    void Start();
    void Stop();

  private:
    void Run();
    void Tick();

    store::Store& store_;
    const Signer& signer_;
    std::filesystem::path witness_;
    const Clock& clock_;
    std::chrono::seconds every_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace carnet::audit
