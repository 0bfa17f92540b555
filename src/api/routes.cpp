#include "api/routes.hpp"

#include "api/audit_fhir.hpp"
#include "api/documents_view.hpp"
#include "api/json_routes.hpp"
#include "api/message_routes.hpp"
#include "api/profile_view.hpp"

#include <boost/json.hpp>

#include "core/clock.hpp"
#include "crypto/crypto.hpp"
#include "documents/content.hpp"
#include "fhir/definitions.hpp"
#include "fhir/json.hpp"
#include "http/spool.hpp"

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

namespace {

bool WantsJson(const Request& req) {
    for (const auto& [k, v] : req.query) {
        if (k == "_format") return v.find("json") != std::string::npos;
    }
    const std::string accept = req.Header("accept").value_or("");
    return accept.find("application/fhir+json") != std::string::npos ||
           accept.find("application/json") != std::string::npos;
}

/// The whole spooled body as a string (a JSON Binary: bounded by the route's limit).
Result<std::string> SpooledText(Request& req) {
    std::string text;
    if (!req.upload) return text;
    CARNET_CHECK(req.upload->Rewind());
    for (;;) {
        CARNET_TRY(auto piece, req.upload->Next());
        if (!piece) return text;
        text += *piece;
    }
}

Response BinaryUpload(FhirService& service, Request& req, const Caller& caller,
                      const ApiOptions& o) {
    const std::string ct = req.Header("content-type").value_or("");
    if (ct.find("json") != std::string::npos) {
        auto text = SpooledText(req);
        if (!text.ok()) return http::ErrorResponse(text.error());
        req.body = std::move(text).value();
        auto body = ParseBody(req, o);
        if (!body.ok()) return http::ErrorResponse(body.error());
        auto w =
            service.Create("Binary", std::move(body).value(), req.Header("if-none-exist"), caller);
        if (!w.ok()) return http::ErrorResponse(w.error());
        return WriteResponse(req, *w, BaseUrl(req, o));
    }
    const std::string context = req.Header("x-security-context").value_or("");
    if (context.empty()) {
        return http::ErrorResponse(Error::Invalid(
            "raw content needs X-Security-Context: the record it belongs to (Patient/{id})"));
    }
    if (!req.upload) return http::ErrorResponse(Error::Internal("the upload was not spooled"));
    if (auto s = req.upload->Rewind(); !s.ok()) return http::ErrorResponse(s.error());
    http::Spool* spool = req.upload.get();
    const store::ChunkSource raw = [spool] { return spool->Next(); };
    auto w = service.CreateBinary(ct, context, raw, caller);
    if (!w.ok()) return http::ErrorResponse(w.error());
    return WriteResponse(req, *w, BaseUrl(req, o));
}

Response BinaryDownload(FhirService& service, Request& req, const Caller& caller) {
    const std::string id = req.Param("id");
    if (WantsJson(req)) {
        if (auto s = CheckFormat(req); !s.ok()) return http::ErrorResponse(s.error());
        auto rv = service.Read("Binary", id, caller);
        if (!rv.ok()) return http::ErrorResponse(rv.error());
        return ReadResponse(*rv);
    }
    auto binary = service.ReadBinary(id, caller);
    if (!binary.ok()) return http::ErrorResponse(binary.error());
    Response r;
    r.status = 200;
    std::string type = "application/octet-stream";
    std::shared_ptr<store::BlobSource> source = std::move(binary->content);
    if (source) {
        type = source->Meta().content_type;
        r.stream = std::make_shared<http::BodyStream>();
        r.stream->length = static_cast<uint64_t>(source->Meta().size);
        r.stream->next = [source] { return source->Next(); };
    } else {
        // A Binary kept inline (outside any record): its data, decoded.
        auto parsed = fhir::ParseJson(binary->resource.json);
        if (!parsed.ok()) return http::ErrorResponse(parsed.error());
        const auto& obj = parsed->as_object();
        if (const auto* t = obj.if_contains("contentType"); t && t->is_string()) {
            type = std::string(t->as_string());
        }
        if (const auto* d = obj.if_contains("data"); d && d->is_string()) {
            auto bytes = crypto::Base64Decode(d->as_string());
            if (!bytes.ok()) return http::ErrorResponse(bytes.error());
            r.body = std::move(bytes).value();
        }
        // Only the types Carnet would accept are served as themselves.
        if (!documents::CanonicalType(type)) type = "application/octet-stream";
    }
    r.content_type = type;
    // Never rendered in the portal's origin: a download, no sniffing (set by the server for
    // every response), and if a browser opens it anyway, a sandbox without script or any
    // fetch.
    r.With("Content-Disposition", "attachment; filename=\"document-" + id.substr(0, 8) + "." +
                                      documents::ExtensionFor(type) + "\"");
    r.With("Content-Security-Policy", "sandbox; default-src 'none'");
    r.With("ETag", ETagFor(binary->resource.version));
    return r;
}

}  // namespace

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

    // Documents' content. POST /fhir/Binary takes a Binary resource (JSON, `data` in base64)
    // or the raw bytes (any other Content-Type, the record in X-Security-Context), spooled to
    // disk sealed as they arrive; GET /fhir/Binary/{id} answers the raw bytes, streamed,
    // unless JSON is asked for (Accept or _format).
    {
        const ContentPolicy& policy = service.content_policy();
        const int64_t largest =
            std::max(policy.limits.patient_bytes, policy.limits.professional_bytes);
        http::RouteOptions upload;
        upload.spool_body = true;
        // JSON carries the bytes in base64 (4/3), plus the resource around them; the service
        // applies each caller's own limit to the decoded content.
        upload.max_body_bytes = static_cast<uint64_t>(largest) * 4 / 3 + 1024 * 1024;
        upload.read_timeout_seconds = 600;
        fhir.Add(
            "POST", "/fhir/Binary",
            [&service, o](Request& req, const Caller& caller) {
                return BinaryUpload(service, req, caller, o);
            },
            upload);
        fhir.Add(
            "GET", "/fhir/Binary/{id}",
            [&service](Request& req, const Caller& caller) {
                return BinaryDownload(service, req, caller);
            },
            read_route);
    }

    // The medical profile (docs/PROFILE.md): the International Patient Summary, and the
    // portal's view of the same entries (authors, sections, BMI, vaccination booklet).
    fhir.Add(
        "GET", "/fhir/Patient/{id}/$summary",
        [&service, o](Request& req, const Caller& caller) {
            if (auto s = CheckFormat(req); !s.ok()) return http::ErrorResponse(s.error());
            return Or<std::string>(
                PatientSummary(service, req.Param("id"), caller, BaseUrl(req, o)),
                [](const std::string& b) { return Json(200, b); });
        },
        read_route);
    fhir.Add(
        "GET", "/records/{patient}/profile",
        [&service](Request& req, const Caller& caller) {
            auto view = ProfileView(service, req.Param("patient"), caller);
            if (!view.ok()) return http::ErrorResponse(view.error());
            return JsonResponse(200, *view);
        },
        read_route);

    // Messages as Communication (docs/MESSAGING.md): a view of the messaging service, read
    // only; messages are written through /messages, where threads and receipts live.
    if (o.messages != nullptr) {
        service.SetViewTypes({"Communication"});
        messaging::MessageService* messages = o.messages;
        fhir.Add(
            "GET", "/fhir/Communication",
            [messages, o](Request& req, const Caller& caller) {
                if (auto s = CheckFormat(req); !s.ok()) return http::ErrorResponse(s.error());
                return Or<std::string>(
                    SearchCommunications(*messages, req.query, BaseUrl(req, o), caller),
                    [](const std::string& b) { return Json(200, b); });
            },
            read_route);
        fhir.Add(
            "GET", "/fhir/Communication/{id}",
            [messages](Request& req, const Caller& caller) {
                if (auto s = CheckFormat(req); !s.ok()) return http::ErrorResponse(s.error());
                return Or<std::string>(ReadCommunication(*messages, req.Param("id"), caller),
                                       [](const std::string& b) { return Json(200, b); });
            },
            read_route);
        auto read_only = [](Request&, const Caller&) {
            return http::ErrorResponse(Code::kMethodNotAllowed, "not-supported",
                                       "Communication is a read-only view here: messages are "
                                       "sent through /messages (docs/MESSAGING.md)");
        };
        fhir.Add("POST", "/fhir/Communication", read_only);
        fhir.Add("PUT", "/fhir/Communication/{id}", read_only);
        fhir.Add("DELETE", "/fhir/Communication/{id}", read_only);
    }

    // A record's documents as the caller may see them, and the author's retraction
    // (docs/DOCUMENTS.md, "Versions, retraction, the lists").
    fhir.Add(
        "GET", "/records/{patient}/documents",
        [&service](Request& req, const Caller& caller) {
            auto view = DocumentsView(service, req.Param("patient"), caller);
            if (!view.ok()) return http::ErrorResponse(view.error());
            return JsonResponse(200, *view);
        },
        read_route);
    fhir.Add("POST", "/records/{patient}/documents/{id}/retract",
             [&service](Request& req, const Caller& caller) {
                 auto w = service.Retract(req.Param("patient"), req.Param("id"), caller);
                 if (!w.ok()) return http::ErrorResponse(w.error());
                 return JsonResponse(200, json::object{{"id", w->resource.id},
                                                       {"version", w->resource.version},
                                                       {"changed", w->changed}});
             });

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
