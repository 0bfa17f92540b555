// Records a person may act on (own, represented minors, caregiving), the invitations that
// create those links, and the account lifecycle: closure, deletion, reopening, purge.
#include "auth/internal.hpp"
#include "core/ids.hpp"
#include "notify/notify.hpp"

namespace carnet::auth {

using namespace detail;  // NOLINT: this module's own helpers

namespace {

constexpr int kMaxCaregivers = 3;
constexpr int64_t kInviteTtlUs = 7LL * 24 * 3600 * kMicros;

Error Forbidden(std::string message) {
    return Error::Make(Code::kForbidden, "forbidden", std::move(message));
}

Error NeedsReauth() {
    Error e = Error::Make(Code::kForbidden, "forbidden",
                          "confirmez votre identité (mot de passe et code) avant cette action");
    e.detail = "reauth-required";
    return e;
}

}  // namespace

Status CheckRecordWritable(store::Reader& txn, const std::string& patient_id) {
    CARNET_TRY(auto rows, txn.Query("SELECT status FROM accounts WHERE patient_id = ? AND kind = "
                                    "'patient'",
                                    {patient_id}));
    for (const auto& r : rows) {
        const std::string status = AsText(r[0]);
        if (status == kOpposed || status == kDeleted) {
            return Error::Make(Code::kForbidden, "forbidden",
                               "cette personne a refusé le service ou supprimé son espace : "
                               "aucun dépôt n'est accepté");
        }
        if (status == kClosed) {
            return Error::Make(Code::kForbidden, "forbidden",
                               "cet espace est fermé (archive en lecture seule) : aucun dépôt "
                               "n'est accepté");
        }
    }
    return Ok();
}

Result<std::vector<RecordAccess>> AuthService::Records(const Principal& who) {
    std::vector<RecordAccess> out;
    CARNET_TRY(auto reader, store_.OpenReader());
    if (who.kind == kPatient) {
        CARNET_TRY(auto self, LoadAccount(*reader, "id = ?", {who.account_id}));
        if (self) {
            out.push_back(RecordAccess{self->account.patient_id, self->account.id,
                                       self->account.DisplayName(), "self", self->account.status});
        }
    }
    CARNET_TRY(auto rows, reader->Query("SELECT patient_account, kind FROM delegations WHERE "
                                        "delegate_account = ? AND status = 'active'",
                                        {who.account_id}));
    const int64_t now = clock_.NowMicros();
    for (const auto& x : rows) {
        CARNET_TRY(auto rec, LoadAccount(*reader, "id = ?", {AsText(x[0])}));
        if (!rec) continue;
        const Account& a = rec->account;
        if (a.status != kPending && a.status != kActive) continue;
        const std::string kind = AsText(x[1]);
        // Representation ends at majority: from that day the person holds their own record.
        if (kind == "representative" && AgeInYears(a.birth_date, now) >= options_.majority_age)
            continue;
        out.push_back(RecordAccess{a.patient_id, a.id, a.DisplayName(), kind, a.status});
    }
    return out;
}

Result<RecordAccess> AuthService::RecordFor(const Principal& who, const std::string& patient_id) {
    CARNET_TRY(auto records, Records(who));
    for (auto& r : records) {
        if (r.patient_id == patient_id) return r;
    }
    return Forbidden("vous n'avez pas accès à ce dossier");
}

Status AuthService::AddRepresentative(const std::string& child_patient_id,
                                      const std::string& representative_account,
                                      const std::string& actor) {
    const int64_t now = clock_.NowMicros();
    return store_.Write([&](store::WriteTxn& txn) -> Status {
        CARNET_TRY(auto child,
                   LoadAccount(txn, "patient_id = ? AND kind = 'patient'", {child_patient_id}));
        if (!child) return Error::NotFound("dossier inconnu");
        if (AgeInYears(child->account.birth_date, now) >= options_.majority_age) {
            return Error::Make(Code::kUnprocessable, "business-rule",
                               "cette personne est majeure : elle gère son propre espace");
        }
        CARNET_TRY(auto rep, LoadAccount(txn, "id = ?", {representative_account}));
        if (!rep || rep->account.kind != kPatient || rep->account.id == child->account.id)
            return Error::Invalid(
                "le représentant doit être une autre personne titulaire d'un compte");
        CARNET_TRY(auto existing,
                   txn.Query("SELECT id FROM delegations WHERE patient_id = ? AND "
                             "delegate_account = ? AND kind = 'representative' AND status <> "
                             "'ended'",
                             {child_patient_id, representative_account}));
        if (!existing.empty()) return Ok();
        CARNET_CHECK(txn.Exec(
            "INSERT INTO delegations(patient_id, id, patient_account, delegate_account, kind, "
            "status, invited_by, created_at, accepted_at) VALUES (?, ?, ?, ?, 'representative', "
            "'active', ?, ?, ?)",
            {child_patient_id, NewUuid(), child->account.id, representative_account, actor, now,
             now}));
        return RecordEvent(txn, child->account.id, actor, "admin", "representative.added",
                           rep->account.DisplayName());
    });
}

Result<Delegation> AuthService::Invite(const Principal& who, const std::string& patient_id,
                                       const std::string& kind, const std::string& invitee_login) {
    if (kind != "representative" && kind != "caregiver")
        return Error::Invalid("type de délégation inconnu", "kind");
    CARNET_TRY(RecordAccess record, RecordFor(who, patient_id));
    if (kind == "representative" && record.relation != "representative") {
        return Forbidden("seul un représentant légal peut inviter le second représentant");
    }
    if (kind == "caregiver" && record.relation != "self") {
        return Forbidden("seule la personne elle-même choisit ses aidants");
    }
    if (kind == "caregiver" && record.status != kActive) {
        return Error::Make(Code::kUnprocessable, "business-rule",
                           "un espace fermé ne reçoit pas de nouvel aidant");
    }
    const int64_t now = clock_.NowMicros();
    CARNET_TRY(auto reader, store_.OpenReader());
    CARNET_TRY(auto invitee, LookupLogin(*reader, invitee_login));
    if (!invitee || invitee->account.kind != kPatient || invitee->account.status != kActive ||
        (!invitee->account.email_verified && !invitee->account.phone_verified)) {
        return Error::Make(Code::kNotFound, "not-found",
                           "aucun compte actif avec cet identifiant : la personne doit d'abord "
                           "activer son propre espace");
    }
    const Account& to = invitee->account;
    if (to.id == record.account_id || to.id == who.account_id)
        return Error::Invalid("vous ne pouvez pas vous inviter vous-même");
    CARNET_TRY(auto current, reader->Query("SELECT delegate_account, kind, status, "
                                           "invite_expires_at FROM delegations WHERE "
                                           "patient_id = ? AND status <> 'ended'",
                                           {patient_id}));
    int caregivers = 0;
    for (const auto& x : current) {
        const bool live = AsText(x[2]) == "active" || AsInt(x[3]) > now;
        if (!live) continue;
        if (AsText(x[1]) == "caregiver") ++caregivers;
        if (AsText(x[0]) == to.id && AsText(x[1]) == kind) {
            return Error::Make(Code::kConflict, "duplicate", "cette personne est déjà invitée");
        }
    }
    if (kind == "caregiver" && caregivers >= kMaxCaregivers) {
        return Error::Make(Code::kUnprocessable, "business-rule",
                           "trois aidants au plus : retirez-en un avant d'en inviter un autre");
    }
    reader.reset();
    const std::string code = NewActivationCode();
    Delegation d;
    d.id = NewUuid();
    d.patient_id = patient_id;
    d.kind = kind;
    d.status = "invited";
    d.delegate_account = to.id;
    const bool by_mail = to.email_verified;
    d.invited_to = MaskDestination(by_mail ? "email" : "sms", by_mail ? to.email : to.phone);
    d.created_at = now;
    CARNET_CHECK(store_.Write([&](store::WriteTxn& txn) -> Status {
        CARNET_CHECK(txn.Exec(
            "INSERT INTO delegations(patient_id, id, patient_account, delegate_account, kind, "
            "status, invite_hash, invite_expires_at, invited_by, created_at) VALUES (?, ?, ?, ?, "
            "?, 'invited', ?, ?, ?, ?)",
            {patient_id, d.id, record.account_id, to.id, kind,
             Hash("invite", NormalizeActivationCode(code)), now + kInviteTtlUs, who.account_id,
             now}));
        notify::Notification n;
        n.channel = by_mail ? notify::Channel::kEmail : notify::Channel::kSms;
        n.recipient = by_mail ? to.email : to.phone;
        n.template_name = kind == "caregiver" ? "caregiver_invite" : "representative_invite";
        n.params = {{"code", code}, {"portal_url", options_.portal_url}};
        n.patient_id = patient_id;
        CARNET_CHECK(notify::Enqueue(txn, n, now));
        return RecordEvent(txn, record.account_id, who.account_id, who.kind, kind + ".invited",
                           to.DisplayName());
    }));
    return d;
}

Result<RecordAccess> AuthService::AcceptInvitation(const Principal& who, const std::string& code) {
    const int64_t now = clock_.NowMicros();
    std::string patient_id;
    CARNET_CHECK(store_.Write([&](store::WriteTxn& txn) -> Status {
        CARNET_TRY(auto rows, txn.Query("SELECT patient_id, id, delegate_account, "
                                        "invite_expires_at, patient_account, kind FROM "
                                        "delegations WHERE invite_hash = ? AND status = 'invited'",
                                        {Hash("invite", NormalizeActivationCode(code))}));
        // Bound to the invitee: someone else holding the code gets the same answer as a
        // wrong code.
        if (rows.empty() || AsText(rows[0][2]) != who.account_id || AsInt(rows[0][3]) <= now) {
            return Error::Make(Code::kNotFound, "not-found",
                               "code d'invitation invalide ou expiré");
        }
        patient_id = AsText(rows[0][0]);
        CARNET_CHECK(
            txn.Exec("UPDATE delegations SET status = 'active', accepted_at = ?, "
                     "invite_hash = NULL WHERE patient_id = ? AND id = ?",
                     {now, patient_id, AsText(rows[0][1])}));
        return RecordEvent(txn, AsText(rows[0][4]), who.account_id, who.kind,
                           AsText(rows[0][5]) + ".accepted", who.display_name);
    }));
    return RecordFor(who, patient_id);
}

Result<std::vector<Delegation>> AuthService::Delegations(const Principal& who,
                                                         const std::string& patient_id) {
    CARNET_TRY(RecordAccess record, RecordFor(who, patient_id));
    if (record.relation == "caregiver") {
        return Forbidden("un aidant ne gère pas les délégations");
    }
    const int64_t now = clock_.NowMicros();
    CARNET_TRY(auto reader, store_.OpenReader());
    CARNET_TRY(auto rows, reader->Query("SELECT id, kind, status, delegate_account, created_at, "
                                        "accepted_at, invite_expires_at FROM delegations WHERE "
                                        "patient_id = ? AND status <> 'ended' ORDER BY created_at",
                                        {patient_id}));
    std::vector<Delegation> out;
    for (const auto& x : rows) {
        if (AsText(x[2]) == "invited" && AsInt(x[6]) <= now) continue;
        Delegation d;
        d.id = AsText(x[0]);
        d.patient_id = patient_id;
        d.kind = AsText(x[1]);
        d.status = AsText(x[2]);
        d.delegate_account = AsText(x[3]);
        d.created_at = AsInt(x[4]);
        d.accepted_at = AsInt(x[5]);
        CARNET_TRY(auto acc, LoadAccount(*reader, "id = ?", {d.delegate_account}));
        if (acc) {
            const Account& a = acc->account;
            if (d.status == "active") d.delegate_name = a.DisplayName();
            d.invited_to = a.email_verified ? MaskDestination("email", a.email)
                                            : MaskDestination("sms", a.phone);
        }
        out.push_back(std::move(d));
    }
    return out;
}

Status AuthService::EndDelegation(const Principal& who, const std::string& patient_id,
                                  const std::string& delegation_id) {
    const int64_t now = clock_.NowMicros();
    CARNET_TRY(auto reader, store_.OpenReader());
    CARNET_TRY(auto rows, reader->Query("SELECT delegate_account, patient_account, kind FROM "
                                        "delegations WHERE patient_id = ? AND id = ? AND status "
                                        "<> 'ended'",
                                        {patient_id, delegation_id}));
    reader.reset();
    if (rows.empty()) return Error::NotFound("délégation inconnue");
    const bool own = AsText(rows[0][0]) == who.account_id;  // a delegate leaving
    if (!own) {
        CARNET_TRY(RecordAccess record, RecordFor(who, patient_id));
        if (record.relation == "caregiver")
            return Forbidden("un aidant ne gère pas les délégations");
    }
    return store_.Write([&](store::WriteTxn& txn) -> Status {
        CARNET_CHECK(
            txn.Exec("UPDATE delegations SET status = 'ended', ended_at = ?, invite_hash "
                     "= NULL WHERE patient_id = ? AND id = ?",
                     {now, patient_id, delegation_id}));
        return RecordEvent(txn, AsText(rows[0][1]), who.account_id, who.kind,
                           AsText(rows[0][2]) + ".ended");
    });
}

// ---- closure, deletion, reopening -------------------------------------------------------

namespace {

int64_t Days(int64_t n) { return n * 24 * 3600 * kMicros; }

}  // namespace

Status AuthService::Close(const Principal& who) {
    if (who.kind != kPatient) return Forbidden("seul le titulaire ferme son espace");
    if (!RecentlyAuthenticated(who)) return NeedsReauth();
    const int64_t now = clock_.NowMicros();
    const int64_t purge_at =
        now + Days(static_cast<int64_t>(options_.archive_years) * 365 + options_.archive_years / 4);
    return CloseAccount(who, purge_at, "account.closed", "account_closed");
}

Status AuthService::RequestDeletion(const Principal& who) {
    if (who.kind != kPatient) return Forbidden("seul le titulaire supprime son espace");
    if (!RecentlyAuthenticated(who)) return NeedsReauth();
    const int64_t now = clock_.NowMicros();
    CARNET_CHECK(CloseAccount(who, now + Days(options_.deletion_delay_days),
                              "account.deletion-requested", "account_deleted"));
    if (options_.deletion_delay_days == 0) CARNET_CHECK(PurgeDue());
    return Ok();
}

Status AuthService::CloseAccount(const Principal& who, int64_t purge_at, const std::string& action,
                                 const std::string& template_name) {
    const int64_t now = clock_.NowMicros();
    return store_.Write([&](store::WriteTxn& txn) -> Status {
        CARNET_TRY(auto rec, LoadAccount(txn, "id = ?", {who.account_id}));
        if (!rec) return Error::NotFound("compte inconnu");
        const Account& a = rec->account;
        if (a.status != kActive && a.status != kClosed) {
            return Error::Make(Code::kUnprocessable, "business-rule", "ce compte n'est pas ouvert");
        }
        CARNET_CHECK(
            txn.Exec("UPDATE accounts SET status = 'closed', closed_at = COALESCE("
                     "closed_at, ?), purge_at = ? WHERE id = ?",
                     {now, purge_at, a.id}));
        // Every session, device and code of the person ends, and every delegation of the
        // record (representatives, caregivers) and by the person.
        CARNET_CHECK(EndAllSessions(txn, a.id));
        CARNET_CHECK(
            txn.Exec("UPDATE delegations SET status = 'ended', ended_at = ?, invite_hash "
                     "= NULL WHERE patient_id = ? AND status <> 'ended'",
                     {now, a.patient_id}));
        CARNET_CHECK(
            txn.Exec("UPDATE delegations SET status = 'ended', ended_at = ?, invite_hash "
                     "= NULL WHERE delegate_account = ? AND status <> 'ended'",
                     {now, a.id}));
        CARNET_CHECK(NotifyHolder(txn, a, template_name));
        return RecordEvent(txn, a.id, a.id, a.kind, action);
    });
}

Status AuthService::Reopen(const Principal& who) {
    if (who.kind != kPatient) return Forbidden("seul le titulaire rouvre son espace");
    if (!RecentlyAuthenticated(who)) return NeedsReauth();
    const int64_t now = clock_.NowMicros();
    return store_.Write([&](store::WriteTxn& txn) -> Status {
        CARNET_TRY(auto rec, LoadAccount(txn, "id = ?", {who.account_id}));
        if (!rec || rec->account.status != kClosed || rec->account.purge_at <= now) {
            return Error::Make(Code::kUnprocessable, "business-rule",
                               "cet espace n'est pas fermé, ou ses données ont été effacées");
        }
        CARNET_CHECK(
            txn.Exec("UPDATE accounts SET status = 'active', closed_at = NULL, purge_at "
                     "= NULL WHERE id = ?",
                     {who.account_id}));
        return RecordEvent(txn, who.account_id, who.account_id, who.kind, "account.reopened");
    });
}

Status AuthService::PurgeNow(const std::string& account_id, const Principal& actor) {
    if (actor.kind != kAdmin) return Forbidden("réservé aux administrateurs");
    const int64_t now = clock_.NowMicros();
    CARNET_CHECK(store_.Write([&](store::WriteTxn& txn) -> Status {
        CARNET_TRY(auto rec, LoadAccount(txn, "id = ?", {account_id}));
        if (!rec) return Error::NotFound("compte inconnu");
        if (rec->account.status != kClosed) {
            return Error::Make(Code::kUnprocessable, "business-rule",
                               "seul un espace fermé peut être effacé");
        }
        CARNET_CHECK(txn.Exec("UPDATE accounts SET purge_at = ? WHERE id = ?", {now, account_id}));
        return RecordEvent(txn, account_id, actor.account_id, actor.kind, "operator.purge");
    }));
    CARNET_TRY(int n, PurgeDue());
    (void)n;
    return Ok();
}

Result<int> AuthService::PurgeDue() {
    const int64_t now = clock_.NowMicros();
    CARNET_TRY(auto reader, store_.OpenReader());
    CARNET_TRY(auto rows, reader->Query("SELECT id, patient_id, status FROM accounts WHERE status "
                                        "IN ('closed', 'opposed') AND purge_at IS NOT NULL AND "
                                        "purge_at <= ?",
                                        {now}));
    reader.reset();
    int purged = 0;
    for (const auto& x : rows) {
        const std::string id = AsText(x[0]), patient = AsText(x[1]);
        // The key and every row of the record go first; the account keeps a tombstone (the
        // INS, so that the insurer's feed does not silently recreate the record).
        if (!patient.empty()) CARNET_CHECK(store_.PurgePatient(patient));
        if (AsText(x[2]) == kOpposed) {
            // An opposition keeps its account row (deposits stay refused) and its history.
            CARNET_CHECK(store_.Write([&](store::WriteTxn& txn) -> Status {
                CARNET_CHECK(txn.Exec("UPDATE accounts SET purge_at = NULL WHERE id = ?", {id}));
                return Ok();
            }));
            ++purged;
            continue;
        }
        CARNET_CHECK(store_.Write([&](store::WriteTxn& txn) -> Status {
            CARNET_CHECK(txn.Exec(
                "UPDATE accounts SET status = 'deleted', given = '', family = '', email = NULL, "
                "email_verified_at = NULL, phone = NULL, phone_verified_at = NULL, password_hash "
                "= NULL, totp_secret = NULL, login = NULL WHERE id = ?",
                {id}));
            // The access log (audit_log, audit_heads) stays: it holds no health content,
            // its signed checkpoints name these chains, and the traces of who opened the
            // record are kept. What the holder had chosen goes with the record.
            for (const char* table :
                 {"outbox", "inbox", "account_events", "delegations", "access_settings",
                  "access_relations", "access_codes", "emergency_grants", "access_flags",
                  "access_notices", "message_threads", "messages", "message_marks"}) {
                CARNET_CHECK(txn.Exec(std::string("DELETE FROM ") + table + " WHERE patient_id = ?",
                                      {patient}));
            }
            return Ok();
        }));
        ++purged;
    }
    return purged;
}

}  // namespace carnet::auth
