#include "access/obligations.hpp"

#include "notify/notify.hpp"

namespace carnet::access {

using store::AsInt;
using store::AsText;
using store::IsNull;

std::string_view PurposeName(Purpose p) {
    switch (p) {
        case Purpose::kTreatment:
            return "TREAT";
        case Purpose::kEtreat:
            return "ETREAT";
        case Purpose::kBtg:
            return "BTG";
    }
    return "TREAT";
}

std::string_view ActorKindName(ActorKind k) {
    switch (k) {
        case ActorKind::kPatient:
            return "patient";
        case ActorKind::kProfessional:
            return "professional";
        case ActorKind::kAdvisor:
            return "advisor";
        case ActorKind::kAdmin:
            return "admin";
        case ActorKind::kSystem:
            return "system";
    }
    return "system";
}

audit::Entry EntryFor(const Actor& actor, const Decision& decision, Action action,
                      const Target& target, Purpose purpose, const std::string& request_id,
                      int64_t now_us, int64_t count) {
    audit::Entry e;
    e.patient_id = target.patient_id;
    e.at_us = now_us;
    e.actor_account = actor.account_id;
    e.actor_kind = std::string(ActorKindName(actor.kind));
    e.actor_profession = actor.profession;
    e.action = std::string(ActionName(action));
    e.resource_type = target.resource_type;
    e.category = std::string(CategoryCode(target.category));
    e.basis = std::string(BasisName(decision.basis));
    e.outcome = decision.allow ? "allow" : "deny";
    e.reason = std::string(ReasonName(decision.reason));
    // An emergency access is logged as such whatever purpose the request named.
    if (decision.basis == Basis::kEtreat) {
        e.purpose = "ETREAT";
    } else if (decision.basis == Basis::kBtg) {
        e.purpose = "BTG";
    } else {
        e.purpose = std::string(PurposeName(purpose));
    }
    e.emergency = decision.emergency;
    e.count = count;
    e.request_id = request_id;
    return e;
}

Status NotifyHolder(store::WriteTxn& txn, const RecordFacts& facts, const std::string& tmpl,
                    bool every_channel, const std::string& portal_url, int64_t now_us) {
    std::vector<std::string> accounts;
    if (!facts.holder_account.empty()) accounts.push_back(facts.holder_account);
    if (facts.patient.minor) {
        CARNET_TRY(auto reps, txn.Query("SELECT delegate_account FROM delegations WHERE "
                                        "patient_id = ? AND kind = 'representative' AND status "
                                        "= 'active'",
                                        {facts.patient_id}));
        for (const auto& r : reps) accounts.push_back(AsText(r[0]));
    }
    for (const auto& account : accounts) {
        CARNET_TRY(auto rows, txn.Query("SELECT email, email_verified_at, phone, "
                                        "phone_verified_at FROM accounts WHERE id = ?",
                                        {account}));
        if (rows.empty()) continue;
        const auto& r = rows[0];
        const bool email = !IsNull(r[1]) && !AsText(r[0]).empty() &&
                           (every_channel || facts.settings.notify_email);
        const bool sms =
            !IsNull(r[3]) && !AsText(r[2]).empty() && (every_channel || facts.settings.notify_sms);
        if (email) {
            CARNET_CHECK(notify::Enqueue(txn,
                                         notify::Notification{notify::Channel::kEmail,
                                                              AsText(r[0]),
                                                              tmpl,
                                                              {{"portal_url", portal_url}},
                                                              facts.patient_id},
                                         now_us));
        }
        if (sms) {
            CARNET_CHECK(notify::Enqueue(txn,
                                         notify::Notification{notify::Channel::kSms,
                                                              AsText(r[2]),
                                                              tmpl,
                                                              {{"portal_url", portal_url}},
                                                              facts.patient_id},
                                         now_us));
        }
        // The in-app inbox always gets it: it is where the holder reads the history link.
        CARNET_CHECK(notify::Enqueue(txn,
                                     notify::Notification{notify::Channel::kInApp,
                                                          account,
                                                          tmpl,
                                                          {{"portal_url", portal_url}},
                                                          facts.patient_id},
                                     now_us));
    }
    return Ok();
}

namespace {

/// The médecin traitant hears of an emergency access to their patient's record.
Status NotifyGp(store::WriteTxn& txn, const RecordFacts& facts, const Actor& actor,
                const std::string& portal_url, int64_t now_us) {
    CARNET_TRY(auto rows,
               txn.Query("SELECT a.id, a.email, a.email_verified_at FROM access_relations r JOIN "
                         "accounts a ON a.id = r.professional_account WHERE r.patient_id = ? AND "
                         "r.status <> 'blocked' AND (',' || r.roles || ',') LIKE "
                         "'%,medecin-traitant,%'",
                         {facts.patient_id}));
    for (const auto& r : rows) {
        if (AsText(r[0]) == actor.account_id) continue;  // the GP opened it themselves
        if (!IsNull(r[2]) && !AsText(r[1]).empty()) {
            CARNET_CHECK(notify::Enqueue(txn,
                                         notify::Notification{notify::Channel::kEmail,
                                                              AsText(r[1]),
                                                              "patient_emergency_access",
                                                              {{"portal_url", portal_url}},
                                                              facts.patient_id},
                                         now_us));
        }
        CARNET_CHECK(notify::Enqueue(txn,
                                     notify::Notification{notify::Channel::kInApp,
                                                          AsText(r[0]),
                                                          "patient_emergency_access",
                                                          {{"portal_url", portal_url}},
                                                          facts.patient_id},
                                     now_us));
    }
    return Ok();
}

}  // namespace

Status Honour(store::WriteTxn& txn, const RecordFacts& facts, const Actor& actor,
              const Decision& decision, const audit::Entry& entry, const std::string& portal_url,
              int64_t now_us) {
    if (decision.audit && !entry.patient_id.empty()) CARNET_CHECK(audit::Append(txn, entry));
    if (!decision.allow || actor.kind != ActorKind::kProfessional) return Ok();
    const int64_t day = now_us / (86400LL * 1'000'000);
    if (decision.notice == Notice::kImmediate) {
        // Opening an emergency access tells the holder and the GP at once, whatever the
        // holder's preferences; the reads that follow under it are told at once too, but
        // once per professional per day (negative day keys: not merged with ordinary ones).
        if (entry.action != ActionName(Action::kOpenEmergency)) {
            CARNET_TRY(int64_t fresh,
                       txn.Exec("INSERT INTO access_notices(patient_id, professional_account, "
                                "day) VALUES (?, ?, ?) ON CONFLICT(patient_id, "
                                "professional_account, day) DO NOTHING",
                                {facts.patient_id, actor.account_id, -1 - day}));
            if (fresh == 0) return Ok();
        }
        CARNET_CHECK(NotifyHolder(txn, facts, "emergency_access", true, portal_url, now_us));
        return NotifyGp(txn, facts, actor, portal_url, now_us);
    }
    if (decision.notice == Notice::kCoalesced) {
        CARNET_TRY(int64_t fresh,
                   txn.Exec("INSERT INTO access_notices(patient_id, professional_account, day) "
                            "VALUES (?, ?, ?) ON CONFLICT(patient_id, professional_account, day) "
                            "DO NOTHING",
                            {facts.patient_id, actor.account_id, day}));
        if (fresh > 0) {
            CARNET_CHECK(NotifyHolder(txn, facts, "record_accessed", false, portal_url, now_us));
        }
    }
    return Ok();
}

}  // namespace carnet::access
