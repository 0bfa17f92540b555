// The signed-in person's own settings (re-authentication, password, contacts, TOTP,
// sessions, devices, history) and the operator's account management.
#include "auth/internal.hpp"
#include "core/ids.hpp"
#include "notify/notify.hpp"

namespace carnet::auth {

using namespace detail;  // NOLINT: this module's own helpers

namespace {

Error Forbidden(std::string message) {
    return Error::Make(Code::kForbidden, "forbidden", std::move(message));
}

std::string EscapeLike(const std::string& s) {
    std::string out;
    for (char c : s) {
        if (c == '%' || c == '_' || c == '\\') out.push_back('\\');
        out.push_back(c);
    }
    return out;
}

}  // namespace

Result<Account> AuthService::GetAccount(const std::string& account_id) {
    CARNET_TRY(auto reader, store_.OpenReader());
    CARNET_TRY(auto rec, LoadAccount(*reader, "id = ?", {account_id}));
    if (!rec) return Error::NotFound("compte inconnu");
    return rec->account;
}

Result<std::optional<Account>> AuthService::FindByLogin(const std::string& login) {
    CARNET_TRY(auto reader, store_.OpenReader());
    CARNET_TRY(auto rec, LookupLogin(*reader, login));
    if (!rec) return std::optional<Account>();
    return std::optional<Account>(rec->account);
}

// ---- client certificates --------------------------------------------------------------

Result<Principal> AuthService::PrincipalForCertificate(const std::string& professional_id) {
    if (!IsValidRpps(professional_id)) return Unauthenticated("identifiant de carte invalide");
    CARNET_TRY(auto reader, store_.OpenReader());
    CARNET_TRY(auto rec, LoadAccount(*reader, "rpps = ?", {professional_id}));
    // A professional imported into the directory may use the card before activating a
    // password; a closed or deleted account may not.
    if (!rec || rec->account.kind != kProfessional ||
        (rec->account.status != kActive && rec->account.status != kPending)) {
        return Unauthenticated("cette carte ne correspond à aucun professionnel de l'annuaire");
    }
    const Account& a = rec->account;
    Principal p;
    p.account_id = a.id;
    p.kind = a.kind;
    p.rpps = a.rpps;
    p.profession = a.profession;
    p.specialty = a.specialty;
    p.display_name = a.DisplayName();
    p.method = "certificate";
    p.auth_time_us = clock_.NowMicros();  // the card proved it in this very handshake
    return p;
}

Result<IssuedSession> AuthService::CertificateLogin(const std::string& professional_id,
                                                    const ClientInfo& client) {
    CARNET_CHECK(CheckIpThrottle(client.ip));
    CARNET_TRY(Principal p, PrincipalForCertificate(professional_id));
    IssuedSession issued;
    CARNET_CHECK(store_.Write([&](store::WriteTxn& txn) -> Status {
        CARNET_TRY(auto rec, LoadAccount(txn, "id = ?", {p.account_id}));
        if (!rec) return Unauthenticated();
        CARNET_TRY(issued, OpenSession(txn, rec->account, "certificate", false, client));
        return RecordEvent(txn, p.account_id, p.account_id, p.kind, "login", "carte");
    }));
    return issued;
}

// ---- re-authentication ----------------------------------------------------------------

Result<Challenge> AuthService::StartReauth(const Principal& who, const std::string& password,
                                           const ClientInfo& client) {
    CARNET_CHECK(CheckIpThrottle(client.ip));
    CARNET_TRY(auto reader, store_.OpenReader());
    CARNET_TRY(auto rec, LoadAccount(*reader, "id = ?", {who.account_id}));
    if (!rec || rec->password_hash.empty() || !VerifyPassword(rec->password_hash, password)) {
        return Unauthenticated("mot de passe incorrect");
    }
    const Account& a = rec->account;
    std::string channel = a.second_factor, destination;
    if (channel == "email" && a.email_verified)
        destination = a.email;
    else if (channel == "sms" && a.phone_verified)
        destination = a.phone;
    else if (channel == "totp")
        destination = "totp:" + a.id;
    else
        return Error::Make(Code::kUnprocessable, "business-rule", "aucun contact vérifié");
    if (channel != "totp") CARNET_CHECK(CheckSendCaps(*reader, a.id, destination));
    reader.reset();
    Challenge out;
    CARNET_CHECK(store_.Write([&](store::WriteTxn& txn) -> Status {
        CARNET_TRY(out, IssueChallenge(txn, a.id, "reauth", channel, destination,
                                       a.kind == kPatient ? a.patient_id : "", who.session_handle,
                                       "login_code"));
        return Ok();
    }));
    return out;
}

Status AuthService::FinishReauth(const Principal& who, const std::string& challenge,
                                 const std::string& code, const ClientInfo& client) {
    CARNET_CHECK(CheckIpThrottle(client.ip));
    bool denied = false;
    int64_t now = clock_.NowMicros();
    CARNET_CHECK(store_.Write([&](store::WriteTxn& txn) -> Status {
        CARNET_TRY(auto live, ConsumeChallenge(txn, challenge, "reauth", code));
        if (!live) {
            denied = true;
            return Ok();
        }
        // Bound to the account and the session that asked for it.
        if (live->account_id != who.account_id || live->data != who.session_handle)
            return Unauthenticated();
        CARNET_CHECK(txn.Exec("UPDATE sessions SET auth_time = ? WHERE handle = ?",
                              {now, who.session_handle}));
        return Ok();
    }));
    if (denied) return Unauthenticated();
    return Ok();
}

bool AuthService::RecentlyAuthenticated(const Principal& who) const {
    return clock_.NowMicros() - who.auth_time_us <= options_.reauth_window.count() * kMicros;
}

// ---- credentials and contacts -----------------------------------------------------------

Status AuthService::ChangePassword(const Principal& who, const std::string& current,
                                   const std::string& next) {
    CARNET_TRY(auto reader, store_.OpenReader());
    CARNET_TRY(auto rec, LoadAccount(*reader, "id = ?", {who.account_id}));
    reader.reset();
    if (!rec || rec->password_hash.empty() || !VerifyPassword(rec->password_hash, current)) {
        return Unauthenticated("mot de passe actuel incorrect");
    }
    const Account& a = rec->account;
    CARNET_CHECK(CheckPasswordPolicy(next, a.login.empty() ? a.ins : a.login));
    CARNET_TRY(std::string hash, HashPassword(next, options_.password_cost));
    int64_t now = clock_.NowMicros();
    return store_.Write([&](store::WriteTxn& txn) -> Status {
        CARNET_CHECK(
            txn.Exec("UPDATE accounts SET password_hash = ?, credentials_at = ? WHERE id = ?",
                     {hash, now, a.id}));
        // Every other session and every trusted device ends; this one goes on.
        CARNET_CHECK(
            txn.Exec("UPDATE sessions SET revoked_at = ? WHERE account_id = ? AND "
                     "revoked_at IS NULL AND handle <> ?",
                     {now, a.id, who.session_handle}));
        CARNET_CHECK(
            txn.Exec("UPDATE trusted_devices SET revoked_at = ? WHERE account_id = ? "
                     "AND revoked_at IS NULL",
                     {now, a.id}));
        CARNET_CHECK(NotifyHolder(txn, a, "password_changed"));
        return RecordEvent(txn, a.id, a.id, a.kind, "password.change");
    });
}

Result<Challenge> AuthService::StartContactChange(const Principal& who, const std::string& channel,
                                                  const std::string& address,
                                                  const ClientInfo& client) {
    CARNET_CHECK(CheckIpThrottle(client.ip));
    if (channel != "email" && channel != "sms")
        return Error::Invalid("le contact doit être une adresse e-mail ou un téléphone", "channel");
    auto dest = channel == "email" ? NormalizeEmail(address) : NormalizePhone(address);
    if (!dest) return Error::Invalid("contact invalide", "address");
    CARNET_TRY(auto reader, store_.OpenReader());
    CARNET_TRY(auto rec, LoadAccount(*reader, "id = ?", {who.account_id}));
    if (!rec) return Unauthenticated();
    CARNET_CHECK(CheckSendCaps(*reader, who.account_id, *dest));
    reader.reset();
    Challenge out;
    CARNET_CHECK(store_.Write([&](store::WriteTxn& txn) -> Status {
        CARNET_TRY(out, IssueChallenge(txn, who.account_id, "contact", channel, *dest,
                                       who.patient_id, channel, "contact_code"));
        return Ok();
    }));
    return out;
}

Status AuthService::ConfirmContact(const Principal& who, const std::string& challenge,
                                   const std::string& code) {
    bool denied = false;
    int64_t now = clock_.NowMicros();
    CARNET_CHECK(store_.Write([&](store::WriteTxn& txn) -> Status {
        CARNET_TRY(auto live, ConsumeChallenge(txn, challenge, "contact", code));
        if (!live) {
            denied = true;
            return Ok();
        }
        if (live->account_id != who.account_id) return Unauthenticated();
        const bool email = live->channel == "email";
        // The contact being replaced is told (a stolen session must not change it silently).
        CARNET_TRY(auto before, LoadAccount(txn, "id = ?", {who.account_id}));
        if (before) {
            const Account& b = before->account;
            const std::string& old_address = email ? b.email : b.phone;
            const bool old_verified = email ? b.email_verified : b.phone_verified;
            if (old_verified && !old_address.empty() && old_address != live->destination) {
                notify::Notification n;
                n.channel = email ? notify::Channel::kEmail : notify::Channel::kSms;
                n.recipient = old_address;
                n.template_name = "contact_changed";
                n.params = {{"portal_url", options_.portal_url}};
                n.patient_id = b.kind == kPatient ? b.patient_id : "";
                CARNET_CHECK(notify::Enqueue(txn, n, now));
            }
        }
        if (email) {
            CARNET_TRY(auto taken, txn.Query("SELECT id FROM accounts WHERE login = ? AND id <> ?",
                                             {live->destination, who.account_id}));
            if (!taken.empty()) {
                return Error::Make(
                    Code::kConflict, "duplicate",
                    "cette adresse e-mail sert déjà d'identifiant à un autre compte");
            }
            CARNET_CHECK(
                txn.Exec("UPDATE accounts SET email = ?, email_verified_at = ?, login = "
                         "CASE WHEN login IS NULL OR login = email THEN ? ELSE login END "
                         "WHERE id = ?",
                         {live->destination, now, live->destination, who.account_id}));
        } else {
            CARNET_CHECK(
                txn.Exec("UPDATE accounts SET phone = ?, phone_verified_at = ? WHERE id = ?",
                         {live->destination, now, who.account_id}));
        }
        return RecordEvent(txn, who.account_id, who.account_id, who.kind,
                           email ? "contact.email" : "contact.phone");
    }));
    if (denied) return Unauthenticated();
    return Ok();
}

Status AuthService::SetSecondFactor(const Principal& who, const std::string& channel) {
    CARNET_TRY(auto a, GetAccount(who.account_id));
    if (a.totp_enabled) {
        // Leaving the authenticator app asks for the password (DisableTotp); this route
        // must not be a way around it.
        return Error::Make(Code::kUnprocessable, "business-rule",
                           "désactivez d'abord l'application d'authentification (mot de passe "
                           "demandé)");
    }
    if (channel == "email" ? !a.email_verified : channel == "sms" ? !a.phone_verified : true) {
        return Error::Make(Code::kUnprocessable, "business-rule",
                           "ce contact n'est pas vérifié (ou l'application se règle à part)");
    }
    return store_.Write([&](store::WriteTxn& txn) -> Status {
        CARNET_CHECK(
            txn.Exec("UPDATE accounts SET second_factor = ?, totp_secret = NULL WHERE "
                     "id = ?",
                     {channel, who.account_id}));
        return RecordEvent(txn, who.account_id, who.account_id, who.kind,
                           "second-factor." + channel);
    });
}

// ---- TOTP -------------------------------------------------------------------------------

Result<TotpEnrolment> AuthService::StartTotp(const Principal& who) {
    CARNET_TRY(auto a, GetAccount(who.account_id));
    if (a.totp_enabled) {
        return Error::Make(Code::kConflict, "duplicate",
                           "une application d'authentification est déjà active");
    }
    std::string b32 = NewTotpSecret();
    auto raw = Base32Decode(b32);
    if (!raw) return Error::Internal("totp secret");
    std::string sealed = crypto::Seal(TotpKey(server_key_), *raw, who.account_id);
    CARNET_CHECK(store_.Write([&](store::WriteTxn& txn) -> Status {
        CARNET_CHECK(
            txn.Exec("UPDATE accounts SET totp_secret = ?, totp_last_step = -1 WHERE "
                     "id = ?",
                     {Base32Encode(sealed), who.account_id}));
        return Ok();
    }));
    std::string label = !a.login.empty() ? a.login : (!a.ins.empty() ? a.ins : a.rpps);
    return TotpEnrolment{b32, TotpUri(b32, label)};
}

Status AuthService::ConfirmTotp(const Principal& who, const std::string& code) {
    bool denied = false;
    int64_t now = clock_.NowMicros();
    CARNET_CHECK(store_.Write([&](store::WriteTxn& txn) -> Status {
        CARNET_TRY(auto rec, LoadAccount(txn, "id = ?", {who.account_id}));
        if (!rec || rec->totp_sealed.empty() || rec->account.totp_enabled) {
            denied = true;
            return Ok();
        }
        auto sealed = Base32Decode(rec->totp_sealed);
        if (!sealed) return Error::Internal("totp secret unreadable");
        CARNET_TRY(std::string secret, crypto::Open(TotpKey(server_key_), *sealed, who.account_id));
        auto step = VerifyTotp(secret, Trim(code), now / kMicros, rec->totp_last_step);
        if (!step) {
            denied = true;
            return Ok();
        }
        CARNET_CHECK(
            txn.Exec("UPDATE accounts SET second_factor = 'totp', totp_last_step = ? "
                     "WHERE id = ?",
                     {*step, who.account_id}));
        return RecordEvent(txn, who.account_id, who.account_id, who.kind, "second-factor.totp");
    }));
    if (denied) return Unauthenticated("code de l'application incorrect");
    return Ok();
}

Status AuthService::DisableTotp(const Principal& who, const std::string& password) {
    CARNET_TRY(auto reader, store_.OpenReader());
    CARNET_TRY(auto rec, LoadAccount(*reader, "id = ?", {who.account_id}));
    reader.reset();
    if (!rec || rec->password_hash.empty() || !VerifyPassword(rec->password_hash, password))
        return Unauthenticated("mot de passe incorrect");
    const Account& a = rec->account;
    std::string fallback = a.email_verified ? "email" : (a.phone_verified ? "sms" : "");
    if (fallback.empty()) {
        return Error::Make(Code::kUnprocessable, "business-rule",
                           "vérifiez d'abord une adresse e-mail ou un téléphone");
    }
    return store_.Write([&](store::WriteTxn& txn) -> Status {
        CARNET_CHECK(
            txn.Exec("UPDATE accounts SET second_factor = ?, totp_secret = NULL WHERE "
                     "id = ?",
                     {fallback, a.id}));
        return RecordEvent(txn, a.id, a.id, a.kind, "second-factor." + fallback);
    });
}

// ---- sessions, devices, history ---------------------------------------------------------

Result<std::vector<SessionInfo>> AuthService::ListSessions(const Principal& who) {
    int64_t now = clock_.NowMicros();
    CARNET_TRY(auto reader, store_.OpenReader());
    CARNET_TRY(auto rows,
               reader->Query("SELECT handle, method, ip, user_agent, created_at, last_seen_at, "
                             "expires_at FROM sessions WHERE account_id = ? AND revoked_at IS "
                             "NULL AND expires_at > ? AND last_seen_at > ? ORDER BY created_at "
                             "DESC LIMIT 100",
                             {who.account_id, now, now - options_.idle_timeout.count() * kMicros}));
    std::vector<SessionInfo> out;
    for (const auto& x : rows) {
        SessionInfo s;
        s.handle = AsText(x[0]);
        s.method = AsText(x[1]);
        s.ip = AsText(x[2]);
        s.user_agent = AsText(x[3]);
        s.created_at = AsInt(x[4]);
        s.last_seen_at = AsInt(x[5]);
        s.expires_at = AsInt(x[6]);
        s.current = s.handle == who.session_handle;
        out.push_back(std::move(s));
    }
    return out;
}

Status AuthService::RevokeSession(const Principal& who, const std::string& handle) {
    int64_t changed = 0;
    CARNET_CHECK(store_.Write([&](store::WriteTxn& txn) -> Status {
        CARNET_TRY(changed, txn.Exec("UPDATE sessions SET revoked_at = ? WHERE handle = ? AND "
                                     "account_id = ? AND revoked_at IS NULL",
                                     {clock_.NowMicros(), handle, who.account_id}));
        return Ok();
    }));
    if (changed == 0) return Error::NotFound("session inconnue");
    return Ok();
}

Result<std::vector<DeviceInfo>> AuthService::ListDevices(const Principal& who) {
    CARNET_TRY(auto reader, store_.OpenReader());
    CARNET_TRY(auto rows, reader->Query("SELECT handle, label, created_at, last_used_at, "
                                        "expires_at FROM trusted_devices WHERE account_id = ? AND "
                                        "revoked_at IS NULL AND expires_at > ? ORDER BY "
                                        "created_at DESC LIMIT 100",
                                        {who.account_id, clock_.NowMicros()}));
    std::vector<DeviceInfo> out;
    for (const auto& x : rows) {
        out.push_back(
            DeviceInfo{AsText(x[0]), AsText(x[1]), AsInt(x[2]), AsInt(x[3]), AsInt(x[4])});
    }
    return out;
}

Status AuthService::RevokeDevice(const Principal& who, const std::string& handle) {
    int64_t changed = 0;
    CARNET_CHECK(store_.Write([&](store::WriteTxn& txn) -> Status {
        CARNET_TRY(changed, txn.Exec("UPDATE trusted_devices SET revoked_at = ? WHERE handle = ? "
                                     "AND account_id = ? AND revoked_at IS NULL",
                                     {clock_.NowMicros(), handle, who.account_id}));
        return Ok();
    }));
    if (changed == 0) return Error::NotFound("appareil inconnu");
    return Ok();
}

Result<std::vector<AccountEvent>> AuthService::History(const std::string& account_id, int limit) {
    CARNET_TRY(auto reader, store_.OpenReader());
    CARNET_TRY(auto rows,
               reader->Query("SELECT at, actor_kind, action, detail FROM "
                             "account_events WHERE account_id = ? ORDER BY at DESC "
                             "LIMIT ?",
                             {account_id, static_cast<int64_t>(std::clamp(limit, 1, 500))}));
    std::vector<AccountEvent> out;
    for (const auto& x : rows) {
        out.push_back(AccountEvent{AsInt(x[0]), AsText(x[1]), AsText(x[2]), AsText(x[3])});
    }
    return out;
}

// ---- operator ---------------------------------------------------------------------------

namespace {

/// Inserts a pending account with a fresh activation code; returns the code.
Result<std::string> InsertPending(store::WriteTxn& txn, const Account& a, int64_t now,
                                  int64_t activation_ttl_us,
                                  const std::function<std::string(const std::string&)>& hash) {
    std::string code = NewActivationCode();
    CARNET_CHECK(txn.Exec(
        "INSERT INTO accounts(id, kind, status, login, ins, rpps, patient_id, given, family, "
        "birth_date, profession, specialty, organisation, email, phone, second_factor, "
        "activation_hash, activation_expires_at, activation_tries, totp_last_step, created_at, "
        "credentials_at) VALUES (?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, "
        "-1, ?, 0)",
        {a.id, a.kind, TextOrNull(a.login), TextOrNull(a.ins), TextOrNull(a.rpps), a.patient_id,
         a.given, a.family, a.birth_date, a.profession, a.specialty, a.organisation,
         TextOrNull(a.email), TextOrNull(a.phone),
         a.email.empty() && !a.phone.empty() ? "sms" : "email",
         hash(a.id + ":" + NormalizeActivationCode(code)), now + activation_ttl_us, now}));
    return code;
}

/// The contacts an import gives, normalised (kInvalid names the field at fault).
Status SetContacts(Account& a, const std::string& email, const std::string& phone) {
    if (!email.empty()) {
        auto e = NormalizeEmail(email);
        if (!e) return Error::Invalid("adresse e-mail invalide", "email");
        a.email = *e;
    }
    if (!phone.empty()) {
        auto ph = NormalizePhone(phone);
        if (!ph) return Error::Invalid("numéro de téléphone invalide", "phone");
        a.phone = *ph;
    }
    return Ok();
}

Status SendActivation(store::WriteTxn& txn, const Account& a, const std::string& code,
                      const std::string& portal_url, int64_t now) {
    if (a.email.empty() && a.phone.empty()) return Ok();
    notify::Notification n;
    n.channel = a.email.empty() ? notify::Channel::kSms : notify::Channel::kEmail;
    n.recipient = a.email.empty() ? a.phone : a.email;
    n.template_name = "activation_code";
    n.params = {{"code", code}, {"portal_url", portal_url}};
    n.patient_id = a.kind == kPatient ? a.patient_id : "";
    return notify::Enqueue(txn, n, now).ok() ? Ok() : Status(Error::Internal("activation notice"));
}

}  // namespace

Status AuthService::InsertNew(store::WriteTxn& txn, Account& a, const std::string& actor,
                              bool send_activation, Created& out) {
    const int64_t now = clock_.NowMicros();
    a.id = NewUuid();
    a.status = std::string(kPending);
    a.created_at = now;
    CARNET_TRY(out.activation_code,
               InsertPending(txn, a, now, options_.activation_ttl.count() * kMicros,
                             [&](const std::string& s) { return Hash("activation", s); }));
    if (send_activation) {
        CARNET_CHECK(SendActivation(txn, a, out.activation_code, options_.portal_url, now));
    }
    out.account = a;
    return RecordEvent(txn, a.id, actor, "admin", "account.created");
}

Result<Created> AuthService::CreatePatient(const NewPatient& p, const std::string& actor) {
    auto ins = NormalizeIns(p.ins);
    if (!ins) return Error::Invalid("INS invalide (13 chiffres et une clé de 2 chiffres)", "ins");
    if (Trim(p.family).empty()) return Error::Invalid("le nom de famille est requis", "family");
    if (AgeInYears(p.birth_date, clock_.NowMicros()) < 0)
        return Error::Invalid("date de naissance invalide (AAAA-MM-JJ)", "birth_date");
    Account a;
    a.kind = std::string(kPatient);
    a.ins = *ins;
    a.given = Trim(p.given);
    a.family = Trim(p.family);
    a.birth_date = p.birth_date;
    CARNET_CHECK(SetContacts(a, p.email, p.phone));
    if (!p.patient_id.empty() && !IsValidFhirId(p.patient_id))
        return Error::Invalid("identifiant de dossier invalide", "patient_id");
    Created out;
    int64_t now = clock_.NowMicros();
    CARNET_CHECK(store_.Write([&](store::WriteTxn& txn) -> Status {
        CARNET_TRY(auto existing, LoadAccount(txn, "ins = ?", {a.ins}));
        if (existing) {
            out.account = existing->account;
            out.existed = true;
            return Ok();
        }
        a.patient_id = p.patient_id.empty() ? NewUuid() : p.patient_id;
        // A minor's record is managed by representatives: no activation code leaves Carnet
        // (neither sent nor returned for a letter) before majority, when an advisor issues one.
        const bool adult = AgeInYears(a.birth_date, now) >= options_.majority_age;
        CARNET_CHECK(InsertNew(txn, a, actor, adult, out));
        if (!adult) out.activation_code.clear();
        return Ok();
    }));
    return out;
}

Result<Created> AuthService::CreateProfessional(const NewProfessional& p,
                                                const std::string& actor) {
    std::string rpps;
    for (char c : p.rpps)
        if (c != ' ') rpps.push_back(c);
    if (!IsValidRpps(rpps))
        return Error::Invalid("identifiant RPPS invalide (11 chiffres)", "rpps");
    bool known = false;
    for (const auto& [code, label] : Professions()) known = known || code == p.profession;
    if (!known)
        return Error::Invalid("profession inconnue: " + p.profession.substr(0, 40), "profession");
    if (Trim(p.family).empty()) return Error::Invalid("le nom de famille est requis", "family");
    Account a;
    a.kind = std::string(kProfessional);
    a.rpps = rpps;
    a.given = Trim(p.given);
    a.family = Trim(p.family);
    a.profession = p.profession;
    a.specialty = Trim(p.specialty);
    a.organisation = Trim(p.organisation);
    CARNET_CHECK(SetContacts(a, p.email, p.phone));
    Created out;
    CARNET_CHECK(store_.Write([&](store::WriteTxn& txn) -> Status {
        CARNET_TRY(auto existing, LoadAccount(txn, "rpps = ?", {a.rpps}));
        if (existing) {
            // The directory follows the national one: names, profession and organisation are
            // refreshed; credentials and state are left alone.
            CARNET_CHECK(
                txn.Exec("UPDATE accounts SET given = ?, family = ?, profession = ?, "
                         "specialty = ?, organisation = ? WHERE id = ?",
                         {a.given, a.family, a.profession, a.specialty, a.organisation,
                          existing->account.id}));
            out.account = existing->account;
            out.existed = true;
            return Ok();
        }
        return InsertNew(txn, a, actor, true, out);
    }));
    return out;
}

Result<Created> AuthService::CreateStaff(const NewStaff& s, const std::string& actor) {
    if (s.kind != kAdvisor && s.kind != kAdmin)
        return Error::Invalid("type de compte opérateur inconnu", "kind");
    std::string login = Lower(Trim(s.login));
    if (login.size() < 3 || login.size() > 64 || NormalizeIns(login) || IsValidRpps(login))
        return Error::Invalid("identifiant invalide (3 à 64 caractères)", "login");
    Account a;
    a.kind = s.kind;
    a.login = login;
    a.given = Trim(s.given);
    a.family = Trim(s.family);
    CARNET_CHECK(SetContacts(a, s.email, ""));
    Created out;
    CARNET_CHECK(store_.Write([&](store::WriteTxn& txn) -> Status {
        CARNET_TRY(auto existing, LoadAccount(txn, "login = ?", {a.login}));
        if (existing) {
            out.account = existing->account;
            out.existed = true;
            return Ok();
        }
        return InsertNew(txn, a, actor, true, out);
    }));
    return out;
}

Status AuthService::SetPasswordForSetup(const std::string& account_id, const std::string& password,
                                        const std::string& verified_email,
                                        const std::string& verified_phone) {
    CARNET_TRY(std::string hash, HashPassword(password, options_.password_cost));
    int64_t now = clock_.NowMicros();
    return store_.Write([&](store::WriteTxn& txn) -> Status {
        CARNET_TRY(auto rec, LoadAccount(txn, "id = ?", {account_id}));
        if (!rec) return Error::NotFound("compte inconnu");
        std::string factor = !verified_email.empty() ? "email" : "sms";
        CARNET_CHECK(txn.Exec(
            "UPDATE accounts SET status = 'active', password_hash = ?, activation_hash = NULL, "
            "activated_at = ?, credentials_at = ?, email = ?, email_verified_at = ?, phone = ?, "
            "phone_verified_at = ?, second_factor = ?, login = COALESCE(login, ?) WHERE id = ?",
            {hash, now, now, TextOrNull(verified_email),
             verified_email.empty() ? Value(nullptr) : Value(now), TextOrNull(verified_phone),
             verified_phone.empty() ? Value(nullptr) : Value(now), factor,
             TextOrNull(verified_email), account_id}));
        return RecordEvent(txn, account_id, "setup", "system", "activation", "configuration");
    });
}

Result<std::string> AuthService::ResendActivation(const std::string& account_id,
                                                  const Principal& actor) {
    if (actor.kind != kAdvisor && actor.kind != kAdmin) return Forbidden("réservé aux opérateurs");
    int64_t now = clock_.NowMicros();
    std::string code;
    CARNET_CHECK(store_.Write([&](store::WriteTxn& txn) -> Status {
        CARNET_TRY(auto rec, LoadAccount(txn, "id = ?", {account_id}));
        if (!rec) return Error::NotFound("compte inconnu");
        if (rec->account.status != kPending) {
            return Error::Make(Code::kUnprocessable, "business-rule",
                               "ce compte n'attend pas d'activation");
        }
        if (rec->account.kind == kPatient &&
            AgeInYears(rec->account.birth_date, now) < options_.majority_age) {
            return Error::Make(Code::kUnprocessable, "business-rule",
                               "personne mineure : son espace est géré par ses représentants "
                               "jusqu'à sa majorité");
        }
        if (rec->account.email.empty() && rec->account.phone.empty()) {
            // A new code nobody receives would only void the one on the letter.
            return Error::Make(Code::kUnprocessable, "business-rule",
                               "aucun contact connu : un nouveau courrier d'activation est "
                               "nécessaire");
        }
        code = NewActivationCode();
        CARNET_CHECK(
            txn.Exec("UPDATE accounts SET activation_hash = ?, activation_expires_at = "
                     "?, activation_tries = 0 WHERE id = ?",
                     {Hash("activation", account_id + ":" + NormalizeActivationCode(code)),
                      now + options_.activation_ttl.count() * kMicros, account_id}));
        CARNET_CHECK(SendActivation(txn, rec->account, code, options_.portal_url, now));
        return RecordEvent(txn, account_id, actor.account_id, actor.kind,
                           "operator.resend-activation", actor.display_name);
    }));
    return code;
}

Result<std::pair<int64_t, int64_t>> AuthService::Lockout(const std::string& account_id) {
    CARNET_TRY(auto a, GetAccount(account_id));
    CARNET_TRY(auto reader, store_.OpenReader());
    int64_t until = 0, failures = 0;
    for (const auto& l : {a.login, a.ins, a.rpps, a.email}) {
        if (l.empty()) continue;
        CARNET_TRY(auto rows, reader->Query("SELECT blocked_until, failures FROM login_throttle "
                                            "WHERE id = ?",
                                            {ThrottleKey(l)}));
        if (rows.empty()) continue;
        until = std::max(until, AsInt(rows[0][0]));
        failures = std::max(failures, AsInt(rows[0][1]));
    }
    CARNET_TRY(auto codes, reader->Query("SELECT blocked_until, failures FROM login_throttle WHERE "
                                         "id = ?",
                                         {Hash("codes", a.id)}));
    if (!codes.empty()) {
        until = std::max(until, AsInt(codes[0][0]));
        failures = std::max(failures, AsInt(codes[0][1]));
    }
    if (until <= clock_.NowMicros()) until = 0;
    return std::make_pair(until, failures);
}

Status AuthService::Unlock(const std::string& account_id, const Principal& actor) {
    if (actor.kind != kAdvisor && actor.kind != kAdmin) return Forbidden("réservé aux opérateurs");
    CARNET_TRY(auto a, GetAccount(account_id));
    std::vector<std::string> keys;
    for (const auto& l : {a.login, a.ins, a.rpps, a.email})
        if (!l.empty()) keys.push_back(ThrottleKey(l));
    keys.push_back(Hash("codes", a.id));  // the wrong-code backoff too
    return store_.Write([&](store::WriteTxn& txn) -> Status {
        for (const auto& k : keys)
            CARNET_CHECK(txn.Exec("DELETE FROM login_throttle WHERE id = ?", {k}));
        CARNET_CHECK(txn.Exec("UPDATE accounts SET activation_tries = 0 WHERE id = ?", {a.id}));
        return RecordEvent(txn, a.id, actor.account_id, actor.kind, "operator.unlock",
                           actor.display_name);
    });
}

Result<std::vector<Account>> AuthService::SearchDirectory(const std::string& text,
                                                          const std::string& profession,
                                                          int limit) {
    std::string t = Lower(Trim(text));
    if (t.size() > 64) t.resize(64);
    CARNET_TRY(auto reader, store_.OpenReader());
    std::vector<Account> out;
    CARNET_TRY(auto rows,
               reader->Query("SELECT id FROM accounts WHERE kind = 'professional' AND status IN "
                             "('pending', 'active') AND (lower(family) LIKE ? ESCAPE '\\' OR "
                             "lower(given) LIKE ? ESCAPE '\\' OR rpps = ?) AND (profession = ? "
                             "OR ? = '') ORDER BY family, given LIMIT ?",
                             {EscapeLike(t) + "%", EscapeLike(t) + "%", t, profession, profession,
                              static_cast<int64_t>(std::clamp(limit, 1, 100))}));
    for (const auto& x : rows) {
        CARNET_TRY(auto rec, LoadAccount(*reader, "id = ?", {AsText(x[0])}));
        if (rec) out.push_back(rec->account);
    }
    return out;
}

Result<std::vector<Account>> AuthService::SearchAccounts(const std::string& kind,
                                                         const std::string& text, int limit) {
    std::string t = Lower(Trim(text));
    if (t.size() > 64) t.resize(64);
    std::string exact = t;
    if (auto ins = NormalizeIns(t)) exact = *ins;
    CARNET_TRY(auto reader, store_.OpenReader());
    CARNET_TRY(auto rows,
               reader->Query("SELECT id FROM accounts WHERE (kind = ? OR ? = '') AND "
                             "(lower(family) LIKE ? ESCAPE '\\' OR ins = ? OR rpps = ? OR login = "
                             "?) ORDER BY family, given LIMIT ?",
                             {kind, kind, EscapeLike(t) + "%", exact, t, t,
                              static_cast<int64_t>(std::clamp(limit, 1, 100))}));
    std::vector<Account> out;
    for (const auto& x : rows) {
        CARNET_TRY(auto rec, LoadAccount(*reader, "id = ?", {AsText(x[0])}));
        if (rec) out.push_back(rec->account);
    }
    return out;
}

}  // namespace carnet::auth
