#include "api/access_scope.hpp"

#include <set>

#include "access/classify.hpp"
#include "fhir/json.hpp"

namespace carnet::api {

using store::AsText;

const Caller& Caller::System() {
    static const Caller system = [] {
        Caller c;
        c.actor.kind = access::ActorKind::kSystem;
        return c;
    }();
    return system;
}

Scope::Scope(const Caller& caller, std::shared_ptr<const access::Grid> grid, std::string portal_url,
             int64_t now_us)
    : caller_(caller),
      grid_(std::move(grid)),
      portal_url_(std::move(portal_url)),
      now_us_(now_us) {}

Status Scope::NoteEpochs(store::Reader& txn, const std::vector<std::string>& patient_ids) {
    std::vector<std::string> unseen;
    for (const auto& pid : patient_ids) {
        if (epochs_.count(pid) == 0) unseen.push_back(pid);
    }
    if (unseen.empty()) return Ok();
    CARNET_TRY(auto loaded, access::LoadEpochs(txn, unseen));
    epochs_.insert(loaded.begin(), loaded.end());
    return Ok();
}

Result<const access::RecordFacts*> Scope::Facts(store::Reader& txn, const std::string& patient_id) {
    auto it = facts_.find(patient_id);
    if (it == facts_.end()) {
        // The epoch is read by the facts' own statement (one snapshot, even in a PostgreSQL
        // write transaction where each statement sees its own). If the record was met
        // before (its flags), the epoch noted then is older: still a safe comparison.
        CARNET_TRY(auto f, access::LoadRecordFacts(txn, caller_.actor, patient_id, now_us_));
        epochs_.emplace(patient_id, f.epoch);
        it = facts_.emplace(patient_id, std::move(f)).first;
    }
    return &it->second;
}

Status Scope::Prefetch(store::Reader& txn, const std::vector<store::ResourceVersion>& page) {
    std::map<std::string, std::vector<std::pair<std::string, std::string>>> by_patient;
    for (const auto& rv : page) {
        if (rv.patient_id.empty()) continue;
        auto& known = flags_[rv.patient_id];
        (void)known;
        by_patient[rv.patient_id].emplace_back(rv.type, rv.id);
    }
    std::vector<std::string> pids;
    pids.reserve(by_patient.size());
    for (const auto& [pid, _] : by_patient) pids.push_back(pid);
    CARNET_CHECK(NoteEpochs(txn, pids));
    for (auto& [pid, keys] : by_patient) {
        CARNET_TRY(auto loaded, access::LoadFlags(txn, pid, keys));
        auto& cache = flags_[pid];
        for (auto& key : keys) {
            auto found = loaded.find(key);
            // Absent rows are cached too (as "no flags") so Check does not query again.
            cache[key] = found == loaded.end() ? access::DocFlags{} : std::move(found->second);
        }
    }
    return Ok();
}

Result<const access::DocFlags*> Scope::FlagsOf(store::Reader& txn, const std::string& patient_id,
                                               const std::string& type, const std::string& id) {
    auto& cache = flags_[patient_id];
    const auto key = std::make_pair(type, id);
    auto it = cache.find(key);
    if (it == cache.end()) {
        CARNET_CHECK(NoteEpochs(txn, {patient_id}));
        CARNET_TRY(auto loaded, access::LoadFlags(txn, patient_id, {key}));
        auto found = loaded.find(key);
        it = cache.emplace(key, found == loaded.end() ? access::DocFlags{} : found->second).first;
    }
    return &it->second;
}

namespace {

/// The resource a Binary's securityContext names ("DocumentReference/x"), if any.
std::optional<std::pair<std::string, std::string>> SecurityContextOf(const std::string& json) {
    auto parsed = fhir::ParseJson(json, 64);
    if (!parsed.ok() || !parsed->is_object()) return std::nullopt;
    const auto* ctx = parsed->as_object().if_contains("securityContext");
    if (!ctx || !ctx->is_object()) return std::nullopt;
    const auto* ref = ctx->as_object().if_contains("reference");
    if (!ref || !ref->is_string()) return std::nullopt;
    const std::string r(ref->as_string());
    const auto slash = r.find('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 >= r.size()) return std::nullopt;
    return std::make_pair(r.substr(0, slash), r.substr(slash + 1));
}

}  // namespace

Result<access::Decision> Scope::Check(store::Reader& txn, const store::ResourceVersion& rv,
                                      access::Action action, bool itemised) {
    if (rv.patient_id.empty()) {
        return Decide(txn, access::TargetOf(rv, nullptr), action, itemised ? rv.id : "",
                      {rv.type, rv.id});
    }
    // A Binary is its document's content: it is decided as that document (class, sensitive
    // type, author, masked, hidden), under its own name in the log.
    if (rv.type == "Binary" && !rv.json.empty()) {
        if (auto ctx = SecurityContextOf(rv.json); ctx && ctx->first != "Patient") {
            CARNET_TRY(auto doc, txn.ReadCurrent(ctx->first, ctx->second));
            if (doc && doc->patient_id == rv.patient_id) {
                CARNET_TRY(const access::DocFlags* flags,
                           FlagsOf(txn, doc->patient_id, doc->type, doc->id));
                access::Target t = access::TargetOf(*doc, flags);
                t.resource_type = rv.type;
                t.resource_id = rv.id;
                return Decide(txn, t, action, itemised ? rv.id : "", {doc->type, doc->id});
            }
        }
    }
    if (!caller_.IsSystem()) {
        // The record's facts first: their statement notes the epoch, so the flags need not.
        CARNET_TRY(const access::RecordFacts* f, Facts(txn, rv.patient_id));
        (void)f;
    }
    CARNET_TRY(const access::DocFlags* flags, FlagsOf(txn, rv.patient_id, rv.type, rv.id));
    const access::Target target = access::TargetOf(rv, flags);
    return Decide(txn, target, action, itemised ? rv.id : std::string(), {rv.type, rv.id});
}

Result<access::Decision> Scope::CheckTarget(store::Reader& txn, const access::Target& target,
                                            access::Action action, const std::string& id) {
    return Decide(txn, target, action, id, {target.resource_type, target.resource_id});
}

Result<access::DecisionInput> Scope::InputFor(store::Reader& txn, const access::Target& target,
                                              access::Action action) {
    access::DecisionInput in;
    in.actor = caller_.actor;
    in.target = target;
    in.action = action;
    in.purpose = caller_.purpose;
    in.now_us = now_us_;
    if (!target.patient_id.empty() && !caller_.IsSystem()) {
        CARNET_TRY(const access::RecordFacts* f, Facts(txn, target.patient_id));
        in.patient = f->patient;
        in.rel = f->rel;
    }
    return in;
}

Result<access::Decision> Scope::Would(store::Reader& txn, const access::Target& target,
                                      access::Action action) {
    CARNET_TRY(auto in, InputFor(txn, target, action));
    return access::Decide(*grid_, in);
}

Result<bool> Scope::RecordExists(store::Reader& txn, const std::string& patient_id) {
    auto it = exists_.find(patient_id);
    if (it != exists_.end()) return it->second;
    CARNET_TRY(const access::RecordFacts* f, Facts(txn, patient_id));
    bool exists = !f->holder_account.empty();
    if (!exists) {
        CARNET_TRY(exists, txn.Exists("Patient", patient_id));
    }
    exists_[patient_id] = exists;
    return exists;
}

Result<access::Decision> Scope::Decide(store::Reader& txn, const access::Target& target,
                                       access::Action action, const std::string& id,
                                       std::pair<std::string, std::string> flags_key) {
    CARNET_TRY(auto in, InputFor(txn, target, action));
    const access::Decision d = access::Decide(*grid_, in);
    if (caller_.IsSystem()) return d;
    if (!target.patient_id.empty()) {
        CARNET_TRY(bool exists, RecordExists(txn, target.patient_id));
        // A decision about a record that does not exist yet (a write creating it, a search
        // naming an unknown id) is not logged: no chain is opened for an id nobody holds.
        if (!exists) return d;
    }
    made_.push_back(Made{target, action, d, std::move(flags_key)});
    if (d.audit && !target.patient_id.empty()) Record(d, target, action, id);
    return d;
}

void Scope::Record(const access::Decision& d, const access::Target& target, access::Action action,
                   const std::string& id) {
    Key key{target.patient_id,
            std::string(access::ActionName(action)),
            target.resource_type,
            id,
            d.allow ? "allow" : "deny",
            std::string(access::ReasonName(d.reason)),
            std::string(access::BasisName(d.basis))};
    auto it = pending_.find(key);
    if (it != pending_.end()) {
        ++it->second.entry.count;
        return;
    }
    access::Target named = target;
    if (id.empty()) named.category = access::CategoryOfType(target.resource_type);
    audit::Entry e = access::EntryFor(caller_.actor, d, action, named, caller_.purpose,
                                      caller_.request_id, now_us_, 1);
    e.resource_id = id;
    if (id.empty()) e.category.clear();  // a count over several resources of the record
    pending_.emplace(key, Pending{d, std::move(e)});
    order_.push_back(std::move(key));
}

Result<std::vector<std::string>> Scope::SearchablePatients(store::Reader& txn) {
    std::set<std::string> out;
    const auto& a = caller_.actor;
    if (a.kind == access::ActorKind::kPatient) {
        CARNET_TRY(auto own, txn.Query("SELECT patient_id FROM accounts WHERE id = ? AND kind = "
                                       "'patient'",
                                       {a.account_id}));
        for (const auto& r : own) out.insert(AsText(r[0]));
        CARNET_TRY(auto delegated, txn.Query("SELECT patient_id FROM delegations WHERE "
                                             "delegate_account = ? AND status = 'active'",
                                             {a.account_id}));
        for (const auto& r : delegated) out.insert(AsText(r[0]));
    } else if (a.kind == access::ActorKind::kProfessional && !access::NeverContent(a)) {
        CARNET_TRY(auto rel, txn.Query("SELECT patient_id FROM access_relations WHERE "
                                       "professional_account = ? AND status <> 'blocked' AND "
                                       "(status = 'authorised' OR roles <> '')",
                                       {a.account_id}));
        for (const auto& r : rel) out.insert(AsText(r[0]));
        CARNET_TRY(auto grants, txn.Query("SELECT patient_id FROM emergency_grants WHERE "
                                          "professional_account = ? AND until_at > ?",
                                          {a.account_id, now_us_}));
        for (const auto& r : grants) out.insert(AsText(r[0]));
    }
    out.erase("");
    return std::vector<std::string>(out.begin(), out.end());
}

Status Scope::NoteRecordSearch(store::Reader& txn, const std::string& patient_id,
                               const std::string& type) {
    if (patient_id.empty() || caller_.IsSystem()) return Ok();
    CARNET_TRY(bool exists, RecordExists(txn, patient_id));
    if (!exists) return Ok();  // nothing to log: no such record
    access::Target t;
    t.resource_type = type;
    t.patient_id = patient_id;
    t.category = access::Category::kRecord;
    CARNET_TRY(auto d, CheckTarget(txn, t, access::Action::kRead, ""));
    (void)d;
    return Ok();
}

Result<bool> Scope::MaySeeRecord(store::Reader& txn, const std::string& patient_id) {
    if (caller_.IsSystem() || patient_id.empty()) return true;
    CARNET_TRY(const access::RecordFacts* f, Facts(txn, patient_id));
    access::DecisionInput in;
    in.actor = caller_.actor;
    in.patient = f->patient;
    in.rel = f->rel;
    in.target.patient_id = patient_id;
    in.target.resource_type = "Patient";
    in.action = access::Action::kRead;
    in.purpose = caller_.purpose;
    in.now_us = now_us_;
    return access::Decide(*grid_, in).allow;
}

bool Scope::SameDecisionsAt(int64_t now_us, const FactsMap& facts,
                            const FlagsMap* fresh_flags) const {
    for (const auto& m : made_) {
        access::DecisionInput in;
        in.actor = caller_.actor;
        in.target = m.target;
        in.action = m.action;
        in.purpose = caller_.purpose;
        in.now_us = now_us;
        if (!m.target.patient_id.empty()) {
            auto f = facts.find(m.target.patient_id);
            if (f == facts.end()) return false;
            in.patient = f->second.patient;
            in.rel = f->second.rel;
            // The per-document flags as they are now (the classification does not change).
            auto seen = flags_.find(m.target.patient_id);
            auto p =
                fresh_flags ? fresh_flags->find(m.target.patient_id) : FlagsMap::const_iterator{};
            if (fresh_flags && p != fresh_flags->end() && !m.flags_key.second.empty() &&
                seen != flags_.end() && seen->second.count(m.flags_key) != 0) {
                auto it = p->second.find(m.flags_key);
                const access::DocFlags now_flags =
                    it == p->second.end() ? access::DocFlags{} : it->second;
                in.target.author_account = now_flags.author_account;
                in.target.masked = now_flags.masked;
                in.target.hidden_from_patient_until_us = now_flags.hidden_until_us;
                in.target.hidden_from_representatives = now_flags.hidden_repr;
            }
        }
        const access::Decision d = access::Decide(*grid_, in);
        if (d.allow != m.decision.allow || d.basis != m.decision.basis ||
            d.reason != m.decision.reason) {
            return false;
        }
    }
    return true;
}

Result<bool> Scope::StillValid(store::Reader& txn, access::GridStore& grids, int64_t now_us) {
    CARNET_TRY(auto grid, grids.Current(txn));
    if (grid != grid_) return false;  // another grid version is in force
    // Usually nothing about the records changed: their epochs say so in one query, and the
    // decisions are re-made from the facts already loaded, at the time of the commit
    // (a grant or a hidden period may have run out meanwhile).
    bool covered = true;
    for (const auto& m : made_) {
        if (!m.target.patient_id.empty() && epochs_.count(m.target.patient_id) == 0) {
            covered = false;
        }
    }
    if (covered) {
        std::vector<std::string> pids;
        pids.reserve(epochs_.size());
        for (const auto& [pid, _] : epochs_) pids.push_back(pid);
        CARNET_TRY(auto current, access::LoadEpochs(txn, pids));
        if (current == epochs_) return SameDecisionsAt(now_us, facts_, nullptr);
    }
    // Something moved: every fact and flag again, and each decision compared.
    FactsMap fresh;
    for (const auto& [pid, _] : facts_) {
        CARNET_TRY(auto f, access::LoadRecordFacts(txn, caller_.actor, pid, now_us));
        fresh.emplace(pid, std::move(f));
    }
    FlagsMap flags;
    for (const auto& [pid, cache] : flags_) {
        std::vector<std::pair<std::string, std::string>> keys;
        keys.reserve(cache.size());
        for (const auto& [key, _] : cache) keys.push_back(key);
        CARNET_TRY(flags[pid], access::LoadFlags(txn, pid, keys));
    }
    return SameDecisionsAt(now_us, fresh, &flags);
}

Status Scope::Flush(store::WriteTxn& txn) {
    for (const auto& key : order_) {
        const Pending& p = pending_.at(key);
        const auto& f = facts_.at(p.entry.patient_id);
        CARNET_CHECK(
            access::Honour(txn, f, caller_.actor, p.decision, p.entry, portal_url_, now_us_));
    }
    pending_.clear();
    order_.clear();
    return Ok();
}

Status OpenRecordView(store::Reader& txn, Scope& scope, const std::string& pid) {
    access::Target t;
    t.resource_type = "Patient";
    t.resource_id = pid;
    t.patient_id = pid;
    t.category = access::Category::kRecord;
    CARNET_TRY(auto d, scope.CheckTarget(txn, t, access::Action::kRead, pid));
    if (!d.allow) return Error::NotFound("resource not found");
    return Ok();
}

Status ForRecordPages(
    store::Reader& txn, Scope* scope, const std::string& pid, const std::string& type,
    int page_size, size_t max,
    const std::function<Status(std::vector<store::ResourceVersion>&, const PageFlags&)>& each) {
    store::SearchQuery q;
    q.type = type;
    store::Predicate p;
    p.kind = store::Predicate::Kind::kReference;
    p.param = "patient";
    p.target_type = "Patient";
    p.target_id = pid;
    q.all_of.push_back(store::Clause{{p}});
    q.count = page_size;
    size_t seen = 0;
    do {
        CARNET_TRY(auto page, txn.Search(q));
        q.cursor = page.next_cursor;
        seen += page.resources.size();
        PageFlags flags;
        if (scope != nullptr) {
            CARNET_CHECK(scope->Prefetch(txn, page.resources));
        } else {
            std::vector<std::pair<std::string, std::string>> keys;
            for (const auto& rv : page.resources) keys.emplace_back(rv.type, rv.id);
            CARNET_TRY(flags, access::LoadFlags(txn, pid, keys));
        }
        CARNET_CHECK(each(page.resources, flags));
    } while (!q.cursor.empty() && seen < max);
    return Ok();
}

}  // namespace carnet::api
