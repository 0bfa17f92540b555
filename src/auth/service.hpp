#pragma once
/// Accounts and how people prove who they are: activation, login with a password and a
/// one-time code (e-mail, SMS or authenticator app), sessions, trusted devices, password
/// reset, re-authentication, and the account history. Built on auth/primitives.hpp, the
/// store's service tables (migration 3) and the notification outbox: every code is written
/// to the outbox in the same transaction as its challenge.
///
/// Errors are chosen so that nothing tells an attacker whether an account exists: an
/// unknown login, a wrong password and a right one all answer a challenge of the same
/// shape, after the same Argon2id work and the same write; only the holder of the code can
/// complete it. Every failure to complete is the same kUnauthenticated.
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "auth/primitives.hpp"
#include "core/clock.hpp"
#include "core/result.hpp"
#include "store/store.hpp"

namespace carnet::auth {

/// Account kinds. Advisors and admins never read health content (the access decision
/// refuses them on every content route).
inline constexpr std::string_view kPatient = "patient";
inline constexpr std::string_view kProfessional = "professional";
inline constexpr std::string_view kAdvisor = "advisor";
inline constexpr std::string_view kAdmin = "admin";

/// Account states. pending: created by the operator, not yet activated; active; opposed: the
/// person refused the service (no record kept, deposits refused); closed: read-only archive
/// until purge_at; deleted: purged (key destroyed), only the tombstone row remains.
inline constexpr std::string_view kPending = "pending";
inline constexpr std::string_view kActive = "active";
inline constexpr std::string_view kOpposed = "opposed";
inline constexpr std::string_view kClosed = "closed";
inline constexpr std::string_view kDeleted = "deleted";

struct Account {
    std::string id;
    std::string kind;
    std::string status;
    std::string login;       // chosen login (e-mail or user name); may be empty for patients
    std::string ins;         // patients: national health identifier (15 digits)
    std::string rpps;        // professionals: national professional id (11 digits)
    std::string patient_id;  // patients: the FHIR Patient id of their record
    std::string given, family, birth_date;
    std::string profession, specialty, organisation;
    std::string email, phone;
    bool email_verified = false, phone_verified = false;
    /// How the second factor is delivered: "email", "sms" or "totp".
    std::string second_factor;
    bool has_password = false;
    bool totp_enabled = false;
    int64_t created_at = 0, activated_at = 0, closed_at = 0, purge_at = 0;

    [[nodiscard]] std::string DisplayName() const;
};

/// Who is calling, once authenticated: what the access decision receives.
struct Principal {
    std::string account_id;
    std::string kind;
    std::string patient_id;  // own record (patients)
    std::string rpps, profession, specialty;
    std::string display_name;
    std::string session_handle;  // public id of the session (for the session list)
    std::string method;          // "password+email", "password+sms", "password+totp",
                                 // "password+trusted-device", "certificate"
    int64_t auth_time_us = 0;    // when the person last proved who they are
};

struct AuthOptions {
    std::chrono::seconds code_ttl{600};  // one-time codes: 10 min
    int code_tries = 5;                  // then the challenge is void
    /// Codes sent per account and per destination within send_window.
    int sends_per_account = 5;
    int sends_per_destination = 10;
    std::chrono::seconds send_window{3600};
    std::chrono::seconds idle_timeout{900};        // 15 min
    std::chrono::seconds absolute_timeout{43200};  // 12 h
    std::chrono::seconds trusted_device_ttl{30 * 24 * 3600};
    std::chrono::seconds activation_ttl{180 * 24 * 3600};
    int activation_tries = 5;
    /// Login, verify, activation and reset attempts per client address per minute.
    int attempts_per_ip_per_minute = 60;
    /// Re-authentication is fresh for this long (closure, credential changes).
    std::chrono::seconds reauth_window{300};
    PasswordCost password_cost;
    /// Where notifications send people ("https://carnet.example/").
    std::string portal_url = "http://127.0.0.1:8080/";
    int majority_age = 18;
    /// A closed record is kept this long as a read-only archive, then purged.
    int archive_years = 10;
    /// Deletion on request: purge after this many days (0: at once).
    int deletion_delay_days = 90;
};

struct Challenge {
    std::string challenge;  // opaque token, 256 bits
    std::string channel;    // "email", "sms", "totp"
    std::string to;  // masked destination ("m•••@e•••.fr", "•• •• •• •• 42")
};

/// A new session: the bearer token (256 bits, stored hashed) and its CSRF companion for
/// cookie-authenticated writes.
struct IssuedSession {
    std::string token;
    std::string csrf;
    int64_t expires_in_s = 0;
    std::string handle;
    /// Set when the person asked to trust this device: the device cookie's value.
    std::string device_token;
};

struct LoginOutcome {
    Challenge challenge;
    /// Set (and challenge empty) when a trusted-device cookie skipped the second factor.
    std::optional<IssuedSession> session;
};

/// Where a request comes from, for throttles and the session list.
struct ClientInfo {
    std::string ip;
    std::string user_agent;
    std::string device_token;  // the trusted-device cookie, if any
};

struct SessionInfo {
    std::string handle;
    std::string method;
    std::string ip;
    std::string user_agent;
    int64_t created_at = 0, last_seen_at = 0, expires_at = 0;
    bool current = false;
};

struct DeviceInfo {
    std::string handle;
    std::string label;
    int64_t created_at = 0, last_used_at = 0, expires_at = 0;
};

struct AccountEvent {
    int64_t at = 0;
    std::string actor_kind;  // patient, advisor, admin, system…
    std::string action;      // "login", "activation", "advisor.resend-activation"…
    std::string detail;      // never health content
};

struct TotpEnrolment {
    std::string secret_base32;
    std::string otpauth_uri;
};

/// A record a person may act on: their own, a minor's they represent, a patient's whose
/// caregiver they are.
struct RecordAccess {
    std::string patient_id;
    std::string account_id;  // the patient's account
    std::string display_name;
    std::string relation;  // "self", "representative", "caregiver"
    std::string status;    // the patient's account status
};

struct Delegation {
    std::string id;
    std::string patient_id;
    std::string kind;    // representative | caregiver
    std::string status;  // invited | active | ended
    std::string delegate_account;
    std::string delegate_name;  // empty while invited
    std::string invited_to;     // masked contact of the invitee
    int64_t created_at = 0, accepted_at = 0;
};

/// What the operator gives to create a patient account (from the insurer's registry).
struct NewPatient {
    std::string ins;                        // any accepted spelling; normalised
    std::string given, family, birth_date;  // birth_date YYYY-MM-DD
    std::string email, phone;               // optional: where the activation code goes
    std::string patient_id;                 // FHIR Patient id, if the record already exists
};

struct NewProfessional {
    std::string rpps;
    std::string given, family;
    std::string profession;  // a code from Professions()
    std::string specialty, organisation;
    std::string email, phone;
    std::string login;  // optional password login (e-mail)
};

struct NewStaff {
    std::string kind;  // advisor | admin
    std::string login, given, family, email;
};

/// Created account and, for pending accounts, the activation code (shown once).
struct Created {
    Account account;
    std::string activation_code;
    bool existed = false;  // import is idempotent: already there, left as is
};

/// The professions of the directory (code → French label).
const std::vector<std::pair<std::string, std::string>>& Professions();

class AuthService {
  public:
    AuthService(store::Store& store, const Clock& clock, std::string server_key,
                AuthOptions options = {});
    ~AuthService();
    AuthService(const AuthService&) = delete;
    AuthService& operator=(const AuthService&) = delete;

    [[nodiscard]] const AuthOptions& options() const { return options_; }

    // ---- login ---------------------------------------------------------------------
    /// Password step. Always the same shape: a challenge (the code goes to the verified
    /// contact, or the authenticator app is asked) — for an unknown login or a wrong
    /// password too, whose challenge no code can complete. kTooManyRequests (with
    /// retry_after_s) while the login or the address is throttled, or when sending caps
    /// are reached.
    Result<LoginOutcome> Login(const std::string& login, const std::string& password,
                               const ClientInfo& client);
    /// Second step: the code of a login challenge. `trust_device` also issues a device
    /// token valid trusted_device_ttl. kUnauthenticated for any failure.
    Result<IssuedSession> Verify(const std::string& challenge, const std::string& code,
                                 bool trust_device, const ClientInfo& client);
    /// Resends the code of a live challenge to the same destination (caps apply).
    Status Resend(const std::string& challenge, const ClientInfo& client);
    /// Ends the session of this token (idempotent).
    Status Logout(const std::string& token);
    /// The principal of a session token, checking revocation, idle and absolute timeouts
    /// and the account state. Touches last_seen (at most once a minute).
    Result<Principal> Authenticate(const std::string& token, const ClientInfo& client);
    /// A professional proven by a verified client certificate (the smart card): the national
    /// id it carries must be in the directory, for an account not closed. kUnauthenticated
    /// otherwise. No session: valid for the request (API clients present the card each time).
    Result<Principal> PrincipalForCertificate(const std::string& professional_id);
    /// The portal's way in with the card: a session like Verify's, method "certificate".
    Result<IssuedSession> CertificateLogin(const std::string& professional_id,
                                           const ClientInfo& client);
    /// The CSRF value bound to a session token.
    [[nodiscard]] std::string CsrfFor(const std::string& token) const;

    // ---- activation and opposition -------------------------------------------------
    /// Checks the activation code of a pending account, the password policy, and sends a
    /// code to the contact given (e-mail or phone) to verify it. kUnauthenticated for a
    /// wrong login/code (counted: activation_tries, then void), kInvalid for a weak password.
    Result<Challenge> StartActivation(const std::string& login, const std::string& activation_code,
                                      const std::string& password, const std::string& channel,
                                      const std::string& address, const ClientInfo& client);
    /// The contact code: the account becomes active, the contact verified, a session opens.
    Result<IssuedSession> FinishActivation(const std::string& challenge, const std::string& code,
                                           const ClientInfo& client);
    /// The person refuses the service with their activation code: the record is purged,
    /// the account stays as "opposed" so that deposits are refused from then on.
    Status Oppose(const std::string& login, const std::string& activation_code,
                  const ClientInfo& client);

    // ---- password reset ------------------------------------------------------------
    /// Sends a reset code to the verified contact; same answer for unknown logins.
    Result<Challenge> StartReset(const std::string& login, const ClientInfo& client);
    /// Code + new password: every session ends, trusted devices are forgotten.
    Status FinishReset(const std::string& challenge, const std::string& code,
                       const std::string& new_password, const ClientInfo& client);

    // ---- the signed-in person --------------------------------------------------------
    Result<Account> GetAccount(const std::string& account_id);
    /// Password again (and, for the second step, a code): marks the session fresh for
    /// reauth_window. Returns a challenge whose code completes it.
    Result<Challenge> StartReauth(const Principal& who, const std::string& password,
                                  const ClientInfo& client);
    Status FinishReauth(const Principal& who, const std::string& challenge, const std::string& code,
                        const ClientInfo& client);
    /// Whether the session re-authenticated within reauth_window.
    [[nodiscard]] bool RecentlyAuthenticated(const Principal& who) const;

    /// Changes the password (needs the current one); ends every other session.
    Status ChangePassword(const Principal& who, const std::string& current,
                          const std::string& next);
    /// New contact: sends a code to it; ConfirmContact makes it the verified one.
    Result<Challenge> StartContactChange(const Principal& who, const std::string& channel,
                                         const std::string& address, const ClientInfo& client);
    Status ConfirmContact(const Principal& who, const std::string& challenge,
                          const std::string& code);
    /// Chooses how login codes arrive: "email" or "sms" (that contact must be verified).
    Status SetSecondFactor(const Principal& who, const std::string& channel);

    /// TOTP: a new secret (not active until confirmed with a code from the app).
    Result<TotpEnrolment> StartTotp(const Principal& who);
    Status ConfirmTotp(const Principal& who, const std::string& code);
    Status DisableTotp(const Principal& who, const std::string& password);

    Result<std::vector<SessionInfo>> ListSessions(const Principal& who);
    Status RevokeSession(const Principal& who, const std::string& handle);
    Result<std::vector<DeviceInfo>> ListDevices(const Principal& who);
    Status RevokeDevice(const Principal& who, const std::string& handle);
    Result<std::vector<AccountEvent>> History(const std::string& account_id, int limit = 100);

    // ---- records, minors and delegations (lifecycle.cpp) ------------------------------
    /// Every record `who` may act on, now: own (patients), represented minors (until
    /// majority_age), patients they are caregiver of. Ended or invited delegations and
    /// closed or purged records of others are left out.
    Result<std::vector<RecordAccess>> Records(const Principal& who);
    /// The relation of `who` to `patient_id` ("self", "representative", "caregiver"), or
    /// kForbidden.
    Result<RecordAccess> RecordFor(const Principal& who, const std::string& patient_id);
    /// Operator (or the registry import): `representative_account` is a legal representative
    /// of the minor whose record is `child_patient_id`. Active at once.
    Status AddRepresentative(const std::string& child_patient_id,
                             const std::string& representative_account, const std::string& actor);
    /// A representative invites another person (a patient account, by login) as second
    /// representative, or a patient invites a caregiver (at most 3 active or invited). The
    /// invitee gets a code on their verified contact and must accept it while signed in.
    Result<Delegation> Invite(const Principal& who, const std::string& patient_id,
                              const std::string& kind, const std::string& invitee_login);
    Result<RecordAccess> AcceptInvitation(const Principal& who, const std::string& code);
    Result<std::vector<Delegation>> Delegations(const Principal& who,
                                                const std::string& patient_id);
    /// The patient (or a representative) ends a delegation; a delegate may end their own.
    Status EndDelegation(const Principal& who, const std::string& patient_id,
                         const std::string& delegation_id);

    // ---- closure, deletion, reopening (lifecycle.cpp) ----------------------------------
    /// Needs a recent re-authentication. Every session, device, challenge and delegation ends
    /// at once; the record becomes a read-only archive until purge_at (archive_years).
    Status Close(const Principal& who);
    /// Like Close, with purge_at = now + deletion_delay_days.
    Status RequestDeletion(const Principal& who);
    /// Back to active while the archive exists (needs a recent re-authentication).
    Status Reopen(const Principal& who);
    /// Admin: purge a closed account's record now (key destroyed).
    Status PurgeNow(const std::string& account_id, const Principal& actor);
    /// Purges every record whose purge_at has passed; returns how many.
    Result<int> PurgeDue();

    // ---- operator -----------------------------------------------------------------
    Result<Created> CreatePatient(const NewPatient& p, const std::string& actor);
    Result<Created> CreateProfessional(const NewProfessional& p, const std::string& actor);
    Result<Created> CreateStaff(const NewStaff& s, const std::string& actor);
    /// Sets a password directly and activates (demo data and staff bootstrap only).
    Status SetPasswordForSetup(const std::string& account_id, const std::string& password,
                               const std::string& verified_email,
                               const std::string& verified_phone);
    /// A fresh activation code for a pending account (the old one is void); sent to the
    /// account's contact when it has one. Written to the account history with the actor.
    Result<std::string> ResendActivation(const std::string& account_id, const Principal& actor);
    /// Until when the person's logins are held back by the failure backoff (0: not held),
    /// and the count of consecutive failures: what an advisor sees of a lockout.
    Result<std::pair<int64_t, int64_t>> Lockout(const std::string& account_id);
    /// Clears login throttles and live challenges of a locked-out person (advisor help).
    Status Unlock(const std::string& account_id, const Principal& actor);
    Result<std::optional<Account>> FindByLogin(const std::string& login);
    /// Directory search (professionals): by name prefix, profession, RPPS. At most `limit`.
    Result<std::vector<Account>> SearchDirectory(const std::string& text,
                                                 const std::string& profession, int limit = 20);
    /// Accounts by kind and name prefix (advisor/admin console).
    Result<std::vector<Account>> SearchAccounts(const std::string& kind, const std::string& text,
                                                int limit = 20);

    /// Ends every session and trusted device of an account (closure, password reset).
    Status EndAllSessions(store::WriteTxn& txn, const std::string& account_id);
    /// Records an account event in `txn`.
    Status RecordEvent(store::WriteTxn& txn, const std::string& account_id,
                       const std::string& actor_id, const std::string& actor_kind,
                       const std::string& action, const std::string& detail = {});

  private:
    struct Throttle;
    Status CheckIpThrottle(const std::string& ip);
    struct Record;
    Result<std::optional<Record>> LoadAccount(store::Reader& r, const std::string& where,
                                              const std::vector<store::Value>& params);
    Result<std::optional<Record>> LookupLogin(store::Reader& r, const std::string& login);
    Status CheckSendCaps(store::Reader& r, const std::string& account_id,
                         const std::string& destination);
    Result<Challenge> IssueChallenge(store::WriteTxn& txn, const std::string& account_id,
                                     const std::string& purpose, const std::string& channel,
                                     const std::string& destination, const std::string& patient_id,
                                     const std::string& data, const std::string& template_name);
    Status CloseAccount(const Principal& who, int64_t purge_at, const std::string& action,
                        const std::string& template_name);
    /// A new pending account with its activation code (sent to its contact when asked) and
    /// its creation event, in `txn`; fills `out`.
    Status InsertNew(store::WriteTxn& txn, Account& account, const std::string& actor,
                     bool send_activation, Created& out);
    Result<Challenge> IssueDecoy(store::WriteTxn& txn, const std::string& purpose,
                                 const std::string& login);
    /// Queues a notice (password changed, account closed…) to the account's verified
    /// contact in `txn`.
    Status NotifyHolder(store::WriteTxn& txn, const Account& account,
                        const std::string& template_name);
    struct LiveChallenge;
    Result<std::optional<LiveChallenge>> ConsumeChallenge(store::WriteTxn& txn,
                                                          const std::string& challenge,
                                                          const std::string& purpose,
                                                          const std::string& code);
    Result<IssuedSession> OpenSession(store::WriteTxn& txn, const Account& account,
                                      const std::string& method, bool trust_device,
                                      const ClientInfo& client);
    [[nodiscard]] std::string Hash(std::string_view purpose, std::string_view secret) const;
    [[nodiscard]] std::string DecoyMask(const std::string& login) const;
    /// The login_throttle key of an identifier (canonical INS / RPPS / lower-cased login).
    [[nodiscard]] std::string ThrottleKey(const std::string& login) const;

    store::Store& store_;
    const Clock& clock_;
    std::string server_key_;
    AuthOptions options_;
    std::string dummy_hash_;  // Argon2id of a random password: equal work for unknown logins
    std::unique_ptr<Throttle> throttle_;
};

/// Whether a patient's record accepts new versions: not when its holder opposed the
/// service, closed their space (read-only archive) or had it deleted (kForbidden). Records
/// without an account (imported data) accept them. For FhirService::SetWriteGate.
Status CheckRecordWritable(store::Reader& txn, const std::string& patient_id);

/// Masks an e-mail ("marie.dupont@example.fr" → "m•••@e•••.fr") or a phone
/// ("+33612345678" → "•• •• •• •• 78").
std::string MaskDestination(const std::string& channel, const std::string& address);
/// Whole years between a YYYY-MM-DD birth date and `now_us`; -1 when unparseable.
int AgeInYears(const std::string& birth_date, int64_t now_us);
/// Normalises an e-mail (trim, lower-case) and checks its shape; nullopt if invalid.
std::optional<std::string> NormalizeEmail(std::string_view text);
/// Normalises a phone number to E.164 (French national numbers get +33); nullopt if invalid.
std::optional<std::string> NormalizePhone(std::string_view text);

}  // namespace carnet::auth
