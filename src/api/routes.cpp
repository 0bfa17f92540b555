#include "api/routes.hpp"

#include "api/audit_fhir.hpp"

#include <boost/json.hpp>

#include "core/clock.hpp"
#include "fhir/definitions.hpp"
#include "fhir/json.hpp"

namespace carnet::api {

namespace json = boost::json;
using http::Request;
using http::Response;

namespace {

bool SafeHost(const std::string& host) {
    if (host.empty() || host.size() > 255) return false;
    for (char c : host) {
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != ':' &&
            c != '[' && c != ']')
            return false;
    }
    return true;
}

std::string BaseUrl(const Request& req, const ApiOptions& o) {
    if (!o.public_base_url.empty()) return o.public_base_url;
    auto host = req.Header("host");
    return "http://" + (host && SafeHost(*host) ? *host : o.fallback_host) + "/fhir";
}

Status CheckType(const std::string& type) {
    if (!fhir::Definitions::R4().IsResourceType(type)) {
        return Error::Make(Code::kInvalid, "not-supported",
                           "unknown resource type '" + type.substr(0, 64) + "'");
    }
    return Ok();
}

Status CheckFormat(const Request& req) {
    for (const auto& [k, v] : req.query) {
        if (k == "_format" && v.find("json") == std::string::npos) {
            return Error::Make(Code::kUnsupportedMedia, "not-supported",
                               "only JSON is supported (_format=json)");
        }
    }
    return Ok();
}

Result<json::object> ParseBody(const Request& req, const ApiOptions& o) {
    auto ct = req.Header("content-type").value_or("");
    if (ct.find("application/fhir+json") == std::string::npos &&
        ct.find("application/json") == std::string::npos) {
        return Error::Make(Code::kUnsupportedMedia, "not-supported",
                           "Content-Type must be application/fhir+json");
    }
    if (req.body.empty()) return Error::Invalid("the request body is empty");
    CARNET_TRY(json::value v, fhir::ParseJson(req.body, o.max_json_depth));
    if (!v.is_object()) return Error::Invalid("the body must be a JSON object");
    return std::move(v.as_object());
}

bool Lenient(const Request& req) {
    auto prefer = req.Header("prefer");
    return prefer && prefer->find("handling=lenient") != std::string::npos;
}

Response Json(int status, std::string body) {
    Response r;
    r.status = status;
    r.body = std::move(body);
    return r;
}

Response WriteResponse(const Request& req, const WriteOutcome& w, const std::string& base) {
    Response r;
    r.status = w.status;
    const auto& rv = w.resource;
    r.With("ETag", ETagFor(rv.version));
    r.With("Last-Modified", FormatHttpDate(rv.last_updated_us));
    r.With("Location",
           base + "/" + rv.type + "/" + rv.id + "/_history/" + std::to_string(rv.version));
    auto prefer = req.Header("prefer").value_or("");
    if (prefer.find("return=minimal") != std::string::npos) {
        r.body.clear();
    } else if (prefer.find("return=OperationOutcome") != std::string::npos) {
        r.body = http::OperationOutcomeJson(
            {Issue{"information", "informational",
                   w.changed ? "the resource was saved" : "nothing changed", ""}});
    } else {
        r.body = rv.json;
    }
    return r;
}

Response ReadResponse(const store::ResourceVersion& rv) {
    Response r = Json(200, rv.json);
    r.With("ETag", ETagFor(rv.version));
    r.With("Last-Modified", FormatHttpDate(rv.last_updated_us));
    return r;
}

template <typename T>
Response Or(const Result<T>& result, const std::function<Response(const T&)>& ok) {
    if (!result.ok()) return http::ErrorResponse(result.error());
    return ok(result.value());
}

}  // namespace

std::string CapabilityStatementJson(const ApiOptions& options) {
    const auto& defs = fhir::Definitions::R4();
    json::array resources;
    for (const auto& type : defs.ResourceTypes()) {
        json::array params;
        for (const auto* p : defs.SearchParams(type)) {
            if (p->type == "composite" || p->type == "special") continue;  // not implemented
            params.push_back(json::object{{"name", p->code}, {"type", p->type}});
        }
        json::array interactions;
        for (const char* code : {"read", "vread", "update", "delete", "history-instance",
                                 "history-type", "create", "search-type"}) {
            interactions.push_back(json::object{{"code", code}});
        }
        resources.push_back(json::object{
            {"type", type},
            {"interaction", std::move(interactions)},
            {"versioning", "versioned-update"},
            {"readHistory", true},
            {"updateCreate", true},
            {"conditionalCreate", true},
            {"conditionalUpdate", true},
            {"conditionalDelete", "not-supported"},
            {"searchInclude", json::array{json::string("*")}},
            {"searchRevInclude", json::array{json::string("*")}},
            {"searchParam", std::move(params)},
        });
    }
    json::object cs{
        {"resourceType", "CapabilityStatement"},
        {"status", "active"},
        {"date", FormatInstant(SystemClock().NowMicros()).substr(0, 10)},
        {"publisher", "Carnet"},
        {"kind", "instance"},
        {"software", json::object{{"name", "Carnet"}, {"version", options.software_version}}},
        {"implementation", json::object{{"description", "Carnet personal health record"}}},
        {"fhirVersion", "4.0.1"},
        {"format", json::array{json::string("application/fhir+json"), json::string("json")}},
        {"rest", json::array{json::object{
                     {"mode", "server"},
                     {"resource", std::move(resources)},
                     {"interaction", json::array{json::object{{"code", "transaction"}},
                                                 json::object{{"code", "batch"}},
                                                 json::object{{"code", "history-system"}}}},
                 }}},
    };
    return json::serialize(cs);
}

void RegisterFhirRoutes(http::Router& router, FhirService& service, const ApiOptions& options) {
    const ApiOptions o = options;
    auto capability = std::make_shared<const std::string>(CapabilityStatementJson(o));
    http::RouteOptions inline_route;
    inline_route.run_inline = true;
    http::RouteOptions read_route;
    read_route.run_inline = options.inline_reads;
    router.Add(
        "GET", "/fhir/metadata", [capability](Request&) { return Json(200, *capability); },
        inline_route);

    // Every other FHIR route passes the guard first (authentication, operator refusal), then
    // learns who calls: `identify` gives the Caller every access decision is made for.
    using CallerHandler = std::function<Response(Request&, const Caller&)>;
    struct Guarded {
        http::Router& router;
        std::function<std::optional<Response>(Request&)> guard;
        std::function<Result<Caller>(Request&)> identify;
        void Add(std::string_view method, std::string_view pattern, CallerHandler handler,
                 http::RouteOptions ro = {}) {
            router.Add(
                method, pattern,
                [g = guard, id = identify, h = std::move(handler)](Request& req) {
                    if (g) {
                        if (auto stop = g(req)) return std::move(*stop);
                    }
                    if (!id) return h(req, Caller::System());
                    auto caller = id(req);
                    if (!caller.ok()) return http::ErrorResponse(caller.error());
                    return h(req, *caller);
                },
                ro);
        }
    } fhir{router, options.guard, options.identify};
    // Decided reads write their log entry: they wait for a commit, never on an I/O thread.
    if (options.identify) read_route.run_inline = false;

    // The access log, as AuditEvents: written by Carnet alone, read through the decision.
    fhir.Add(
        "GET", "/fhir/AuditEvent",
        [&service, o](Request& req, const Caller& caller) {
            if (auto s = CheckFormat(req); !s.ok()) return http::ErrorResponse(s.error());
            return Or<std::string>(SearchAuditEvents(service, req.query, BaseUrl(req, o), caller),
                                   [](const std::string& b) { return Json(200, b); });
        },
        read_route);

    // Search: GET /fhir/{type}?…  and POST /fhir/{type}/_search (form body).
    fhir.Add(
        "GET", "/fhir/{type}",
        [&service, o](Request& req, const Caller& caller) {
            const std::string type = req.Param("type");
            if (auto s = CheckType(type); !s.ok()) return http::ErrorResponse(s.error());
            if (auto s = CheckFormat(req); !s.ok()) return http::ErrorResponse(s.error());
            return Or<std::string>(
                service.Search(type, req.query, Lenient(req), BaseUrl(req, o), caller),
                [](const std::string& b) { return Json(200, b); });
        },
        read_route);
    fhir.Add("POST", "/fhir/{type}/_search", [&service, o](Request& req, const Caller& caller) {
        const std::string type = req.Param("type");
        if (auto s = CheckType(type); !s.ok()) return http::ErrorResponse(s.error());
        auto ct = req.Header("content-type").value_or("");
        if (!req.body.empty() &&
            ct.find("application/x-www-form-urlencoded") == std::string::npos) {
            return http::ErrorResponse(
                Error::Make(Code::kUnsupportedMedia, "not-supported",
                            "_search takes application/x-www-form-urlencoded"));
        }
        QueryParams params = req.query;
        for (auto& p : ParseQueryString(req.body)) params.push_back(std::move(p));
        return Or<std::string>(service.Search(type, params, Lenient(req), BaseUrl(req, o), caller),
                               [](const std::string& b) { return Json(200, b); });
    });
    // Create and conditional create.
    fhir.Add("POST", "/fhir/{type}", [&service, o](Request& req, const Caller& caller) {
        const std::string type = req.Param("type");
        if (auto s = CheckType(type); !s.ok()) return http::ErrorResponse(s.error());
        auto body = ParseBody(req, o);
        if (!body.ok()) return http::ErrorResponse(body.error());
        auto w = service.Create(type, std::move(body).value(), req.Header("if-none-exist"), caller);
        if (!w.ok()) return http::ErrorResponse(w.error());
        return WriteResponse(req, *w, BaseUrl(req, o));
    });
    // Conditional update: PUT /fhir/{type}?criteria.
    fhir.Add("PUT", "/fhir/{type}", [&service, o](Request& req, const Caller& caller) {
        const std::string type = req.Param("type");
        if (auto s = CheckType(type); !s.ok()) return http::ErrorResponse(s.error());
        if (req.query.empty()) {
            return http::ErrorResponse(Error::Invalid("PUT needs an id or search criteria"));
        }
        auto body = ParseBody(req, o);
        if (!body.ok()) return http::ErrorResponse(body.error());
        auto w = service.ConditionalUpdate(type, req.query, std::move(body).value(), caller);
        if (!w.ok()) return http::ErrorResponse(w.error());
        return WriteResponse(req, *w, BaseUrl(req, o));
    });
    fhir.Add(
        "GET", "/fhir/{type}/{id}",
        [&service](Request& req, const Caller& caller) {
            const std::string type = req.Param("type");
            if (auto s = CheckType(type); !s.ok()) return http::ErrorResponse(s.error());
            return Or<store::ResourceVersion>(service.Read(type, req.Param("id"), caller),
                                              ReadResponse);
        },
        read_route);
    fhir.Add("PUT", "/fhir/{type}/{id}", [&service, o](Request& req, const Caller& caller) {
        const std::string type = req.Param("type");
        if (auto s = CheckType(type); !s.ok()) return http::ErrorResponse(s.error());
        auto body = ParseBody(req, o);
        if (!body.ok()) return http::ErrorResponse(body.error());
        auto w = service.Update(type, req.Param("id"), std::move(body).value(),
                                req.Header("if-match"), caller);
        if (!w.ok()) return http::ErrorResponse(w.error());
        return WriteResponse(req, *w, BaseUrl(req, o));
    });
    fhir.Add("DELETE", "/fhir/{type}/{id}", [&service](Request& req, const Caller& caller) {
        const std::string type = req.Param("type");
        if (auto s = CheckType(type); !s.ok()) return http::ErrorResponse(s.error());
        auto d = service.Delete(type, req.Param("id"), caller);
        if (!d.ok()) return http::ErrorResponse(d.error());
        Response r;
        r.status = 204;
        r.content_type.clear();
        if (d->changed) r.With("ETag", ETagFor(d->resource.version));
        return r;
    });
    fhir.Add(
        "GET", "/fhir/{type}/{id}/_history/{vid}",
        [&service](Request& req, const Caller& caller) {
            const std::string type = req.Param("type");
            if (auto s = CheckType(type); !s.ok()) return http::ErrorResponse(s.error());
            return Or<store::ResourceVersion>(
                service.VRead(type, req.Param("id"), req.Param("vid"), caller), ReadResponse);
        },
        read_route);
    fhir.Add(
        "GET", "/fhir/{type}/{id}/_history",
        [&service, o](Request& req, const Caller& caller) {
            const std::string type = req.Param("type");
            if (auto s = CheckType(type); !s.ok()) return http::ErrorResponse(s.error());
            return Or<std::string>(
                service.History(type, req.Param("id"), req.query, BaseUrl(req, o), caller),
                [](const std::string& b) { return Json(200, b); });
        },
        read_route);
    fhir.Add(
        "GET", "/fhir/{type}/_history",
        [&service, o](Request& req, const Caller& caller) {
            const std::string type = req.Param("type");
            if (auto s = CheckType(type); !s.ok()) return http::ErrorResponse(s.error());
            return Or<std::string>(service.History(type, "", req.query, BaseUrl(req, o), caller),
                                   [](const std::string& b) { return Json(200, b); });
        },
        read_route);
    fhir.Add(
        "GET", "/fhir/_history",
        [&service, o](Request& req, const Caller& caller) {
            return Or<std::string>(service.History("", "", req.query, BaseUrl(req, o), caller),
                                   [](const std::string& b) { return Json(200, b); });
        },
        read_route);
    http::RouteOptions bundle_limits;
    bundle_limits.max_body_bytes = o.max_bundle_bytes;
    fhir.Add(
        "POST", "/fhir",
        [&service, o](Request& req, const Caller& caller) {
            auto body = ParseBody(req, o);
            if (!body.ok()) return http::ErrorResponse(body.error());
            const auto* rt = body->if_contains("resourceType");
            if (!rt || !rt->is_string() || rt->as_string() != "Bundle") {
                return http::ErrorResponse(
                    Error::Invalid("POST /fhir takes a Bundle", "resourceType"));
            }
            return Or<std::string>(service.ProcessBundle(std::move(body).value(), BaseUrl(req, o),
                                                         {}, nullptr, caller),
                                   [](const std::string& b) { return Json(200, b); });
        },
        bundle_limits);
}

}  // namespace carnet::api
