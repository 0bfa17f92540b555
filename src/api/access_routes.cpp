#include "api/access_routes.hpp"

#include <boost/json.hpp>
#include <charconv>
#include <functional>

#include "api/actor.hpp"
#include "api/documents_view.hpp"
#include "api/json_routes.hpp"
#include "fhir/json.hpp"

namespace carnet::api {

namespace json = boost::json;
using http::Request;
using http::Response;

namespace {

/// A string member ("" when absent or null); kInvalid when of another type or too long.
Result<std::string> Str(const json::object& o, const char* key, size_t max = 4096) {
    const json::value* v = o.if_contains(key);
    if (!v || v->is_null()) return std::string();
    if (!v->is_string()) return Error::Invalid(std::string("texte attendu : ") + key, key);
    if (v->as_string().size() > max) return Error::Invalid(std::string("trop long : ") + key, key);
    return std::string(v->as_string());
}

/// An integer query parameter; nullopt when absent, kInvalid when not an integer.
Result<std::optional<int64_t>> IntParam(const Request& req, std::string_view name) {
    const std::string v = QueryValue(req, name);
    if (v.empty()) return std::optional<int64_t>();
    int64_t n = 0;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || end != v.data() + v.size()) {
        return Error::Invalid("entier attendu : " + std::string(name), std::string(name));
    }
    return std::optional<int64_t>(n);
}

Result<access::LogQuery> LogQueryOf(const Request& req) {
    access::LogQuery q;
    q.outcome = QueryValue(req, "outcome");
    if (!q.outcome.empty() && q.outcome != "allow" && q.outcome != "deny") {
        return Error::Invalid("outcome : allow ou deny", "outcome");
    }
    const std::string emergency = QueryValue(req, "emergency");
    if (!emergency.empty() && emergency != "0" && emergency != "1" && emergency != "true" &&
        emergency != "false") {
        return Error::Invalid("emergency : 1 ou 0", "emergency");
    }
    q.emergency_only = emergency == "1" || emergency == "true";
    CARNET_TRY(q.since_us, IntParam(req, "since"));
    CARNET_TRY(q.until_us, IntParam(req, "until"));
    CARNET_TRY(auto before, IntParam(req, "before"));
    if (before) {
        if (*before < 1) return Error::Invalid("before : un numéro d'entrée", "before");
        q.before_seq = *before;
    }
    CARNET_TRY(auto limit, IntParam(req, "limit"));
    if (limit) {
        if (*limit < 1 || *limit > 200) return Error::Invalid("limit : de 1 à 200", "limit");
        q.limit = static_cast<int>(*limit);
    }
    return q;
}

json::object SettingsJson(const access::Settings& s) {
    return {{"etreat", s.etreat},
            {"btg", s.btg},
            {"emergency_masked", s.emergency_masked},
            {"emergency_only", s.emergency_only},
            {"mask_new", s.mask_new},
            {"notify_email", s.notify_email},
            {"notify_sms", s.notify_sms}};
}

json::object ProfessionalJson(const access::ProfessionalRow& p) {
    json::array roles;
    for (const auto& r : p.roles) roles.emplace_back(r);
    return {{"account_id", p.account_id}, {"name", p.name},
            {"profession", p.profession}, {"profession_label", p.profession_label},
            {"specialty", p.specialty},   {"rpps", p.rpps},
            {"status", p.status},         {"roles", std::move(roles)},
            {"via_code", p.via_code},     {"last_access_at", MaybeInt(p.last_access_at)}};
}

json::object CodeJson(const access::CodeInfo& c) {
    return {{"id", c.id},
            {"created_at", c.created_at},
            {"expires_at", c.expires_at},
            {"status", c.status},
            {"used_by_name", c.used_by_name}};
}

json::object EmergencyJson(const access::EmergencyInfo& e) {
    return {{"id", e.id},
            {"professional_name", e.professional_name},
            {"kind", e.kind},
            {"reason", e.reason},
            {"opened_at", e.opened_at},
            {"until", e.until}};
}

json::object ReachableJson(const access::ReachableRecord& r) {
    return {{"patient_id", r.patient_id},
            {"name", r.name},
            {"basis", r.basis},
            {"until", MaybeInt(r.until)}};
}

json::object GridVersionJson(const access::GridVersion& v) {
    return {{"version", v.version}, {"created_at", v.created_at}, {"created_by", v.created_by}};
}

json::object LogPageJson(const access::LogPage& page) {
    json::array entries;
    for (const auto& line : page.entries) {
        const audit::Entry& e = line.stored.entry;
        entries.push_back(json::object{{"seq", line.stored.seq},
                                       {"patient_id", e.patient_id},
                                       {"at", e.at_us},
                                       {"actor_name", line.actor_name},
                                       {"actor_kind", e.actor_kind},
                                       {"actor_profession", e.actor_profession},
                                       {"action", e.action},
                                       {"resource_type", e.resource_type},
                                       {"resource_id", e.resource_id},
                                       {"category", e.category},
                                       {"basis", e.basis},
                                       {"outcome", e.outcome},
                                       {"reason", e.reason},
                                       {"purpose", e.purpose},
                                       {"emergency", e.emergency},
                                       {"count", e.count}});
    }
    json::object out{{"entries", std::move(entries)}, {"next_before", MaybeInt(page.next_before)}};
    if (page.next_until) out["next_until"] = *page.next_until;
    return out;
}

bool IsOperator(const auth::Principal& p) {
    return p.kind == auth::kAdvisor || p.kind == auth::kAdmin;
}

/// The boolean members of a settings change; anything else is refused.
Result<access::SettingsChange> SettingsChangeOf(const json::object& b) {
    access::SettingsChange c;
    std::pair<const char*, std::optional<bool>*> fields[] = {
        {"etreat", &c.etreat},
        {"btg", &c.btg},
        {"emergency_masked", &c.emergency_masked},
        {"emergency_only", &c.emergency_only},
        {"mask_new", &c.mask_new},
        {"notify_email", &c.notify_email},
        {"notify_sms", &c.notify_sms}};
    for (const auto& [key, value] : b) {
        bool known = false;
        for (auto& [name, slot] : fields) {
            if (key != name) continue;
            known = true;
            if (!value.is_bool()) {
                return Error::Invalid(std::string("booléen attendu : ") + name, name);
            }
            *slot = value.as_bool();
        }
        if (!known) {
            return Error::Invalid("réglage inconnu : " + std::string(key).substr(0, 40),
                                  std::string(key).substr(0, 40));
        }
    }
    return c;
}

Result<access::ProfessionalChange> ProfessionalChangeOf(const json::object& b) {
    access::ProfessionalChange c;
    for (const auto& [key, value] : b) {
        if (key == "status") {
            if (!value.is_string()) return Error::Invalid("texte attendu : status", "status");
            c.status = std::string(value.as_string());
        } else if (key == "roles") {
            if (!value.is_array() || value.as_array().size() > 8) {
                return Error::Invalid("liste de rôles attendue", "roles");
            }
            std::vector<std::string> roles;
            for (const auto& r : value.as_array()) {
                if (!r.is_string() || r.as_string().size() > 64) {
                    return Error::Invalid("liste de rôles attendue", "roles");
                }
                roles.emplace_back(r.as_string());
            }
            c.roles = std::move(roles);
        } else {
            return Error::Invalid("champ inconnu : " + std::string(key).substr(0, 40),
                                  std::string(key).substr(0, 40));
        }
    }
    return c;
}

}  // namespace

void RegisterAccessRoutes(http::Router& router, const Authenticator& authenticator,
                          access::AccessService& service, AccessRouteOptions options) {
    const Authenticator* a = &authenticator;
    access::AccessService* svc = &service;
    http::RouteOptions small;
    small.max_body_bytes = options.max_body_bytes;
    http::RouteOptions grid_body;
    grid_body.max_body_bytes = options.max_grid_bytes;

    // Signed in; `operators` says whether advisors and admins may use the route (only the
    // grid's): everything else is about a record, which operators never reach.
    using Handler = std::function<Response(Request&, const auth::Principal&, const access::Actor&)>;
    auto with = [a](Handler fn, bool operators = false) {
        return [a, fn = std::move(fn), operators](Request& req) {
            auto who = a->Authenticate(req);
            if (!who.ok()) return http::ErrorResponse(who.error());
            if (!operators && IsOperator(*who)) {
                return http::ErrorResponse(
                    Code::kForbidden, "forbidden",
                    "les comptes opérateurs n'ont jamais accès aux dossiers");
            }
            const access::Actor actor = ActorOf(a->service(), *who);
            return fn(req, *who, actor);
        };
    };
    using BodyHandler =
        std::function<Response(Request&, const access::Actor&, const json::object&)>;
    auto with_body = [with](BodyHandler fn, bool operators = false) {
        return with(
            [fn = std::move(fn)](Request& req, const auth::Principal&, const access::Actor& actor) {
                auto body = JsonBody(req);
                if (!body.ok()) return http::ErrorResponse(body.error());
                return fn(req, actor, *body);
            },
            operators);
    };
    const std::string rec = "/access/records/{pid}";

    // ---- the holder's controls ----
    router.Add("GET", rec + "/settings",
               with([svc](Request& req, const auth::Principal&, const access::Actor& actor) {
                   auto s = svc->GetSettings(actor, req.Param("pid"), req.request_id);
                   if (!s.ok()) return http::ErrorResponse(s.error());
                   return JsonResponse(200, SettingsJson(*s));
               }));
    router.Add("PUT", rec + "/settings",
               with_body([svc](Request& req, const access::Actor& actor, const json::object& b) {
                   auto change = SettingsChangeOf(b);
                   if (!change.ok()) return http::ErrorResponse(change.error());
                   auto s = svc->PutSettings(actor, req.Param("pid"), req.request_id, *change);
                   if (!s.ok()) return http::ErrorResponse(s.error());
                   return JsonResponse(200, SettingsJson(*s));
               }),
               small);
    router.Add("GET", rec + "/professionals",
               with([svc](Request& req, const auth::Principal&, const access::Actor& actor) {
                   return JsonList(svc->ListProfessionals(actor, req.Param("pid"), req.request_id),
                                   ProfessionalJson);
               }));
    router.Add("PUT", rec + "/professionals/{account}",
               with_body([svc](Request& req, const access::Actor& actor, const json::object& b) {
                   auto change = ProfessionalChangeOf(b);
                   if (!change.ok()) return http::ErrorResponse(change.error());
                   auto row = svc->PutProfessional(actor, req.Param("pid"), req.request_id,
                                                   req.Param("account"), *change);
                   if (!row.ok()) return http::ErrorResponse(row.error());
                   return JsonResponse(200, ProfessionalJson(*row));
               }),
               small);
    router.Add("DELETE", rec + "/professionals/{account}",
               with([svc](Request& req, const auth::Principal&, const access::Actor& actor) {
                   return StatusResponse(svc->RemoveProfessional(
                       actor, req.Param("pid"), req.request_id, req.Param("account")));
               }));
    // The body ({}) carries nothing: none is required.
    router.Add(
        "POST", rec + "/codes",
        with([svc](Request& req, const auth::Principal&, const access::Actor& actor) {
            auto c = svc->CreateCode(actor, req.Param("pid"), req.request_id);
            if (!c.ok()) return http::ErrorResponse(c.error());
            return JsonResponse(
                201, json::object{{"id", c->id}, {"code", c->code}, {"expires_at", c->expires_at}});
        }),
        small);
    router.Add("GET", rec + "/codes",
               with([svc](Request& req, const auth::Principal&, const access::Actor& actor) {
                   return JsonList(svc->ListCodes(actor, req.Param("pid"), req.request_id),
                                   CodeJson);
               }));
    router.Add("DELETE", rec + "/codes/{id}",
               with([svc](Request& req, const auth::Principal&, const access::Actor& actor) {
                   return StatusResponse(
                       svc->RevokeCode(actor, req.Param("pid"), req.request_id, req.Param("id")));
               }));
    router.Add("GET", rec + "/documents",
               with([svc](Request& req, const auth::Principal&, const access::Actor& actor) {
                   return JsonList(svc->ListDocuments(actor, req.Param("pid"), req.request_id),
                                   DocumentJson);
               }));
    router.Add("PUT", rec + "/documents/{type}/{id}",
               with_body([svc](Request& req, const access::Actor& actor, const json::object& b) {
                   const json::value* masked = b.if_contains("masked");
                   if (!masked || !masked->is_bool() || b.size() != 1) {
                       return http::ErrorResponse(
                           Error::Invalid("corps attendu : {\"masked\": true|false}", "masked"));
                   }
                   return StatusResponse(svc->SetMasked(actor, req.Param("pid"), req.request_id,
                                                        req.Param("type"), req.Param("id"),
                                                        masked->as_bool()));
               }),
               small);
    router.Add("GET", rec + "/log",
               with([svc](Request& req, const auth::Principal&, const access::Actor& actor) {
                   auto q = LogQueryOf(req);
                   if (!q.ok()) return http::ErrorResponse(q.error());
                   auto page = svc->ReadLog(actor, req.Param("pid"), req.request_id, *q);
                   if (!page.ok()) return http::ErrorResponse(page.error());
                   return JsonResponse(200, LogPageJson(*page));
               }));
    router.Add("GET", rec + "/emergencies",
               with([svc](Request& req, const auth::Principal&, const access::Actor& actor) {
                   return JsonList(svc->ListEmergencies(actor, req.Param("pid"), req.request_id),
                                   EmergencyJson);
               }));

    // ---- professionals ----
    router.Add("POST", "/access/codes/redeem",
               with_body([svc](Request& req, const access::Actor& actor, const json::object& b) {
                   auto ins = Str(b, "ins", 64);
                   if (!ins.ok()) return http::ErrorResponse(ins.error());
                   auto patient = Str(b, "patient", 64);
                   if (!patient.ok()) return http::ErrorResponse(patient.error());
                   auto code = Str(b, "code", 64);
                   if (!code.ok()) return http::ErrorResponse(code.error());
                   auto r = svc->RedeemCode(actor, req.request_id, *ins, *patient, *code);
                   if (!r.ok()) return http::ErrorResponse(r.error());
                   return JsonResponse(
                       200, json::object{{"patient_id", r->patient_id}, {"name", r->name}});
               }),
               small);
    router.Add("POST", rec + "/emergency",
               with_body([svc](Request& req, const access::Actor& actor, const json::object& b) {
                   auto purpose = Str(b, "purpose", 16);
                   if (!purpose.ok()) return http::ErrorResponse(purpose.error());
                   auto reason = Str(b, "reason", 4000);
                   if (!reason.ok()) return http::ErrorResponse(reason.error());
                   auto until = svc->OpenEmergency(actor, req.Param("pid"), req.request_id,
                                                   *purpose, *reason);
                   if (!until.ok()) return http::ErrorResponse(until.error());
                   return JsonResponse(200, json::object{{"until", *until}});
               }),
               small);
    // The same, naming the record by the INS read from the patient's card (a professional in
    // an emergency may not know the record's id). An unknown INS answers like an unknown
    // record.
    router.Add("POST", "/access/emergency",
               with_body([svc](Request& req, const access::Actor& actor, const json::object& b) {
                   auto ins = Str(b, "ins", 64);
                   if (!ins.ok()) return http::ErrorResponse(ins.error());
                   auto purpose = Str(b, "purpose", 16);
                   if (!purpose.ok()) return http::ErrorResponse(purpose.error());
                   auto reason = Str(b, "reason", 4000);
                   if (!reason.ok()) return http::ErrorResponse(reason.error());
                   auto pid = svc->RecordOfIns(*ins);
                   if (!pid.ok()) return http::ErrorResponse(pid.error());
                   auto until = svc->OpenEmergency(actor, *pid, req.request_id, *purpose, *reason);
                   if (!until.ok()) return http::ErrorResponse(until.error());
                   return JsonResponse(200, json::object{{"patient_id", *pid}, {"until", *until}});
               }),
               small);
    router.Add(
        "POST", rec + "/documents/{type}/{id}/release",
        with([svc](Request& req, const auth::Principal&, const access::Actor& actor) {
            return StatusResponse(svc->ReleaseDocument(actor, req.Param("pid"), req.request_id,
                                                       req.Param("type"), req.Param("id")));
        }),
        small);
    router.Add("GET", "/access/patients",
               with([svc](Request&, const auth::Principal&, const access::Actor& actor) {
                   return JsonList(svc->ReachablePatients(actor), ReachableJson);
               }));
    router.Add("GET", "/access/log",
               with([svc](Request& req, const auth::Principal&, const access::Actor& actor) {
                   auto q = LogQueryOf(req);
                   if (!q.ok()) return http::ErrorResponse(q.error());
                   auto page = svc->OwnLog(actor, *q);
                   if (!page.ok()) return http::ErrorResponse(page.error());
                   return JsonResponse(200, LogPageJson(*page));
               }));

    // ---- the grid: any signed-in person reads it, admins edit it ----
    router.Add("GET", "/access/grid",
               with(
                   [svc](Request&, const auth::Principal&, const access::Actor&) {
                       auto g = svc->GetGrid();
                       if (!g.ok()) return http::ErrorResponse(g.error());
                       json::object out = GridVersionJson(g->version);
                       boost::system::error_code ec;
                       out["grid"] = json::parse(g->grid_json, ec);
                       if (ec)
                           return http::ErrorResponse(Error::Internal("stored grid unreadable"));
                       return JsonResponse(200, out);
                   },
                   true));
    router.Add(
        "GET", "/access/grid/versions",
        with([svc](Request&, const auth::Principal&,
                   const access::Actor&) { return JsonList(svc->GridVersions(), GridVersionJson); },
             true));
    router.Add("PUT", "/access/grid",
               with(
                   [svc](Request& req, const auth::Principal&, const access::Actor& actor) {
                       // Refused before the body is even read when the caller is no admin.
                       if (actor.kind != access::ActorKind::kAdmin) {
                           return http::ErrorResponse(Code::kForbidden, "forbidden",
                                                      "réservé aux administrateurs");
                       }
                       auto body = JsonBody(req);
                       if (!body.ok()) return http::ErrorResponse(body.error());
                       auto v = svc->PutGrid(actor, req.request_id, json::serialize(*body));
                       if (!v.ok()) return http::ErrorResponse(v.error());
                       return JsonResponse(200, GridVersionJson(*v));
                   },
                   true),
               grid_body);
}

}  // namespace carnet::api
