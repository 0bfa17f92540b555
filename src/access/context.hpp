#pragma once
/// Loading the facts `Decide` needs, from the store, inside the caller's transaction (the
/// one that carries the data and the audit entry): no decision outlives the state it was
/// made from. Plain SQL over the service tables of migrations 3 and 4.
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "access/decision.hpp"
#include "core/result.hpp"
#include "store/store.hpp"

namespace carnet::access {

/// Age at which a legal representative's access ends.
inline constexpr int kMajorityAge = 18;
/// Emergency accesses (BTG and ETREAT) last this long for that professional.
inline constexpr int64_t kEmergencyDurationUs = 24LL * 3600 * 1'000'000;
/// A document hidden from the patient becomes visible after this (the patient is told at
/// half of it).
inline constexpr int64_t kHiddenFromPatientUs = 30LL * 24 * 3600 * 1'000'000;

/// What the holder chose (access_settings; defaults when no row).
struct Settings {
    bool etreat = true;
    bool btg = true;
    bool emergency_masked = false;
    bool emergency_only = false;
    bool mask_new = false;
    bool notify_email = true;
    bool notify_sms = false;
};

/// One record as seen by one actor, now.
struct RecordFacts {
    std::string patient_id;
    std::string holder_account;  // "" when the record has no account (imported data)
    PatientSettings patient;     // for Decide
    Relationship rel;            // for Decide
    Settings settings;
    /// The record's access epoch, read by the same statement as the facts (one snapshot).
    int64_t epoch = 0;
};

/// Per-document facts (access_flags; absent row: no author known, nothing hidden).
struct DocFlags {
    std::string author_account;
    std::string author_kind;  // patient | professional | system
    bool masked = false;
    int64_t hidden_until_us = 0;
    bool hidden_repr = false;
};

Result<Settings> LoadSettings(store::Reader& txn, const std::string& patient_id);
/// The name an account is shown under ("given family"); "" for an unknown account.
Result<std::string> AccountName(store::Reader& txn, const std::string& account_id);
Result<RecordFacts> LoadRecordFacts(store::Reader& txn, const Actor& actor,
                                    const std::string& patient_id, int64_t now_us);
/// The access epochs of these records (access_epochs, moved by triggers on every table a
/// decision reads): a record without a row is at 0. Read before the facts themselves, a
/// record's epoch unchanged at commit means none of its facts changed since.
Result<std::map<std::string, int64_t>> LoadEpochs(store::Reader& txn,
                                                  const std::vector<std::string>& patient_ids);
/// Flags of these (type, id) of one patient; missing keys have no row.
Result<std::map<std::pair<std::string, std::string>, DocFlags>> LoadFlags(
    store::Reader& txn, const std::string& patient_id,
    const std::vector<std::pair<std::string, std::string>>& keys);

/// The target of a stored resource for Decide (classifies its body).
Target TargetOf(const store::ResourceVersion& rv, const DocFlags* flags);

/// The grid in force: the newest version in access_grid, else the shipped default. Cached
/// by version: each call costs one indexed lookup of the newest version number.
class GridStore {
  public:
    Result<std::shared_ptr<const Grid>> Current(store::Reader& txn);
    /// Admin edit: a new version (validated), in `txn`. Returns the version number.
    Result<int64_t> Save(store::WriteTxn& txn, const Grid& grid, const std::string& by,
                         int64_t now_us);

  private:
    std::mutex mu_;
    int64_t version_ = -1;
    int64_t created_ = -1;
    std::shared_ptr<const Grid> grid_;
};

}  // namespace carnet::access
