#pragma once
/// The access decision on the FHIR paths: one `Scope` per request transaction. It loads the
/// facts of each record it meets (once per record per transaction), asks `access::Decide`
/// about each resource, collects the log entries (one per record, action, outcome and
/// reason; a read names its resource, a search counts its results) and writes them with the
/// notices the decisions owe (`Flush`), in the transaction that read or wrote the data.
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "access/context.hpp"
#include "access/decision.hpp"
#include "access/obligations.hpp"
#include "store/store.hpp"

namespace carnet::api {

/// Who calls FhirService, and why.
struct Caller {
    access::Actor actor;
    access::Purpose purpose = access::Purpose::kTreatment;
    std::string request_id;

    /// The server itself (imports, the command line, unit tests of the REST layer): every
    /// access is allowed and nothing is logged.
    static const Caller& System();
    [[nodiscard]] bool IsSystem() const { return actor.kind == access::ActorKind::kSystem; }
};

/// What FhirService needs to enforce access (set by `serve`; absent: system only).
struct AccessConfig {
    access::GridStore* grids = nullptr;
    std::string portal_url;  // where notices send people
};

class Scope {
  public:
    Scope(const Caller& caller, std::shared_ptr<const access::Grid> grid, std::string portal_url,
          int64_t now_us);

    [[nodiscard]] const Caller& caller() const { return caller_; }
    [[nodiscard]] int64_t now() const { return now_us_; }

    /// Loads the flags of these resources (a search page) in one query per record.
    Status Prefetch(store::Reader& txn, const std::vector<store::ResourceVersion>& page);

    /// Decides `action` on a stored resource (its current or a past version) and records the
    /// log entry: `itemised` names the resource in the entry (read, vread, write), otherwise
    /// it is counted in the entry of this kind for its record (search results, includes).
    Result<access::Decision> Check(store::Reader& txn, const store::ResourceVersion& rv,
                                   access::Action action, bool itemised);
    /// Decides `action` on a target the caller built (a resource about to be written);
    /// `id` names it in the log entry (empty: counted).
    Result<access::Decision> CheckTarget(store::Reader& txn, const access::Target& target,
                                         access::Action action, const std::string& id);
    /// What the decision would be, without acting on it: nothing is logged and nothing is
    /// re-validated (what a page offers — an "add" button —, never a path to data).
    Result<access::Decision> Would(store::Reader& txn, const access::Target& target,
                                   access::Action action);
    /// The per-document flags of one resource of a record (author, masking), cached.
    Result<const access::DocFlags*> FlagsOf(store::Reader& txn, const std::string& patient_id,
                                            const std::string& type, const std::string& id);

    /// The records this caller may search in (a superset: each result is still decided):
    /// patients: own and delegated records; professionals: authorised, designated and
    /// emergency ones, not blocked.
    Result<std::vector<std::string>> SearchablePatients(store::Reader& txn);

    /// Records a refused search of a named record (the record exists; it is logged).
    Status NoteRecordSearch(store::Reader& txn, const std::string& patient_id,
                            const std::string& type);

    /// Whether the caller may open this record at all (a record-level read, not logged):
    /// decides between 403 and 404 for a refused write.
    Result<bool> MaySeeRecord(store::Reader& txn, const std::string& patient_id);

    /// The record's facts for this caller (cached for the transaction).
    Result<const access::RecordFacts*> Facts(store::Reader& txn, const std::string& patient_id);

    /// Writes the collected log entries and notices. Call once, at the end of the job.
    Status Flush(store::WriteTxn& txn);

    /// Reads are decided on a reader snapshot, then their log entries are written by the
    /// writer: this re-makes every decision of this scope from the state current in `txn`
    /// (facts, per-document flags, the grid in force, the time) and tells whether each one is
    /// unchanged (when no record's access epoch moved, from the facts already loaded).
    /// Called after Flush (whose log appends lock the records' heads on
    /// PostgreSQL, so a concurrent consent change is either committed and seen here, or waits
    /// for this commit). False: the caller rolls back and redoes the work in the writer.
    Result<bool> StillValid(store::Reader& txn, access::GridStore& grids, int64_t now_us);
    /// Some decision concerned a patient's record (its log entry and re-validation are due).
    [[nodiscard]] bool HasDecisions() const {
        for (const auto& m : made_) {
            if (!m.target.patient_id.empty()) return true;
        }
        return false;
    }

  private:
    using Key = std::tuple<std::string, std::string, std::string, std::string, std::string,
                           std::string, std::string>;  // patient, action, type, id, outcome,
                                                       // reason, basis
    struct Made {
        access::Target target;
        access::Action action;
        access::Decision decision;
        /// Whose per-document flags the decision used (a Binary: its document's).
        std::pair<std::string, std::string> flags_key;
    };
    /// Whether the record exists (an account, or its Patient resource): decisions about a
    /// record that does not exist are not logged (nobody's log to write to).
    Result<bool> RecordExists(store::Reader& txn, const std::string& patient_id);
    /// Notes the access epoch of records met for the first time (before any of their facts).
    Status NoteEpochs(store::Reader& txn, const std::vector<std::string>& patient_ids);
    using FactsMap = std::map<std::string, access::RecordFacts>;
    using FlagsMap =
        std::map<std::string, std::map<std::pair<std::string, std::string>, access::DocFlags>>;
    /// Every decision made again at `now_us` from these facts, and from these per-document
    /// flags (null: the flags each decision saw): all unchanged?
    [[nodiscard]] bool SameDecisionsAt(int64_t now_us, const FactsMap& facts,
                                       const FlagsMap* fresh_flags) const;
    /// The input of a decision about `target` by this caller now (the record's facts loaded).
    Result<access::DecisionInput> InputFor(store::Reader& txn, const access::Target& target,
                                           access::Action action);
    Result<access::Decision> Decide(store::Reader& txn, const access::Target& target,
                                    access::Action action, const std::string& id,
                                    std::pair<std::string, std::string> flags_key);
    std::map<std::string, bool> exists_;
    struct Pending {
        access::Decision decision;
        audit::Entry entry;
    };
    void Record(const access::Decision& d, const access::Target& target, access::Action action,
                const std::string& id);

    Caller caller_;
    std::shared_ptr<const access::Grid> grid_;
    std::string portal_url_;
    int64_t now_us_;
    FactsMap facts_;
    std::map<std::string, int64_t> epochs_;  // access epoch of each record, when first met
    FlagsMap flags_;
    std::map<Key, Pending> pending_;
    std::vector<Key> order_;
    std::vector<Made> made_;
};

/// Opening a view of record `pid` (its profile, its documents list) is a read of the record,
/// named in the log; then each item of the view is decided and counted like a search result.
/// Refused: the 404 of a record that does not exist.
Status OpenRecordView(store::Reader& txn, Scope& scope, const std::string& pid);

/// The flags of one page of resources when there is no scope (the system reads everything).
using PageFlags = std::map<std::pair<std::string, std::string>, access::DocFlags>;

/// Record `pid`'s current resources of `type` (a `patient=` search on one snapshot), page by
/// page until about `max` were read. `each` gets every page with what deciding its items
/// needs: with a scope, their facts and flags prefetched into it; without, their flags in
/// the PageFlags.
Status ForRecordPages(
    store::Reader& txn, Scope* scope, const std::string& pid, const std::string& type,
    int page_size, size_t max,
    const std::function<Status(std::vector<store::ResourceVersion>&, const PageFlags&)>& each);

}  // namespace carnet::api
