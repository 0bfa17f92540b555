#pragma once
/// The access log: one entry per access decision on patient data (allowed and refused),
/// written by the caller in the same store transaction as the access it records. Entries
/// hold no health content. Each patient's entries form a hash chain (seq 1, 2, …; each
/// hash covers the previous one); a checkpoint, written at least every minute by the
/// server, signs (Ed25519, key derived from the master key) the heads of the chains that
/// moved since the previous checkpoint and chains to it. Each checkpoint is also appended
/// to a witness file outside the database, so that an old backup restored over a newer
/// log is detected. `Verify` checks all of it and names the first broken entry.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
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
/// Newest first.
Result<std::vector<StoredEntry>> List(store::Reader& reader, const Filter& filter);

/// Signs checkpoints. The key pair is derived from the master key ("audit-checkpoints").
class Signer {
  public:
    explicit Signer(const crypto::MasterKey& master);
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
/// 0 when nothing moved.
Result<int64_t> WriteCheckpoint(store::Store& store, const Signer& signer,
                                const std::filesystem::path& witness, const Clock& clock,
                                bool force = false);

struct Problem {
    std::string patient_id;  // empty for checkpoint problems
    int64_t seq = 0;         // the first broken entry (or checkpoint seq)
    std::string what;        // "hash mismatch", "missing entry", "truncated", …
};

struct Report {
    int64_t patients = 0;
    int64_t entries = 0;
    int64_t checkpoints = 0;
    std::vector<Problem> problems;  // empty: the log is intact
    [[nodiscard]] bool ok() const { return problems.empty(); }
};

/// Recomputes every chain, checks every checkpoint's signature and link, that every head a
/// checkpoint signed is still present with that hash (deleted, truncated, reordered or
/// rewritten entries), and that the database holds every checkpoint the witness file holds
/// (an old backup restored over a newer log). `witness` may be empty: that check is skipped.
Result<Report> Verify(store::Store& store, const std::string& public_key_hex,
                      const std::filesystem::path& witness);

}  // namespace carnet::audit
