#include "auth/service.hpp"

#include <sodium.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <unordered_map>

#include "audit/audit.hpp"
#include "auth/internal.hpp"
#include "core/ids.hpp"
#include "crypto/crypto.hpp"
#include "notify/notify.hpp"

namespace carnet::auth {

using namespace detail;  // NOLINT: this module's own helpers

namespace {

constexpr const char* kAccountColumns =
    "id, kind, status, login, ins, rpps, patient_id, given, family, birth_date, profession, "
    "specialty, organisation, email, email_verified_at, phone, phone_verified_at, "
    "second_factor, password_hash, activation_hash, activation_expires_at, activation_tries, "
    "totp_secret, totp_last_step, created_at, activated_at, closed_at, purge_at, credentials_at";

std::string ChannelTemplate(const std::string& purpose) {
    if (purpose == "reset") return "reset_code";
    if (purpose == "activation" || purpose == "contact") return "contact_code";
    return "login_code";
}

}  // namespace

// ---- small public helpers ------------------------------------------------------------

std::string Account::DisplayName() const {
    if (given.empty()) return family;
    if (family.empty()) return given;
    return given + " " + family;
}

const std::vector<std::pair<std::string, std::string>>& Professions() {
    static const std::vector<std::pair<std::string, std::string>> kList = {
        {"medecin", "Médecin"},
        {"pharmacien", "Pharmacien"},
        {"infirmier", "Infirmier"},
        {"sage-femme", "Sage-femme"},
        {"chirurgien-dentiste", "Chirurgien-dentiste"},
        {"masseur-kinesitherapeute", "Masseur-kinésithérapeute"},
        {"pedicure-podologue", "Pédicure-podologue"},
        {"orthophoniste", "Orthophoniste"},
        {"orthoptiste", "Orthoptiste"},
        {"social", "Professionnel du social ou du médico-social"},
        // Never any content, whatever the patient or the grid says (access::NeverContent).
        {"assureur", "Assureur ou mutuelle"},
        {"employeur", "Employeur"},
        {"medecin-travail", "Médecin du travail"},
    };
    return kList;
}

std::string MaskDestination(const std::string& channel, const std::string& address) {
    static const std::string kDot = "\u2022\u2022\u2022";  // •••
    if (channel == "email") {
        auto at = address.find('@');
        if (at == std::string::npos || at == 0) return kDot;
        std::string domain = address.substr(at + 1);
        auto dot = domain.rfind('.');
        std::string tld = dot == std::string::npos ? std::string() : domain.substr(dot);
        return address.substr(0, 1) + kDot + "@" + (domain.empty() ? "" : domain.substr(0, 1)) +
               kDot + tld;
    }
    if (channel == "sms") {
        std::string digits;
        for (char c : address)
            if (std::isdigit(static_cast<unsigned char>(c))) digits.push_back(c);
        std::string last = digits.size() >= 2 ? digits.substr(digits.size() - 2) : "";
        return "\u2022\u2022 \u2022\u2022 \u2022\u2022 \u2022\u2022 " + last;
    }
    if (channel == "totp") return "application d'authentification";
    return kDot;
}

int AgeInYears(const std::string& birth_date, int64_t now_us) {
    int y = 0, m = 0, d = 0;
    if (birth_date.size() != 10 || birth_date[4] != '-' || birth_date[7] != '-' ||
        std::sscanf(birth_date.c_str(), "%4d-%2d-%2d", &y, &m, &d) != 3 || y < 1850 || m < 1 ||
        m > 12 || d < 1 || d > 31)
        return -1;
    std::time_t t = static_cast<std::time_t>(now_us / kMicros);
    std::tm tm{};
    gmtime_r(&t, &tm);
    int age = (tm.tm_year + 1900) - y;
    if (tm.tm_mon + 1 < m || (tm.tm_mon + 1 == m && tm.tm_mday < d)) --age;
    return age;
}

std::optional<std::string> NormalizeEmail(std::string_view text) {
    std::string s = Trim(text);
    if (s.size() < 3 || s.size() > 254) return std::nullopt;
    auto at = s.find('@');
    if (at == std::string::npos || at == 0 || at != s.rfind('@') || at + 1 >= s.size())
        return std::nullopt;
    for (unsigned char c : s) {
        if (c <= 0x20 || c == 0x7f || c == '<' || c == '>' || c == ',' || c == ';' || c == '"' ||
            c == '\\')
            return std::nullopt;
    }
    std::string domain = s.substr(at + 1);
    if (domain.find('.') == std::string::npos || domain.front() == '.' || domain.back() == '.')
        return std::nullopt;
    // Lower-cased whole: the address is also a login, compared case-insensitively.
    return Lower(s);
}

std::optional<std::string> NormalizePhone(std::string_view text) {
    std::string digits;
    bool plus = false;
    for (size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (c == '+' && digits.empty() && !plus) {
            plus = true;
        } else if (std::isdigit(static_cast<unsigned char>(c))) {
            digits.push_back(c);
        } else if (c != ' ' && c != '.' && c != '-' && c != '(' && c != ')') {
            return std::nullopt;
        }
    }
    if (!plus) {
        // French national form: 0X XX XX XX XX.
        if (digits.size() == 10 && digits[0] == '0' && digits[1] != '0')
            return "+33" + digits.substr(1);
        if (digits.size() > 2 && digits.rfind("00", 0) == 0)
            digits = digits.substr(2);
        else
            return std::nullopt;
    }
    if (digits.size() < 8 || digits.size() > 15 || digits[0] == '0') return std::nullopt;
    return "+" + digits;
}

/// Per-address attempt counter over fixed one-minute windows, in memory. A deployment with
/// several processes behind a balancer throttles per process (the per-login throttle, in
/// the database, is shared).
struct AuthService::Throttle {
    std::mutex mu;
    struct Window {
        int64_t minute = 0;
        int count = 0;
    };
    std::unordered_map<std::string, Window> by_ip;
};

AuthService::AuthService(store::Store& store, const Clock& clock, std::string server_key,
                         AuthOptions options)
    : store_(store),
      clock_(clock),
      server_key_(std::move(server_key)),
      options_(std::move(options)),
      throttle_(std::make_unique<Throttle>()) {
    // The hash unknown logins are checked against: same parameters as real ones, so the
    // Argon2id work (the dominant cost of a login) is the same whether the account exists.
    auto h = HashPassword(NewToken(16), options_.password_cost);
    dummy_hash_ = h.ok() ? *h : std::string();
}

AuthService::~AuthService() = default;

std::string AuthService::Hash(std::string_view purpose, std::string_view secret) const {
    std::string input(purpose);
    input.push_back(':');
    input.append(secret);
    return HashSecret(input, server_key_);
}

std::string AuthService::ThrottleKey(const std::string& login) const {
    // The identifier as LookupLogin understands it: every spelling of one INS or RPPS
    // shares one failure count.
    const std::string l = Trim(login);
    if (auto ins = NormalizeIns(l)) return Hash("login", "ins:" + *ins);
    std::string digits;
    for (char c : l)
        if (c != ' ') digits.push_back(c);
    if (IsValidRpps(digits)) return Hash("login", "rpps:" + digits);
    return Hash("login", "login:" + Lower(l));
}

std::string AuthService::DecoyMask(const std::string& login) const {
    // A login that is an e-mail address is, for a real account, the verified contact the
    // code goes to: the decoy shows that address masked, exactly as a real answer would.
    // Other logins (INS, RPPS, user names) get a stable made-up address.
    if (auto email = NormalizeEmail(login)) return MaskDestination("email", *email);
    std::string h = Hash("decoy", Lower(Trim(login)));
    static constexpr std::string_view kDomains[] = {"gmail.com",   "orange.fr", "free.fr",
                                                    "laposte.net", "yahoo.fr",  "sfr.fr"};
    std::string fake = std::string(1, static_cast<char>('a' + (h[0] % 26))) + "@" +
                       std::string(kDomains[static_cast<unsigned char>(h[1]) % 6]);
    return MaskDestination("email", fake);
}

std::string AuthService::CsrfFor(const std::string& token) const {
    return Hash("csrf", token).substr(0, 43);
}

Status AuthService::CheckIpThrottle(const std::string& ip) {
    int64_t now = clock_.NowMicros();
    int64_t minute = now / (60 * kMicros);
    std::lock_guard lock(throttle_->mu);
    auto& map = throttle_->by_ip;
    if (map.size() > 100'000) {
        for (auto it = map.begin(); it != map.end();) {
            it = it->second.minute < minute ? map.erase(it) : std::next(it);
        }
    }
    auto& w = map[ip];
    if (w.minute != minute) {
        w.minute = minute;
        w.count = 0;
    }
    if (++w.count > options_.attempts_per_ip_per_minute) {
        return TooMany("trop de tentatives depuis cette adresse, réessayez dans une minute",
                       60 - (now / kMicros) % 60);
    }
    return Ok();
}

Result<std::optional<AuthService::Record>> AuthService::LoadAccount(
    store::Reader& r, const std::string& where, const std::vector<Value>& params) {
    CARNET_TRY(auto rows,
               r.Query(std::string("SELECT ") + kAccountColumns + " FROM accounts WHERE " + where,
                       params));
    if (rows.empty()) return std::optional<Record>();
    const Row& x = rows.front();
    Record rec;
    Account& a = rec.account;
    a.id = AsText(x[0]);
    a.kind = AsText(x[1]);
    a.status = AsText(x[2]);
    a.login = AsText(x[3]);
    a.ins = AsText(x[4]);
    a.rpps = AsText(x[5]);
    a.patient_id = AsText(x[6]);
    a.given = AsText(x[7]);
    a.family = AsText(x[8]);
    a.birth_date = AsText(x[9]);
    a.profession = AsText(x[10]);
    a.specialty = AsText(x[11]);
    a.organisation = AsText(x[12]);
    a.email = AsText(x[13]);
    a.email_verified = !IsNull(x[14]);
    a.phone = AsText(x[15]);
    a.phone_verified = !IsNull(x[16]);
    a.second_factor = AsText(x[17]);
    rec.password_hash = AsText(x[18]);
    a.has_password = !rec.password_hash.empty();
    rec.activation_hash = AsText(x[19]);
    rec.activation_expires_at = AsInt(x[20]);
    rec.activation_tries = AsInt(x[21]);
    rec.totp_sealed = AsText(x[22]);
    rec.totp_last_step = AsInt(x[23], -1);
    a.totp_enabled = a.second_factor == "totp";
    a.created_at = AsInt(x[24]);
    a.activated_at = AsInt(x[25]);
    a.closed_at = AsInt(x[26]);
    a.purge_at = AsInt(x[27]);
    rec.credentials_at = AsInt(x[28]);
    return std::optional<Record>(std::move(rec));
}

Result<std::optional<AuthService::Record>> AuthService::LookupLogin(store::Reader& r,
                                                                    const std::string& login) {
    std::string l = Trim(login);
    if (l.empty() || l.size() > 254) return std::optional<Record>();
    if (auto ins = NormalizeIns(l)) return LoadAccount(r, "ins = ?", {*ins});
    std::string digits;
    for (char c : l)
        if (c != ' ') digits.push_back(c);
    if (IsValidRpps(digits)) return LoadAccount(r, "rpps = ?", {digits});
    return LoadAccount(r, "login = ?", {Lower(l)});
}

Status AuthService::CheckSendCaps(store::Reader& r, const std::string& account_id,
                                  const std::string& destination) {
    int64_t since =
        clock_.NowMicros() -
        std::chrono::duration_cast<std::chrono::microseconds>(options_.send_window).count();
    int64_t window_s = options_.send_window.count();
    if (!account_id.empty()) {
        CARNET_TRY(auto rows,
                   r.Query("SELECT CAST(COALESCE(SUM(sends), 0) AS BIGINT) FROM challenges WHERE "
                           "account_id = ? AND created_at > ?",
                           {account_id, since}));
        if (!rows.empty() && AsInt(rows[0][0]) >= options_.sends_per_account) {
            return TooMany("trop de codes envoyés pour ce compte, réessayez plus tard", window_s);
        }
    }
    CARNET_TRY(auto rows,
               r.Query("SELECT CAST(COALESCE(SUM(sends), 0) AS BIGINT) FROM challenges WHERE "
                       "destination = ? AND created_at > ?",
                       {destination, since}));
    if (!rows.empty() && AsInt(rows[0][0]) >= options_.sends_per_destination) {
        return TooMany("trop de codes envoyés à cette adresse, réessayez plus tard", window_s);
    }
    return Ok();
}

Result<Challenge> AuthService::IssueChallenge(
    store::WriteTxn& txn, const std::string& account_id, const std::string& purpose,
    const std::string& channel, const std::string& destination, const std::string& patient_id,
    const std::string& data, const std::string& template_name) {
    int64_t now = clock_.NowMicros();
    std::string token = NewToken(32);
    std::string id = Hash("challenge", token);
    Value code_hash = nullptr;
    int64_t sends = 0;
    if (channel == "email" || channel == "sms") {
        std::string code = NewOneTimeCode();
        code_hash = Hash("code", id + ":" + code);
        sends = 1;
        notify::Notification n;
        n.channel = channel == "email" ? notify::Channel::kEmail : notify::Channel::kSms;
        n.recipient = destination;
        n.template_name = template_name;
        n.params = {{"code", code}, {"minutes", std::to_string(options_.code_ttl.count() / 60)}};
        n.patient_id = patient_id;
        CARNET_CHECK(notify::Enqueue(txn, n, now));
    }
    int64_t expires = now + options_.code_ttl.count() * kMicros;
    CARNET_CHECK(txn.Exec(
        "INSERT INTO challenges(id, account_id, purpose, channel, destination, code_hash, data, "
        "created_at, expires_at, tries, sends) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)",
        {id, TextOrNull(account_id), purpose, channel, destination, code_hash, data, now, expires,
         sends}));
    return Challenge{token, channel, MaskDestination(channel, destination)};
}

Result<Challenge> AuthService::IssueDecoy(store::WriteTxn& txn, const std::string& purpose,
                                          const std::string& login) {
    // Written like a real challenge (same row, same cost), but no code exists for it.
    const int64_t now = clock_.NowMicros();
    std::string token = NewToken(32);
    CARNET_CHECK(txn.Exec(
        "INSERT INTO challenges(id, account_id, purpose, channel, destination, code_hash, data, "
        "created_at, expires_at, tries, sends) VALUES (?, NULL, ?, 'email', '', NULL, '', ?, ?, "
        "0, 0)",
        {Hash("challenge", token), purpose, now, now + options_.code_ttl.count() * kMicros}));
    // A stable, plausible mask for this login, so that asking twice looks the same.
    return Challenge{token, "email", DecoyMask(login)};
}

Status AuthService::NotifyHolder(store::WriteTxn& txn, const Account& a,
                                 const std::string& template_name) {
    // The verified e-mail, else the verified phone; nobody to tell otherwise.
    const std::string to = a.email_verified ? a.email : (a.phone_verified ? a.phone : "");
    if (to.empty()) return Ok();
    notify::Notification n;
    n.channel = a.email_verified ? notify::Channel::kEmail : notify::Channel::kSms;
    n.recipient = to;
    n.template_name = template_name;
    n.params = {{"portal_url", options_.portal_url}};
    n.patient_id = a.kind == kPatient ? a.patient_id : "";
    return notify::Enqueue(txn, n, clock_.NowMicros()).ok()
               ? Ok()
               : Status(Error::Internal("cannot queue the notice"));
}

Result<std::optional<AuthService::LiveChallenge>> AuthService::ConsumeChallenge(
    store::WriteTxn& txn, const std::string& challenge, const std::string& purpose,
    const std::string& code) {
    if (challenge.empty() || challenge.size() > 128) return Unauthenticated();
    const std::string id = Hash("challenge", challenge);
    const int64_t now = clock_.NowMicros();
    // Claim one try atomically: the WHERE is re-checked under the row lock, so concurrent
    // verifications (PostgreSQL runs write transactions in parallel) can neither exceed the
    // tries nor both use the code. Decoys (no account), other purposes, used, expired and
    // exhausted challenges all fail here, the same way.
    CARNET_TRY(int64_t claimed,
               txn.Exec("UPDATE challenges SET tries = tries + 1 WHERE id = ? AND account_id IS "
                        "NOT NULL AND purpose = ? AND used_at IS NULL AND expires_at >= ? AND "
                        "tries < ?",
                        {id, purpose, now, static_cast<int64_t>(options_.code_tries)}));
    if (claimed == 0) return Unauthenticated();
    CARNET_TRY(auto rows, txn.Query("SELECT account_id, channel, destination, code_hash, data "
                                    "FROM challenges WHERE id = ?",
                                    {id}));
    if (rows.empty()) return Unauthenticated();
    const Row& x = rows[0];
    LiveChallenge live{id, AsText(x[0]), AsText(x[1]), AsText(x[2]), AsText(x[4])};
    // Codes are also throttled per account, whatever the challenge: new challenges cannot
    // reset the count (an authenticator code would otherwise be guessable 5 at a time).
    const std::string code_key = Hash("codes", live.account_id);
    CARNET_TRY(auto blocked,
               txn.Query("SELECT blocked_until FROM login_throttle WHERE id = ?", {code_key}));
    if (!blocked.empty() && AsInt(blocked[0][0]) > now) {
        return TooMany("trop de codes erronés : patientez avant de réessayer",
                       (AsInt(blocked[0][0]) - now + kMicros - 1) / kMicros);
    }
    bool good = false;
    const std::string c = Trim(code);
    if (live.channel == "totp") {
        CARNET_TRY(auto rec, LoadAccount(txn, "id = ?", {live.account_id}));
        if (rec && !rec->totp_sealed.empty()) {
            auto sealed = Base32Decode(rec->totp_sealed);
            auto secret = sealed
                              ? crypto::Open(detail::TotpKey(server_key_), *sealed, rec->account.id)
                              : Result<std::string>(Error::Internal("totp secret"));
            if (secret.ok()) {
                auto step = VerifyTotp(*secret, c, now / kMicros, rec->totp_last_step);
                if (step) {
                    // A step is accepted once, even by two verifications at the same time.
                    CARNET_TRY(int64_t moved,
                               txn.Exec("UPDATE accounts SET totp_last_step = ? WHERE id = ? AND "
                                        "totp_last_step < ?",
                                        {*step, live.account_id, *step}));
                    good = moved == 1;
                }
            }
        }
    } else if (c.size() == 6) {
        good = ConstantTimeEquals(Hash("code", id + ":" + c), AsText(x[3]));
    }
    if (!good) {
        CARNET_CHECK(txn.Exec(
            "INSERT INTO login_throttle(id, failures, last_failure_at, blocked_until) VALUES (?, "
            "1, ?, 0) ON CONFLICT(id) DO UPDATE SET failures = login_throttle.failures + 1, "
            "last_failure_at = excluded.last_failure_at",
            {code_key, now}));
        CARNET_TRY(auto f,
                   txn.Query("SELECT failures FROM login_throttle WHERE id = ?", {code_key}));
        const int64_t wait = LoginBackoff(f.empty() ? 1 : static_cast<int>(AsInt(f[0][0]))).count();
        if (wait > 0) {
            CARNET_CHECK(txn.Exec("UPDATE login_throttle SET blocked_until = ? WHERE id = ?",
                                  {now + wait * kMicros, code_key}));
        }
        return std::optional<LiveChallenge>();
    }
    CARNET_TRY(int64_t used, txn.Exec("UPDATE challenges SET used_at = ? WHERE id = ? AND used_at "
                                      "IS NULL",
                                      {now, id}));
    if (used != 1) return Unauthenticated();
    CARNET_CHECK(txn.Exec("DELETE FROM login_throttle WHERE id = ?", {code_key}));
    return std::optional<LiveChallenge>(std::move(live));
}

Result<IssuedSession> AuthService::OpenSession(store::WriteTxn& txn, const Account& account,
                                               const std::string& method, bool trust_device,
                                               const ClientInfo& client) {
    int64_t now = clock_.NowMicros();
    IssuedSession s;
    s.token = NewToken(32);
    s.csrf = CsrfFor(s.token);
    s.handle = NewToken(9);
    s.expires_in_s = options_.absolute_timeout.count();
    CARNET_CHECK(txn.Exec(
        "INSERT INTO sessions(id, handle, account_id, method, created_at, auth_time, "
        "last_seen_at, expires_at, ip, user_agent, acting_patient) VALUES (?, ?, ?, ?, ?, ?, ?, "
        "?, ?, ?, '')",
        {Hash("session", s.token), s.handle, account.id, method, now, now, now,
         now + s.expires_in_s * kMicros, client.ip.substr(0, 64),
         client.user_agent.substr(0, 200)}));
    if (trust_device) {
        s.device_token = NewToken(32);
        std::string label =
            client.user_agent.empty() ? "Appareil" : client.user_agent.substr(0, 120);
        CARNET_CHECK(txn.Exec(
            "INSERT INTO trusted_devices(id, handle, account_id, label, created_at, last_used_at, "
            "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            {Hash("device", s.device_token), NewToken(9), account.id, label, now, now,
             now + options_.trusted_device_ttl.count() * kMicros}));
    }
    return s;
}

Status AuthService::RecordEvent(store::WriteTxn& txn, const std::string& account_id,
                                const std::string& actor_id, const std::string& actor_kind,
                                const std::string& action, const std::string& detail) {
    CARNET_TRY(auto rows, txn.Query("SELECT patient_id FROM accounts WHERE id = ?", {account_id}));
    std::string patient = rows.empty() ? std::string() : AsText(rows[0][0]);
    CARNET_CHECK(txn.Exec(
        "INSERT INTO account_events(patient_id, id, account_id, at, actor_id, actor_kind, action, "
        "detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        {patient, NewUuid(), account_id, clock_.NowMicros(), actor_id, actor_kind, action,
         detail.substr(0, 200)}));
    // An operator's action on a patient's account shows in that record's access log too
    // (never content: the action's name only).
    if (!patient.empty() && (actor_kind == kAdvisor || actor_kind == kAdmin)) {
        audit::Entry e;
        e.patient_id = patient;
        e.at_us = clock_.NowMicros();
        e.actor_account = actor_id;
        e.actor_kind = actor_kind;
        e.action = "account:" + action;
        e.resource_type = "Account";
        e.basis = "operator";
        e.outcome = "allow";
        e.reason = "allowed";
        e.purpose = "HOPERAT";
        CARNET_CHECK(audit::Append(txn, e));
    }
    return Ok();
}

Status AuthService::EndAllSessions(store::WriteTxn& txn, const std::string& account_id) {
    int64_t now = clock_.NowMicros();
    CARNET_CHECK(
        txn.Exec("UPDATE sessions SET revoked_at = ? WHERE account_id = ? AND revoked_at IS NULL",
                 {now, account_id}));
    CARNET_CHECK(txn.Exec(
        "UPDATE trusted_devices SET revoked_at = ? WHERE account_id = ? AND revoked_at IS NULL",
        {now, account_id}));
    CARNET_CHECK(
        txn.Exec("UPDATE challenges SET used_at = ? WHERE account_id = ? AND used_at IS NULL",
                 {now, account_id}));
    return Ok();
}

// ---- login -------------------------------------------------------------------------

Result<LoginOutcome> AuthService::Login(const std::string& login, const std::string& password,
                                        const ClientInfo& client) {
    CARNET_CHECK(CheckIpThrottle(client.ip));
    if (login.size() > 254 || password.size() > 1024)
        return Error::Invalid("identifiants trop longs");
    int64_t now = clock_.NowMicros();
    const std::string throttle_id = ThrottleKey(login);
    CARNET_TRY(auto reader, store_.OpenReader());
    CARNET_TRY(auto trows, reader->Query("SELECT blocked_until FROM login_throttle WHERE id = ?",
                                         {throttle_id}));
    if (!trows.empty() && AsInt(trows[0][0]) > now) {
        return TooMany("trop d'essais : patientez avant de réessayer",
                       (AsInt(trows[0][0]) - now + kMicros - 1) / kMicros);
    }
    CARNET_TRY(auto rec, LookupLogin(*reader, login));
    const bool known =
        rec && CanSignIn(rec->account.kind, rec->account.status) && !rec->password_hash.empty();
    // Argon2id runs in every case, on the account's hash or on the dummy one.
    const bool password_ok =
        VerifyPassword(known ? rec->password_hash : dummy_hash_, password) && known;

    std::string channel, destination;
    if (password_ok) {
        const Account& a = rec->account;
        channel = a.second_factor;
        if (channel == "sms" && a.phone_verified)
            destination = a.phone;
        else if (channel == "email" && a.email_verified)
            destination = a.email;
        else if (channel != "totp")
            channel.clear();
        if (channel == "totp") destination = "totp:" + a.id;
        // No verified contact: no code can be sent. Answered as a failed login (an advisor
        // can help), which never tells which case it was.
    }
    const bool proceed = password_ok && !channel.empty();

    // Trusted device: the password is right and this browser holds a live device token of
    // this account: no second factor this time.
    std::string device_id;
    if (proceed && !client.device_token.empty() && client.device_token.size() <= 128) {
        CARNET_TRY(auto drows,
                   reader->Query("SELECT account_id, expires_at, revoked_at FROM trusted_devices "
                                 "WHERE id = ?",
                                 {Hash("device", client.device_token)}));
        if (!drows.empty() && AsText(drows[0][0]) == rec->account.id && AsInt(drows[0][1]) > now &&
            IsNull(drows[0][2])) {
            device_id = Hash("device", client.device_token);
        }
    }
    if (proceed && channel != "totp" && device_id.empty()) {
        CARNET_CHECK(CheckSendCaps(*reader, rec->account.id, destination));
    }
    reader.reset();

    LoginOutcome out;
    CARNET_CHECK(store_.Write([&](store::WriteTxn& txn) -> Status {
        if (!proceed) {
            CARNET_CHECK(txn.Exec(
                "INSERT INTO login_throttle(id, failures, last_failure_at, blocked_until) VALUES "
                "(?, 1, ?, 0) ON CONFLICT(id) DO UPDATE SET failures = login_throttle.failures + "
                "1, last_failure_at = excluded.last_failure_at",
                {throttle_id, now}));
            CARNET_TRY(auto f, txn.Query("SELECT failures FROM login_throttle WHERE id = ?",
                                         {throttle_id}));
            int failures = f.empty() ? 1 : static_cast<int>(AsInt(f[0][0]));
            int64_t wait = LoginBackoff(failures).count();
            if (wait > 0) {
                CARNET_CHECK(txn.Exec("UPDATE login_throttle SET blocked_until = ? WHERE id = ?",
                                      {now + wait * kMicros, throttle_id}));
            }
            CARNET_TRY(out.challenge, IssueDecoy(txn, "login", login));
            return Ok();
        }
        const Account& a = rec->account;
        CARNET_CHECK(txn.Exec("DELETE FROM login_throttle WHERE id = ?", {throttle_id}));
        if (NeedsRehash(rec->password_hash, options_.password_cost)) {
            auto h = HashPassword(password, options_.password_cost);
            if (h.ok()) {
                CARNET_CHECK(
                    txn.Exec("UPDATE accounts SET password_hash = ? WHERE id = ?", {*h, a.id}));
            }
        }
        if (!device_id.empty()) {
            CARNET_CHECK(txn.Exec("UPDATE trusted_devices SET last_used_at = ? WHERE id = ?",
                                  {now, device_id}));
            CARNET_TRY(auto s, OpenSession(txn, a, "password+trusted-device", false, client));
            // Without a second factor this login is no fresh proof for closure and the like.
            CARNET_CHECK(
                txn.Exec("UPDATE sessions SET auth_time = 0 WHERE handle = ?", {s.handle}));
            out.session = std::move(s);
            out.challenge.channel = "trusted-device";
            return RecordEvent(txn, a.id, a.id, a.kind, "login", "appareil de confiance");
        }
        // Earlier login challenges of this account are void: only the latest code works.
        CARNET_CHECK(
            txn.Exec("UPDATE challenges SET used_at = ? WHERE account_id = ? AND "
                     "purpose = 'login' AND used_at IS NULL",
                     {now, a.id}));
        CARNET_TRY(out.challenge,
                   IssueChallenge(txn, a.id, "login", channel, destination,
                                  a.kind == kPatient ? a.patient_id : "", "", "login_code"));
        return Ok();
    }));
    return out;
}

Result<IssuedSession> AuthService::Verify(const std::string& challenge, const std::string& code,
                                          bool trust_device, const ClientInfo& client) {
    CARNET_CHECK(CheckIpThrottle(client.ip));
    bool denied = false;
    IssuedSession issued;
    CARNET_CHECK(store_.Write([&](store::WriteTxn& txn) -> Status {
        CARNET_TRY(auto live, ConsumeChallenge(txn, challenge, "login", code));
        if (!live) {
            denied = true;
            return Ok();
        }
        CARNET_TRY(auto rec, LoadAccount(txn, "id = ?", {live->account_id}));
        if (!rec || !CanSignIn(rec->account.kind, rec->account.status)) return Unauthenticated();
        CARNET_TRY(issued, OpenSession(txn, rec->account, "password+" + live->channel, trust_device,
                                       client));
        return RecordEvent(txn, rec->account.id, rec->account.id, rec->account.kind, "login",
                           live->channel);
    }));
    if (denied) return Unauthenticated();
    return issued;
}

Status AuthService::Resend(const std::string& challenge, const ClientInfo& client) {
    CARNET_CHECK(CheckIpThrottle(client.ip));
    if (challenge.empty() || challenge.size() > 128) return Unauthenticated();
    std::string id = Hash("challenge", challenge);
    int64_t now = clock_.NowMicros();
    CARNET_TRY(auto reader, store_.OpenReader());
    CARNET_TRY(auto rows, reader->Query("SELECT account_id, purpose, channel, destination, "
                                        "expires_at, used_at, tries FROM challenges WHERE id = ?",
                                        {id}));
    // A decoy answers like a real one (nothing is sent).
    if (rows.empty()) return Unauthenticated();
    const Row& x = rows[0];
    if (!IsNull(x[5]) || AsInt(x[4]) < now || AsInt(x[6]) >= options_.code_tries)
        return Unauthenticated();
    if (IsNull(x[0])) return Ok();
    std::string account = AsText(x[0]), purpose = AsText(x[1]), channel = AsText(x[2]),
                destination = AsText(x[3]);
    if (channel != "email" && channel != "sms") return Ok();
    CARNET_CHECK(CheckSendCaps(*reader, account, destination));
    CARNET_TRY(auto rec, LoadAccount(*reader, "id = ?", {account}));
    reader.reset();
    std::string patient = rec && rec->account.kind == kPatient ? rec->account.patient_id : "";
    return store_.Write([&](store::WriteTxn& txn) -> Status {
        std::string code = NewOneTimeCode();
        CARNET_CHECK(txn.Exec(
            "UPDATE challenges SET code_hash = ?, sends = sends + 1, "
            "expires_at = ? WHERE id = ?",
            {Hash("code", id + ":" + code), now + options_.code_ttl.count() * kMicros, id}));
        notify::Notification n;
        n.channel = channel == "email" ? notify::Channel::kEmail : notify::Channel::kSms;
        n.recipient = destination;
        n.template_name = ChannelTemplate(purpose);
        n.params = {{"code", code}, {"minutes", std::to_string(options_.code_ttl.count() / 60)}};
        n.patient_id = patient;
        CARNET_CHECK(notify::Enqueue(txn, n, now));
        return Ok();
    });
}

Status AuthService::Logout(const std::string& token) {
    if (token.empty() || token.size() > 128) return Ok();
    int64_t now = clock_.NowMicros();
    return store_.Write([&](store::WriteTxn& txn) -> Status {
        CARNET_CHECK(
            txn.Exec("UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS "
                     "NULL",
                     {now, Hash("session", token)}));
        return Ok();
    });
}

Result<Principal> AuthService::Authenticate(const std::string& token, const ClientInfo& client) {
    (void)client;
    if (token.empty() || token.size() > 128) return Unauthenticated("session absente ou expirée");
    std::string id = Hash("session", token);
    int64_t now = clock_.NowMicros();
    // One indexed lookup per request: the session and what the principal needs of its
    // account, read together (this runs before every FHIR request).
    CARNET_TRY(auto reader, store_.OpenReader());
    CARNET_TRY(
        auto rows,
        reader->Query("SELECT s.handle, s.account_id, s.method, s.auth_time, "
                      "s.last_seen_at, s.expires_at, s.revoked_at, a.kind, a.status, "
                      "a.patient_id, a.rpps, a.profession, a.specialty, a.given, a.family "
                      "FROM sessions s JOIN accounts a ON a.id = s.account_id WHERE s.id = ?",
                      {id}));
    reader.reset();
    if (rows.empty()) return Unauthenticated("session absente ou expirée");
    const Row& x = rows[0];
    const int64_t last_seen = AsInt(x[4]);
    if (!IsNull(x[6]) || AsInt(x[5]) <= now ||
        now - last_seen > options_.idle_timeout.count() * kMicros) {
        return Unauthenticated("session absente ou expirée");
    }
    const std::string kind = AsText(x[7]), status = AsText(x[8]);
    // A card session may belong to a professional who has not set a password yet.
    const bool card_pending =
        AsText(x[2]) == "certificate" && kind == kProfessional && status == kPending;
    if (!CanSignIn(kind, status) && !card_pending) {
        return Unauthenticated("session absente ou expirée");
    }
    if (now - last_seen >= kTouchEveryUs) {
        CARNET_CHECK(store_.Write([&](store::WriteTxn& txn) -> Status {
            CARNET_CHECK(txn.Exec("UPDATE sessions SET last_seen_at = ? WHERE id = ?", {now, id}));
            return Ok();
        }));
    }
    Account a;
    a.given = AsText(x[13]);
    a.family = AsText(x[14]);
    Principal p;
    p.account_id = AsText(x[1]);
    p.kind = kind;
    p.patient_id = kind == kPatient ? AsText(x[9]) : "";
    p.rpps = AsText(x[10]);
    p.profession = AsText(x[11]);
    p.specialty = AsText(x[12]);
    p.display_name = a.DisplayName();
    p.session_handle = AsText(x[0]);
    p.method = AsText(x[2]);
    p.auth_time_us = AsInt(x[3]);
    return p;
}

// ---- activation and opposition --------------------------------------------------------

namespace {
Error BadActivation() {
    return Unauthenticated("identifiant ou code d'activation incorrect, ou code expiré");
}
}  // namespace

Result<Challenge> AuthService::StartActivation(
    const std::string& login, const std::string& activation_code, const std::string& password,
    const std::string& channel, const std::string& address, const ClientInfo& client) {
    CARNET_CHECK(CheckIpThrottle(client.ip));
    if (channel != "email" && channel != "sms")
        return Error::Invalid("le contact doit être une adresse e-mail ou un téléphone", "channel");
    std::optional<std::string> dest =
        channel == "email" ? NormalizeEmail(address) : NormalizePhone(address);
    if (!dest) {
        return Error::Invalid(
            channel == "email" ? "adresse e-mail invalide" : "numéro de téléphone invalide",
            "address");
    }
    int64_t now = clock_.NowMicros();
    CARNET_TRY(auto reader, store_.OpenReader());
    CARNET_TRY(auto rec, LookupLogin(*reader, login));
    std::string code = NormalizeActivationCode(activation_code);
    // A minor does not activate (representatives manage the record until majority).
    bool usable = rec && rec->account.status == kPending && !rec->activation_hash.empty() &&
                  rec->activation_expires_at > now &&
                  rec->activation_tries < options_.activation_tries &&
                  !(rec->account.kind == kPatient &&
                    AgeInYears(rec->account.birth_date, now) < options_.majority_age);
    bool good = usable && ConstantTimeEquals(Hash("activation", rec->account.id + ":" + code),
                                             rec->activation_hash);
    if (!good) {
        if (usable) {
            CARNET_CHECK(store_.Write([&](store::WriteTxn& txn) -> Status {
                CARNET_CHECK(
                    txn.Exec("UPDATE accounts SET activation_tries = activation_tries + "
                             "1 WHERE id = ?",
                             {rec->account.id}));
                return Ok();
            }));
        }
        return BadActivation();
    }
    const Account& a = rec->account;
    CARNET_CHECK(CheckPasswordPolicy(password, a.login.empty() ? a.ins : a.login));
    if (channel == "email") {
        CARNET_TRY(auto taken, reader->Query("SELECT id FROM accounts WHERE login = ? AND id <> ?",
                                             {*dest, a.id}));
        if (!taken.empty()) {
            return Error::Make(Code::kConflict, "duplicate",
                               "cette adresse e-mail sert déjà d'identifiant à un autre compte");
        }
    }
    CARNET_CHECK(CheckSendCaps(*reader, a.id, *dest));
    reader.reset();
    CARNET_TRY(std::string hash, HashPassword(password, options_.password_cost));
    Challenge out;
    CARNET_CHECK(store_.Write([&](store::WriteTxn& txn) -> Status {
        CARNET_TRY(out,
                   IssueChallenge(txn, a.id, "activation", channel, *dest,
                                  a.kind == kPatient ? a.patient_id : "", hash, "contact_code"));
        return Ok();
    }));
    return out;
}

Result<IssuedSession> AuthService::FinishActivation(const std::string& challenge,
                                                    const std::string& code,
                                                    const ClientInfo& client) {
    CARNET_CHECK(CheckIpThrottle(client.ip));
    bool denied = false;
    IssuedSession issued;
    int64_t now = clock_.NowMicros();
    CARNET_CHECK(store_.Write([&](store::WriteTxn& txn) -> Status {
        CARNET_TRY(auto live, ConsumeChallenge(txn, challenge, "activation", code));
        if (!live) {
            denied = true;
            return Ok();
        }
        CARNET_TRY(auto rec, LoadAccount(txn, "id = ?", {live->account_id}));
        if (!rec || rec->account.status != kPending) return Unauthenticated();
        const bool email = live->channel == "email";
        CARNET_CHECK(
            txn.Exec(std::string("UPDATE accounts SET status = 'active', password_hash = ?, "
                                 "activation_hash = NULL, activated_at = ?, credentials_at = ?, "
                                 "second_factor = ?, ") +
                         (email ? "email = ?, email_verified_at = ?, login = COALESCE(login, ?)"
                                : "phone = ?, phone_verified_at = ?, login = COALESCE(login, ?)") +
                         " WHERE id = ?",
                     {live->data, now, now, live->channel, live->destination, now,
                      email ? Value(live->destination) : Value(nullptr), live->account_id}));
        rec->account.status = std::string(kActive);
        CARNET_TRY(issued,
                   OpenSession(txn, rec->account, "password+" + live->channel, false, client));
        return RecordEvent(txn, rec->account.id, rec->account.id, rec->account.kind, "activation",
                           live->channel);
    }));
    if (denied) return Unauthenticated();
    return issued;
}

Status AuthService::Oppose(const std::string& login, const std::string& activation_code,
                           const ClientInfo& client) {
    CARNET_CHECK(CheckIpThrottle(client.ip));
    int64_t now = clock_.NowMicros();
    CARNET_TRY(auto reader, store_.OpenReader());
    CARNET_TRY(auto rec, LookupLogin(*reader, login));
    reader.reset();
    std::string code = NormalizeActivationCode(activation_code);
    // Only an adult opposes for themself: a minor's record is the representatives' to manage.
    bool usable = rec && rec->account.kind == kPatient && rec->account.status == kPending &&
                  !rec->activation_hash.empty() && rec->activation_expires_at > now &&
                  rec->activation_tries < options_.activation_tries &&
                  AgeInYears(rec->account.birth_date, now) >= options_.majority_age;
    bool good = usable && ConstantTimeEquals(Hash("activation", rec->account.id + ":" + code),
                                             rec->activation_hash);
    if (!good) {
        if (usable) {
            CARNET_CHECK(store_.Write([&](store::WriteTxn& txn) -> Status {
                CARNET_CHECK(txn.Exec(
                    "UPDATE accounts SET activation_tries = activation_tries + 1 WHERE id = ?",
                    {rec->account.id}));
                return Ok();
            }));
        }
        return BadActivation();
    }
    CARNET_CHECK(store_.Write([&](store::WriteTxn& txn) -> Status {
        CARNET_CHECK(
            // purge_at = now: PurgeDue erases the record, and again if this process stops first.
            txn.Exec("UPDATE accounts SET status = 'opposed', activation_hash = NULL, "
                     "closed_at = ?, purge_at = ?, email = NULL, phone = NULL WHERE id = ?",
                     {now, now, rec->account.id}));
        CARNET_CHECK(EndAllSessions(txn, rec->account.id));
        return RecordEvent(txn, rec->account.id, rec->account.id, std::string(kPatient),
                           "opposition");
    }));
    // No record is kept: the data key and every row of the record go.
    CARNET_TRY(int purged, PurgeDue());
    (void)purged;
    return Ok();
}

// ---- password reset ---------------------------------------------------------------------

Result<Challenge> AuthService::StartReset(const std::string& login, const ClientInfo& client) {
    CARNET_CHECK(CheckIpThrottle(client.ip));
    CARNET_TRY(auto reader, store_.OpenReader());
    CARNET_TRY(auto rec, LookupLogin(*reader, login));
    std::string channel, destination;
    // A closed patient space may need its password back to be reopened.
    if (rec && CanSignIn(rec->account.kind, rec->account.status)) {
        const Account& a = rec->account;
        // The code goes to a verified contact: the preferred one, else the other.
        if (a.second_factor == "sms" && a.phone_verified) {
            channel = "sms";
            destination = a.phone;
        } else if (a.email_verified) {
            channel = "email";
            destination = a.email;
        } else if (a.phone_verified) {
            channel = "sms";
            destination = a.phone;
        }
    }
    // Over the sending caps a reset answers a decoy, like an unknown login: a 429 would tell
    // that the account exists.
    if (!channel.empty() && !CheckSendCaps(*reader, rec->account.id, destination).ok()) {
        channel.clear();
    }
    reader.reset();
    Challenge out;
    CARNET_CHECK(store_.Write([&](store::WriteTxn& txn) -> Status {
        if (channel.empty()) {
            CARNET_TRY(out, IssueDecoy(txn, "reset", login));
            return Ok();
        }
        const Account& a = rec->account;
        CARNET_TRY(out, IssueChallenge(txn, a.id, "reset", channel, destination,
                                       a.kind == kPatient ? a.patient_id : "", "", "reset_code"));
        return Ok();
    }));
    return out;
}

Status AuthService::FinishReset(const std::string& challenge, const std::string& code,
                                const std::string& new_password, const ClientInfo& client) {
    CARNET_CHECK(CheckIpThrottle(client.ip));
    CARNET_CHECK(CheckPasswordPolicy(new_password));
    CARNET_TRY(std::string hash, HashPassword(new_password, options_.password_cost));
    bool denied = false;
    int64_t now = clock_.NowMicros();
    CARNET_CHECK(store_.Write([&](store::WriteTxn& txn) -> Status {
        CARNET_TRY(auto live, ConsumeChallenge(txn, challenge, "reset", code));
        if (!live) {
            denied = true;
            return Ok();
        }
        CARNET_TRY(auto rec, LoadAccount(txn, "id = ?", {live->account_id}));
        if (!rec || !CanSignIn(rec->account.kind, rec->account.status)) return Unauthenticated();
        const Account& a = rec->account;
        CARNET_CHECK(CheckPasswordPolicy(new_password, a.login.empty() ? a.ins : a.login));
        CARNET_CHECK(
            txn.Exec("UPDATE accounts SET password_hash = ?, credentials_at = ? WHERE "
                     "id = ?",
                     {hash, now, a.id}));
        CARNET_CHECK(EndAllSessions(txn, a.id));
        CARNET_CHECK(NotifyHolder(txn, a, "password_changed"));
        return RecordEvent(txn, a.id, a.id, a.kind, "password.reset");
    }));
    if (denied) return Unauthenticated();
    return Ok();
}

}  // namespace carnet::auth
