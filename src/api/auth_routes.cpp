#include "api/auth_routes.hpp"

#include <array>
#include <boost/json.hpp>

#include "api/actor.hpp"
#include "api/export.hpp"
#include "api/json_routes.hpp"
#include "fhir/json.hpp"

namespace carnet::api {

namespace json = boost::json;
using http::Request;
using http::Response;

namespace {

constexpr const char* kSessionCookie = "carnet_session";
constexpr const char* kDeviceCookie = "carnet_device";

/// A string member ("" when absent); kInvalid when present with another type.
Result<std::string> Str(const json::object& o, const char* key, bool required = true) {
    const json::value* v = o.if_contains(key);
    if (!v || v->is_null()) {
        if (required) return Error::Invalid(std::string("champ requis : ") + key, key);
        return std::string();
    }
    if (!v->is_string()) return Error::Invalid(std::string("texte attendu : ") + key, key);
    if (v->as_string().size() > 4096) return Error::Invalid(std::string("trop long : ") + key, key);
    return std::string(v->as_string());
}

/// The required string members `names` of a body, in order; the first missing or mistyped
/// one is the error.
template <size_t N>
Result<std::array<std::string, N>> Fields(const json::object& o, const char* const (&names)[N]) {
    std::array<std::string, N> out;
    for (size_t i = 0; i < N; ++i) {
        CARNET_TRY(out[i], Str(o, names[i]));
    }
    return out;
}

bool Flag(const json::object& o, const char* key) {
    const json::value* v = o.if_contains(key);
    return v && v->is_bool() && v->as_bool();
}

auth::ClientInfo ClientOf(const Request& req) {
    auth::ClientInfo c;
    c.ip = req.remote_addr;
    c.user_agent = req.Header("user-agent").value_or("");
    c.device_token = Authenticator::Cookie(req, kDeviceCookie);
    return c;
}

std::string CookieLine(const std::string& name, const std::string& value, const std::string& path,
                       int64_t max_age, bool secure) {
    std::string s = name + "=" + value + "; Path=" + path +
                    "; HttpOnly; SameSite=Strict; Max-Age=" + std::to_string(max_age);
    if (secure) s += "; Secure";
    return s;
}

json::object ChallengeJson(const auth::Challenge& c) {
    return {{"challenge", c.challenge}, {"channel", c.channel}, {"to", c.to}};
}

Response SessionResponse(const auth::IssuedSession& s, const AuthRouteOptions& o,
                         const std::string& channel = {}, bool tls = false) {
    const bool secure = o.secure_cookies || tls;
    json::object body{{"access_token", s.token},
                      {"token_type", "Bearer"},
                      {"expires_in", s.expires_in_s},
                      {"csrf_token", s.csrf}};
    if (!channel.empty()) body["channel"] = channel;
    Response r = JsonResponse(200, body);
    r.With("Set-Cookie", CookieLine(kSessionCookie, s.token, "/", s.expires_in_s, secure));
    if (!s.device_token.empty()) {
        r.With("Set-Cookie",
               CookieLine(kDeviceCookie, s.device_token, "/auth", 30LL * 24 * 3600, secure));
    }
    return r;
}

json::object AccountJson(const auth::Account& a, bool full) {
    json::object o{{"id", a.id},         {"kind", a.kind},
                   {"status", a.status}, {"display_name", a.DisplayName()},
                   {"given", a.given},   {"family", a.family}};
    if (a.kind == auth::kPatient) {
        o["patient_id"] = a.patient_id;
        o["ins"] = a.ins;
        o["birth_date"] = a.birth_date;
    }
    if (a.kind == auth::kProfessional) {
        o["rpps"] = a.rpps;
        o["profession"] = a.profession;
        o["specialty"] = a.specialty;
        o["organisation"] = a.organisation;
    }
    if (!a.login.empty()) o["login"] = a.login;
    if (full) {
        o["email"] = a.email;
        o["email_verified"] = a.email_verified;
        o["phone"] = a.phone;
        o["phone_verified"] = a.phone_verified;
        o["second_factor"] = a.second_factor;
        o["totp_enabled"] = a.totp_enabled;
        o["created_at"] = a.created_at;
        o["activated_at"] = a.activated_at;
    }
    return o;
}

std::string ProfessionLabel(const std::string& code) {
    for (const auto& [c, label] : auth::Professions())
        if (c == code) return label;
    return code;
}

json::object DirectoryJson(const auth::Account& a) {
    return {{"id", a.id},
            {"rpps", a.rpps},
            {"display_name", a.DisplayName()},
            {"profession", a.profession},
            {"profession_label", ProfessionLabel(a.profession)},
            {"specialty", a.specialty},
            {"organisation", a.organisation}};
}

/// What an operator sees of an account: its state, never health content; contacts masked.
json::object OperatorAccountJson(const auth::Account& a) {
    json::object o = AccountJson(a, false);
    o["email"] = a.email.empty() ? "" : auth::MaskDestination("email", a.email);
    o["email_verified"] = a.email_verified;
    o["phone"] = a.phone.empty() ? "" : auth::MaskDestination("sms", a.phone);
    o["phone_verified"] = a.phone_verified;
    o["second_factor"] = a.second_factor;
    o["created_at"] = a.created_at;
    o["activated_at"] = a.activated_at;
    o["closed_at"] = a.closed_at;
    return o;
}

json::array RecordsJson(const std::vector<auth::RecordAccess>& records) {
    json::array out;
    for (const auto& r : records) {
        out.push_back(json::object{{"patient_id", r.patient_id},
                                   {"display_name", r.display_name},
                                   {"relation", r.relation},
                                   {"status", r.status}});
    }
    return out;
}

json::object DelegationJson(const auth::Delegation& d) {
    return {{"id", d.id},
            {"patient_id", d.patient_id},
            {"kind", d.kind},
            {"status", d.status},
            {"delegate_name", d.delegate_name},
            {"invited_to", d.invited_to},
            {"created_at", d.created_at},
            {"accepted_at", d.accepted_at}};
}

bool IsOperator(const auth::Principal& p) {
    return p.kind == auth::kAdvisor || p.kind == auth::kAdmin;
}

Response Forbidden(const std::string& why) {
    return http::ErrorResponse(Code::kForbidden, "forbidden", why);
}

template <typename T>
Response OrError(const Result<T>& r, const std::function<Response(const T&)>& ok) {
    if (!r.ok()) return http::ErrorResponse(r.error());
    return ok(r.value());
}

/// 200 with a JSON array of `to_json(item)`, or the error.
json::object SessionJson(const auth::SessionInfo& s) {
    return {{"handle", s.handle},
            {"method", s.method},
            {"ip", s.ip},
            {"user_agent", s.user_agent},
            {"created_at", s.created_at},
            {"last_seen_at", s.last_seen_at},
            {"expires_at", s.expires_at},
            {"current", s.current}};
}

json::object DeviceJson(const auth::DeviceInfo& d) {
    return {{"handle", d.handle},
            {"label", d.label},
            {"created_at", d.created_at},
            {"last_used_at", d.last_used_at},
            {"expires_at", d.expires_at}};
}

json::object EventJson(const auth::AccountEvent& e) {
    return {{"at", e.at}, {"actor_kind", e.actor_kind}, {"action", e.action}, {"detail", e.detail}};
}

}  // namespace

// ---- Authenticator ----------------------------------------------------------------------

Authenticator::Authenticator(auth::AuthService& auth, AuthRouteOptions options)
    : auth_(auth), options_(options) {}

std::string Authenticator::Cookie(const Request& req, std::string_view name) {
    auto header = req.Header("cookie");
    if (!header) return {};
    std::string_view h = *header;
    size_t pos = 0;
    while (pos < h.size()) {
        size_t end = h.find(';', pos);
        if (end == std::string_view::npos) end = h.size();
        std::string_view part = h.substr(pos, end - pos);
        while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
        if (part.size() > name.size() && part.substr(0, name.size()) == name &&
            part[name.size()] == '=') {
            return std::string(part.substr(name.size() + 1));
        }
        pos = end + 1;
    }
    return {};
}

std::string Authenticator::TokenOf(const Request& req) {
    if (auto a = req.Header("authorization"); a && a->rfind("Bearer ", 0) == 0) {
        return a->substr(7);
    }
    return Cookie(req, kSessionCookie);
}

Result<auth::Principal> Authenticator::FromCertificate(const Request& req) const {
    const http::ClientCertificate& card = *req.client_cert;
    if (!card.verified) {
        Error e = Error::Make(Code::kUnauthenticated, "login",
                              "certificat refusé (" + card.error.substr(0, 120) + ")");
        return e;
    }
    if (card.professional_id.empty()) {
        return Error::Make(Code::kUnauthenticated, "login",
                           "ce certificat ne porte pas d'identifiant national de professionnel");
    }
    // A browser presents the card with any request to this site, so a page of another site
    // could make it write: writes with the card alone must come from our own origin (or
    // from software, which sends no Origin).
    const bool safe = req.method == "GET" || req.method == "HEAD" || req.method == "OPTIONS";
    if (!safe) {
        auto site = req.Header("sec-fetch-site").value_or("");
        auto origin = req.Header("origin").value_or("");
        auto host = req.Header("host").value_or("");
        const bool cross_site = !site.empty() && site != "same-origin" && site != "none";
        const bool foreign_origin = !origin.empty() && origin != "https://" + host;
        if (cross_site || foreign_origin) {
            return Error::Make(
                Code::kForbidden, "forbidden",
                "requête d'un autre site refusée pour une authentification par carte");
        }
    }
    return auth_.PrincipalForCertificate(card.professional_id);
}

Result<auth::Principal> Authenticator::Authenticate(const Request& req) const {
    auth::ClientInfo client = ClientOf(req);
    if (auto a = req.Header("authorization"); a && a->rfind("Bearer ", 0) == 0) {
        return auth_.Authenticate(a->substr(7), client);
    }
    std::string cookie = Cookie(req, kSessionCookie);
    if (cookie.empty() && req.client_cert) return FromCertificate(req);
    if (cookie.empty()) {
        return Error::Make(Code::kUnauthenticated, "login", "authentification requise");
    }
    CARNET_TRY(auth::Principal p, auth_.Authenticate(cookie, client));
    // A browser sends the cookie with any request to this site; a page of another site can
    // make it send one (a form post). Writes therefore need the token only our own pages
    // can read. SameSite=Strict already stops most of these; this covers the rest.
    const bool safe = req.method == "GET" || req.method == "HEAD" || req.method == "OPTIONS";
    if (!safe) {
        auto csrf = req.Header("x-csrf-token").value_or("");
        if (csrf.empty() || !auth::ConstantTimeEquals(csrf, auth_.CsrfFor(cookie))) {
            return Error::Make(Code::kForbidden, "forbidden",
                               "jeton CSRF absent ou invalide (en-tête X-CSRF-Token)");
        }
    }
    return p;
}

std::optional<Response> GuardContent(const Authenticator& authenticator, Request& request) {
    auto who = authenticator.Authenticate(request);
    if (!who.ok()) return http::ErrorResponse(who.error());
    if (IsOperator(*who)) {
        return Forbidden("les comptes opérateurs n'ont jamais accès au contenu des dossiers");
    }
    return std::nullopt;
}

Result<Caller> IdentifyContent(const Authenticator& authenticator, const Request& request) {
    CARNET_TRY(auto who, authenticator.Authenticate(request));
    if (IsOperator(who)) {
        return Error::Make(Code::kForbidden, "forbidden",
                           "les comptes opérateurs n'ont jamais accès au contenu des dossiers");
    }
    Caller c;
    c.actor = ActorOf(authenticator.service(), who);
    c.request_id = request.request_id;
    return c;
}

// ---- routes ------------------------------------------------------------------------------

void RegisterAuthRoutes(http::Router& router, const Authenticator& authenticator,
                        store::Store& store, const Clock& clock, FhirService* fhir) {
    const Authenticator* a = &authenticator;
    auth::AuthService* svc = &authenticator.service();
    const AuthRouteOptions o = authenticator.options();
    http::RouteOptions small;
    small.max_body_bytes = o.max_body_bytes;

    // Public steps. Each parses a small JSON body; errors are OperationOutcomes.
    router.Add(
        "POST", "/auth/login",
        [svc, o](Request& req) {
            auto body = JsonBody(req);
            if (!body.ok()) return http::ErrorResponse(body.error());
            auto fields = Fields(*body, {"login", "password"});
            if (!fields.ok()) return http::ErrorResponse(fields.error());
            const auto& [login, password] = *fields;
            auto out = svc->Login(login, password, ClientOf(req));
            if (!out.ok()) return http::ErrorResponse(out.error());
            if (out->session) return SessionResponse(*out->session, o, "trusted-device", req.tls);
            return JsonResponse(200, ChallengeJson(out->challenge));
        },
        small);
    router.Add(
        "POST", "/auth/verify",
        [svc, o](Request& req) {
            auto body = JsonBody(req);
            if (!body.ok()) return http::ErrorResponse(body.error());
            auto fields = Fields(*body, {"challenge", "code"});
            if (!fields.ok()) return http::ErrorResponse(fields.error());
            const auto& [challenge, code] = *fields;
            auto s = svc->Verify(challenge, code, Flag(*body, "trust_device"), ClientOf(req));
            if (!s.ok()) return http::ErrorResponse(s.error());
            return SessionResponse(*s, o, {}, req.tls);
        },
        small);
    // The professional portal's card login: the verified certificate of this TLS connection
    // opens a session (cookie), so the card is not needed for each request of the page.
    router.Add(
        "POST", "/auth/certificate",
        [a, svc, o](Request& req) {
            if (!req.client_cert) {
                return http::ErrorResponse(
                    Code::kUnauthenticated, "login",
                    "aucune carte présentée (connexion TLS avec certificat)");
            }
            auto who = a->FromCertificate(req);
            if (!who.ok()) return http::ErrorResponse(who.error());
            auto s = svc->CertificateLogin(req.client_cert->professional_id, ClientOf(req));
            if (!s.ok()) return http::ErrorResponse(s.error());
            return SessionResponse(*s, o, "certificate", req.tls);
        },
        small);
    router.Add(
        "POST", "/auth/resend",
        [svc](Request& req) {
            auto body = JsonBody(req);
            if (!body.ok()) return http::ErrorResponse(body.error());
            auto fields = Fields(*body, {"challenge"});
            if (!fields.ok()) return http::ErrorResponse(fields.error());
            const auto& [challenge] = *fields;
            return StatusResponse(svc->Resend(challenge, ClientOf(req)));
        },
        small);
    router.Add(
        "POST", "/auth/logout",
        [svc, o](Request& req) {
            (void)svc->Logout(Authenticator::TokenOf(req));
            Response r = NoContent();
            r.With("Set-Cookie", CookieLine(kSessionCookie, "", "/", 0, o.secure_cookies));
            return r;
        },
        small);
    router.Add(
        "POST", "/auth/activate",
        [svc](Request& req) {
            auto body = JsonBody(req);
            if (!body.ok()) return http::ErrorResponse(body.error());
            auto fields =
                Fields(*body, {"login", "activation_code", "password", "channel", "address"});
            if (!fields.ok()) return http::ErrorResponse(fields.error());
            const auto& [login, code, password, channel, address] = *fields;
            auto c = svc->StartActivation(login, code, password, channel, address, ClientOf(req));
            if (!c.ok()) return http::ErrorResponse(c.error());
            return JsonResponse(200, ChallengeJson(*c));
        },
        small);
    router.Add(
        "POST", "/auth/activate/confirm",
        [svc, o](Request& req) {
            auto body = JsonBody(req);
            if (!body.ok()) return http::ErrorResponse(body.error());
            auto fields = Fields(*body, {"challenge", "code"});
            if (!fields.ok()) return http::ErrorResponse(fields.error());
            const auto& [challenge, code] = *fields;
            auto s = svc->FinishActivation(challenge, code, ClientOf(req));
            if (!s.ok()) return http::ErrorResponse(s.error());
            return SessionResponse(*s, o, {}, req.tls);
        },
        small);
    router.Add(
        "POST", "/auth/oppose",
        [svc](Request& req) {
            auto body = JsonBody(req);
            if (!body.ok()) return http::ErrorResponse(body.error());
            auto fields = Fields(*body, {"login", "activation_code"});
            if (!fields.ok()) return http::ErrorResponse(fields.error());
            const auto& [login, code] = *fields;
            return StatusResponse(svc->Oppose(login, code, ClientOf(req)));
        },
        small);
    router.Add(
        "POST", "/auth/reset",
        [svc](Request& req) {
            auto body = JsonBody(req);
            if (!body.ok()) return http::ErrorResponse(body.error());
            auto fields = Fields(*body, {"login"});
            if (!fields.ok()) return http::ErrorResponse(fields.error());
            const auto& [login] = *fields;
            auto c = svc->StartReset(login, ClientOf(req));
            if (!c.ok()) return http::ErrorResponse(c.error());
            return JsonResponse(200, ChallengeJson(*c));
        },
        small);
    router.Add(
        "POST", "/auth/reset/confirm",
        [svc](Request& req) {
            auto body = JsonBody(req);
            if (!body.ok()) return http::ErrorResponse(body.error());
            auto fields = Fields(*body, {"challenge", "code", "password"});
            if (!fields.ok()) return http::ErrorResponse(fields.error());
            const auto& [challenge, code, password] = *fields;
            return StatusResponse(svc->FinishReset(challenge, code, password, ClientOf(req)));
        },
        small);

    // Signed-in routes: `with` authenticates (CSRF included) and hands the principal over.
    using Signed = std::function<Response(Request&, const auth::Principal&)>;
    auto with = [a](Signed fn) {
        return [a, fn = std::move(fn)](Request& req) {
            auto who = a->Authenticate(req);
            if (!who.ok()) return http::ErrorResponse(who.error());
            return fn(req, *who);
        };
    };
    auto with_body =
        [a](std::function<Response(Request&, const auth::Principal&, const json::object&)> fn) {
            return [a, fn = std::move(fn)](Request& req) {
                auto who = a->Authenticate(req);
                if (!who.ok()) return http::ErrorResponse(who.error());
                auto body = JsonBody(req);
                if (!body.ok()) return http::ErrorResponse(body.error());
                return fn(req, *who, *body);
            };
        };

    router.Add("GET", "/auth/session", with([svc](Request& req, const auth::Principal& p) {
                   auto acc = svc->GetAccount(p.account_id);
                   if (!acc.ok()) return http::ErrorResponse(acc.error());
                   auto records = svc->Records(p);
                   if (!records.ok()) return http::ErrorResponse(records.error());
                   return JsonResponse(
                       200, json::object{{"account", AccountJson(*acc, false)},
                                         {"csrf_token", svc->CsrfFor(Authenticator::TokenOf(req))},
                                         {"method", p.method},
                                         {"auth_time", p.auth_time_us},
                                         {"recently_authenticated", svc->RecentlyAuthenticated(p)},
                                         {"records", RecordsJson(*records)}});
               }));
    router.Add("GET", "/auth/records", with([svc](Request&, const auth::Principal& p) {
                   return OrError<std::vector<auth::RecordAccess>>(
                       svc->Records(p), [](const std::vector<auth::RecordAccess>& r) {
                           return JsonResponse(200, RecordsJson(r));
                       });
               }));
    router.Add("GET", "/auth/records/{patient}/delegations",
               with([svc](Request& req, const auth::Principal& p) {
                   return JsonList(svc->Delegations(p, req.Param("patient")), DelegationJson);
               }));
    router.Add("POST", "/auth/records/{patient}/delegations",
               with_body([svc](Request& req, const auth::Principal& p, const json::object& b) {
                   auto fields = Fields(b, {"kind", "login"});
                   if (!fields.ok()) return http::ErrorResponse(fields.error());
                   const auto& [kind, login] = *fields;
                   auto d = svc->Invite(p, req.Param("patient"), kind, login);
                   if (!d.ok()) return http::ErrorResponse(d.error());
                   return JsonResponse(201, DelegationJson(*d));
               }),
               small);
    router.Add(
        "DELETE", "/auth/records/{patient}/delegations/{id}",
        with([svc](Request& req, const auth::Principal& p) {
            return StatusResponse(svc->EndDelegation(p, req.Param("patient"), req.Param("id")));
        }));
    router.Add("POST", "/auth/invitations/accept",
               with_body([svc](Request&, const auth::Principal& p, const json::object& b) {
                   auto fields = Fields(b, {"code"});
                   if (!fields.ok()) return http::ErrorResponse(fields.error());
                   const auto& [code] = *fields;
                   auto r = svc->AcceptInvitation(p, code);
                   if (!r.ok()) return http::ErrorResponse(r.error());
                   return JsonResponse(200, RecordsJson({*r}).at(0));
               }),
               small);
    // Closure, deletion, reopening: a fresh re-authentication first (POST /auth/reauth).
    router.Add("POST", "/auth/me/close", with([svc, o](Request&, const auth::Principal& p) {
                   Response r = StatusResponse(svc->Close(p));
                   if (r.status == 204)
                       r.With("Set-Cookie",
                              CookieLine(kSessionCookie, "", "/", 0, o.secure_cookies));
                   return r;
               }),
               small);
    router.Add("POST", "/auth/me/delete", with([svc, o](Request&, const auth::Principal& p) {
                   Response r = StatusResponse(svc->RequestDeletion(p));
                   if (r.status == 204)
                       r.With("Set-Cookie",
                              CookieLine(kSessionCookie, "", "/", 0, o.secure_cookies));
                   return r;
               }),
               small);
    // Everything Carnet holds on the person, as one zip (the holder's own session only).
    router.Add("GET", "/auth/me/export",
               with([svc, st = &store, clk = &clock, fhir](Request& req, const auth::Principal& p) {
                   Caller caller;
                   caller.actor = ActorOf(*svc, p);
                   caller.request_id = req.request_id;
                   auto archive = BuildExport(*st, *svc, p, clk->NowMicros(), fhir, &caller);
                   if (!archive.ok()) return http::ErrorResponse(archive.error());
                   Response r;
                   r.status = 200;
                   r.content_type = "application/zip";
                   r.body = std::move(archive->bytes);
                   r.With("Content-Disposition",
                          "attachment; filename=\"" + archive->file_name + "\"");
                   r.With("Cache-Control", "no-store");
                   return r;
               }));
    router.Add("POST", "/auth/me/reopen", with([svc](Request&, const auth::Principal& p) {
                   return StatusResponse(svc->Reopen(p));
               }),
               small);
    router.Add("GET", "/auth/me", with([svc](Request&, const auth::Principal& p) {
                   return OrError<auth::Account>(
                       svc->GetAccount(p.account_id), [](const auth::Account& acc) {
                           return JsonResponse(200, AccountJson(acc, true));
                       });
               }));
    router.Add("POST", "/auth/me/password",
               with_body([svc](Request&, const auth::Principal& p, const json::object& b) {
                   auto fields = Fields(b, {"current", "password"});
                   if (!fields.ok()) return http::ErrorResponse(fields.error());
                   const auto& [current, next] = *fields;
                   return StatusResponse(svc->ChangePassword(p, current, next));
               }),
               small);
    router.Add("POST", "/auth/me/contact",
               with_body([svc](Request& req, const auth::Principal& p, const json::object& b) {
                   auto fields = Fields(b, {"channel", "address"});
                   if (!fields.ok()) return http::ErrorResponse(fields.error());
                   const auto& [channel, address] = *fields;
                   auto c = svc->StartContactChange(p, channel, address, ClientOf(req));
                   if (!c.ok()) return http::ErrorResponse(c.error());
                   return JsonResponse(200, ChallengeJson(*c));
               }),
               small);
    router.Add("POST", "/auth/me/contact/confirm",
               with_body([svc](Request&, const auth::Principal& p, const json::object& b) {
                   auto fields = Fields(b, {"challenge", "code"});
                   if (!fields.ok()) return http::ErrorResponse(fields.error());
                   const auto& [challenge, code] = *fields;
                   return StatusResponse(svc->ConfirmContact(p, challenge, code));
               }),
               small);
    router.Add("POST", "/auth/me/second-factor",
               with_body([svc](Request&, const auth::Principal& p, const json::object& b) {
                   auto fields = Fields(b, {"channel"});
                   if (!fields.ok()) return http::ErrorResponse(fields.error());
                   const auto& [channel] = *fields;
                   return StatusResponse(svc->SetSecondFactor(p, channel));
               }),
               small);
    router.Add("POST", "/auth/me/totp", with([svc](Request&, const auth::Principal& p) {
                   return OrError<auth::TotpEnrolment>(
                       svc->StartTotp(p), [](const auth::TotpEnrolment& e) {
                           return JsonResponse(200, json::object{{"secret", e.secret_base32},
                                                                 {"otpauth_uri", e.otpauth_uri}});
                       });
               }),
               small);
    router.Add("POST", "/auth/me/totp/confirm",
               with_body([svc](Request&, const auth::Principal& p, const json::object& b) {
                   auto fields = Fields(b, {"code"});
                   if (!fields.ok()) return http::ErrorResponse(fields.error());
                   const auto& [code] = *fields;
                   return StatusResponse(svc->ConfirmTotp(p, code));
               }),
               small);
    router.Add("POST", "/auth/me/totp/disable",
               with_body([svc](Request&, const auth::Principal& p, const json::object& b) {
                   auto fields = Fields(b, {"password"});
                   if (!fields.ok()) return http::ErrorResponse(fields.error());
                   const auto& [password] = *fields;
                   return StatusResponse(svc->DisableTotp(p, password));
               }),
               small);
    router.Add("GET", "/auth/me/sessions", with([svc](Request&, const auth::Principal& p) {
                   return JsonList(svc->ListSessions(p), SessionJson);
               }));
    router.Add("DELETE", "/auth/me/sessions/{handle}",
               with([svc](Request& req, const auth::Principal& p) {
                   return StatusResponse(svc->RevokeSession(p, req.Param("handle")));
               }));
    router.Add("GET", "/auth/me/devices", with([svc](Request&, const auth::Principal& p) {
                   return JsonList(svc->ListDevices(p), DeviceJson);
               }));
    router.Add("DELETE", "/auth/me/devices/{handle}",
               with([svc](Request& req, const auth::Principal& p) {
                   return StatusResponse(svc->RevokeDevice(p, req.Param("handle")));
               }));
    router.Add("GET", "/auth/me/history", with([svc](Request&, const auth::Principal& p) {
                   return JsonList(svc->History(p.account_id), EventJson);
               }));
    router.Add("POST", "/auth/reauth",
               with_body([svc](Request& req, const auth::Principal& p, const json::object& b) {
                   auto fields = Fields(b, {"password"});
                   if (!fields.ok()) return http::ErrorResponse(fields.error());
                   const auto& [password] = *fields;
                   auto c = svc->StartReauth(p, password, ClientOf(req));
                   if (!c.ok()) return http::ErrorResponse(c.error());
                   return JsonResponse(200, ChallengeJson(*c));
               }),
               small);
    router.Add("POST", "/auth/reauth/confirm",
               with_body([svc](Request& req, const auth::Principal& p, const json::object& b) {
                   auto fields = Fields(b, {"challenge", "code"});
                   if (!fields.ok()) return http::ErrorResponse(fields.error());
                   const auto& [challenge, code] = *fields;
                   return StatusResponse(svc->FinishReauth(p, challenge, code, ClientOf(req)));
               }),
               small);

    // Directory: any signed-in person may look professionals up (to authorise or block).
    router.Add("GET", "/directory/professions", with([](Request&, const auth::Principal&) {
                   json::array out;
                   for (const auto& [code, label] : auth::Professions())
                       out.push_back(json::object{{"code", code}, {"label", label}});
                   return JsonResponse(200, out);
               }));
    router.Add("GET", "/directory/professionals", with([svc](Request& req, const auth::Principal&) {
                   const std::string q = QueryValue(req, "q");
                   const std::string profession = QueryValue(req, "profession");
                   return JsonList(svc->SearchDirectory(q, profession, 50), DirectoryJson);
               }));

    // Operators.
    auto operators = [with](Signed fn, bool admin_only) {
        return with([fn = std::move(fn), admin_only](Request& req, const auth::Principal& p) {
            if (admin_only ? p.kind != auth::kAdmin : !IsOperator(p)) {
                return Forbidden(admin_only ? "réservé aux administrateurs"
                                            : "réservé aux conseillers et administrateurs");
            }
            return fn(req, p);
        });
    };
    router.Add("GET", "/admin/accounts",
               operators(
                   [svc](Request& req, const auth::Principal&) {
                       const std::string q = QueryValue(req, "q");
                       const std::string kind = QueryValue(req, "kind");
                       return JsonList(svc->SearchAccounts(kind, q, 50), OperatorAccountJson);
                   },
                   false));
    router.Add("GET", "/admin/accounts/{id}",
               operators(
                   [svc](Request& req, const auth::Principal&) {
                       auto acc = svc->GetAccount(req.Param("id"));
                       if (!acc.ok()) return http::ErrorResponse(acc.error());
                       json::object view = OperatorAccountJson(*acc);
                       if (auto lock = svc->Lockout(acc->id); lock.ok()) {
                           view["locked_until"] = lock->first;
                           view["failed_logins"] = lock->second;
                       }
                       auto history = svc->History(acc->id, 50);
                       json::array h;
                       if (history.ok()) {
                           for (const auto& e : *history) h.push_back(EventJson(e));
                       }
                       view["history"] = std::move(h);
                       return JsonResponse(200, view);
                   },
                   false));
    router.Add("POST", "/admin/accounts/{id}/resend-activation",
               operators(
                   [svc](Request& req, const auth::Principal& p) {
                       auto code = svc->ResendActivation(req.Param("id"), p);
                       if (!code.ok()) return http::ErrorResponse(code.error());
                       // The code goes to the person's contact, never to the advisor.
                       return NoContent();
                   },
                   false),
               small);
    router.Add("POST", "/admin/accounts/{id}/unlock",
               operators(
                   [svc](Request& req, const auth::Principal& p) {
                       return StatusResponse(svc->Unlock(req.Param("id"), p));
                   },
                   false),
               small);
    router.Add("POST", "/admin/accounts/{id}/purge",
               operators(
                   [svc](Request& req, const auth::Principal& p) {
                       return StatusResponse(svc->PurgeNow(req.Param("id"), p));
                   },
                   true),
               small);
    router.Add(
        "POST", "/admin/representatives",
        operators(
            [svc](Request& req, const auth::Principal& p) {
                auto body = JsonBody(req);
                if (!body.ok()) return http::ErrorResponse(body.error());
                auto fields = Fields(*body, {"child_patient_id", "representative_login"});
                if (!fields.ok()) return http::ErrorResponse(fields.error());
                const auto& [child, login] = *fields;
                auto rep = svc->FindByLogin(login);
                if (!rep.ok()) return http::ErrorResponse(rep.error());
                if (!*rep) {
                    return http::ErrorResponse(Code::kNotFound, "not-found",
                                               "aucun compte avec cet identifiant");
                }
                return StatusResponse(svc->AddRepresentative(child, (*rep)->id, p.account_id));
            },
            true),
        small);
    router.Add(
        "POST", "/admin/professionals",
        operators(
            [svc](Request& req, const auth::Principal& p) {
                auto body = JsonBody(req);
                if (!body.ok()) return http::ErrorResponse(body.error());
                auth::NewProfessional n;
                std::string* fields[] = {&n.rpps,      &n.given,        &n.family, &n.profession,
                                         &n.specialty, &n.organisation, &n.email,  &n.phone};
                const char* names[] = {"rpps",      "given",        "family", "profession",
                                       "specialty", "organisation", "email",  "phone"};
                for (size_t i = 0; i < std::size(names); ++i) {
                    auto v = Str(*body, names[i], i == 0 || i == 2 || i == 3);
                    if (!v.ok()) return http::ErrorResponse(v.error());
                    *fields[i] = *v;
                }
                auto c = svc->CreateProfessional(n, p.account_id);
                if (!c.ok()) return http::ErrorResponse(c.error());
                return JsonResponse(
                    c->existed ? 200 : 201,
                    json::object{{"account", DirectoryJson(c->account)}, {"existed", c->existed}});
            },
            true),
        small);
    router.Add("POST", "/admin/staff",
               operators(
                   [svc](Request& req, const auth::Principal& p) {
                       auto body = JsonBody(req);
                       if (!body.ok()) return http::ErrorResponse(body.error());
                       auth::NewStaff n;
                       std::string* fields[] = {&n.kind, &n.login, &n.given, &n.family, &n.email};
                       const char* names[] = {"kind", "login", "given", "family", "email"};
                       for (size_t i = 0; i < std::size(names); ++i) {
                           auto v = Str(*body, names[i], i < 2);
                           if (!v.ok()) return http::ErrorResponse(v.error());
                           *fields[i] = *v;
                       }
                       auto c = svc->CreateStaff(n, p.account_id);
                       if (!c.ok()) return http::ErrorResponse(c.error());
                       json::object out{{"account", OperatorAccountJson(c->account)},
                                        {"existed", c->existed}};
                       // Shown once to the admin, who hands it over (or it was mailed).
                       if (!c->activation_code.empty()) out["activation_code"] = c->activation_code;
                       return JsonResponse(c->existed ? 200 : 201, out);
                   },
                   true),
               small);
}

}  // namespace carnet::api
