#include "api/message_routes.hpp"

#include <boost/json.hpp>
#include <functional>

#include "api/actor.hpp"
#include "api/json_routes.hpp"
#include "core/clock.hpp"
#include "core/ids.hpp"

namespace carnet::api {

namespace json = boost::json;
using http::Request;
using http::Response;
using messaging::Message;
using messaging::Thread;

namespace {

json::object PersonJson(const messaging::Person& p) {
    json::object o{{"account_id", p.account_id}, {"name", p.name}, {"kind", p.kind}};
    if (p.kind == "professional") {
        o["profession"] = p.profession;
        o["profession_label"] = p.profession_label;
    }
    return o;
}

json::object AttachmentJson(const messaging::Attachment& a) {
    if (!a.available) return {{"available", false}};
    const auto& d = a.doc;
    return {{"available", true},
            {"id", d.id},
            {"title", d.title},
            {"category", d.category},
            {"date", d.date},
            {"author_name", d.author_name},
            {"binary_id", d.binary_id},
            {"content_type", d.content_type},
            {"size", d.size}};
}

json::object MessageJson(const Message& m) {
    json::array atts;
    for (const auto& a : m.attachments) atts.push_back(AttachmentJson(a));
    return {{"id", m.id},
            {"seq", m.seq},
            {"sender", PersonJson(m.sender)},
            {"own", m.own},
            {"text", m.text},
            {"created_at", m.created_at},
            {"read_at", MaybeInt(m.read_at)},
            {"attachments", std::move(atts)}};
}

json::object ThreadJson(const Thread& t, bool with_messages) {
    json::object o{{"id", t.id},
                   {"patient_id", t.patient_id},
                   {"patient_name", t.patient_name},
                   {"professional", PersonJson(t.professional)},
                   {"subject", t.subject},
                   {"created_at", t.created_at},
                   {"last_at", t.last_at},
                   {"last_sender", t.last_sender},
                   {"messages", t.messages},
                   {"unread", t.unread},
                   {"archived", t.archived}};
    if (with_messages) {
        json::array items;
        for (const auto& m : t.items) items.push_back(MessageJson(m));
        o["messages"] = std::move(items);
    }
    return o;
}

/// The message part of a body: `text` and `attachments` (ids), nothing else but `allowed`.
Result<messaging::NewMessage> MessageOf(const json::object& b,
                                        std::initializer_list<std::string_view> allowed) {
    messaging::NewMessage m;
    for (const auto& [key, value] : b) {
        if (key == "text") {
            if (!value.is_string()) return Error::Invalid("text : texte attendu", "text");
            m.text = std::string(value.as_string());
        } else if (key == "attachments") {
            if (value.is_null()) continue;
            if (!value.is_array()) {
                return Error::Invalid("attachments : liste d'identifiants attendue", "attachments");
            }
            for (const auto& id : value.as_array()) {
                if (!id.is_string()) {
                    return Error::Invalid("attachments : liste d'identifiants attendue",
                                          "attachments");
                }
                std::string s(id.as_string());
                if (s.rfind("DocumentReference/", 0) == 0) s = s.substr(18);
                m.attachments.push_back(std::move(s));
            }
        } else {
            bool ok = false;
            for (auto a : allowed) ok = ok || key == a;
            if (!ok) {
                const std::string k = std::string(key).substr(0, 40);
                return Error::Invalid("champ inconnu : " + k, k);
            }
        }
    }
    if (!b.contains("text")) return Error::Invalid("text : requis", "text");
    return m;
}

// ---- the FHIR view ---------------------------------------------------------------------------

json::object Reference(const messaging::Person& p, const std::string& patient_id) {
    json::object r{{"display", p.name.empty() ? std::string("Patient") : p.name}};
    if (p.kind == "patient") {
        // The holder side writes for the record; the person is named, not their account.
        r["reference"] = "Patient/" + patient_id;
    } else {
        r["identifier"] = json::object{{"system", "urn:carnet:account"}, {"value", p.account_id}};
    }
    return r;
}

json::object CommunicationJson(const Thread& t, const Message& m) {
    json::object c{{"resourceType", "Communication"},
                   {"id", m.id},
                   {"meta", json::object{{"lastUpdated", FormatInstant(m.created_at)}}},
                   {"identifier", json::array{json::object{{"system", "urn:carnet:message-thread"},
                                                           {"value", t.id}}}},
                   {"status", "completed"},
                   {"subject", json::object{{"reference", "Patient/" + t.patient_id}}},
                   {"topic", json::object{{"text", t.subject}}},
                   {"sent", FormatInstant(m.created_at)},
                   {"sender", Reference(m.sender, t.patient_id)}};
    const messaging::Person patient_side{"", t.patient_name, "patient", "", ""};
    c["recipient"] =
        json::array{m.sender.kind == "professional" ? Reference(patient_side, t.patient_id)
                                                    : Reference(t.professional, t.patient_id)};
    if (m.read_at) c["received"] = FormatInstant(*m.read_at);
    if (!m.previous_id.empty()) {
        c["inResponseTo"] =
            json::array{json::object{{"reference", "Communication/" + m.previous_id}}};
    }
    json::array payload{json::object{{"contentString", m.text}}};
    for (const auto& a : m.attachments) {
        if (!a.available) continue;
        json::object ref{{"reference", "DocumentReference/" + a.doc.id}};
        if (!a.doc.title.empty()) ref["display"] = a.doc.title;
        payload.push_back(json::object{{"contentReference", std::move(ref)}});
    }
    c["payload"] = std::move(payload);
    return c;
}

}  // namespace

Result<std::string> SearchCommunications(messaging::MessageService& service,
                                         const QueryParams& params, const std::string& base_url,
                                         const Caller& caller) {
    std::string patient;
    for (const auto& [k, v] : params) {
        if (k == "patient" || k == "subject") {
            std::string id = v;
            if (id.rfind("Patient/", 0) == 0) id = id.substr(8);
            if (!IsValidFhirId(id)) return Error::Invalid(k + " must be a Patient id", k);
            patient = id;
        } else if (k != "_format" && k != "_pretty") {
            return Error::Make(Code::kInvalid, "not-supported",
                               "unsupported Communication parameter '" + k.substr(0, 40) + "'");
        }
    }
    if (patient.empty()) return Error::Invalid("patient is required", "patient");
    auto threads = service.Communications(caller.actor, caller.request_id, patient, "");
    // A refused search finds nothing, as every FHIR search.
    std::vector<Thread> list;
    if (threads.ok()) {
        list = std::move(*threads);
    } else if (threads.error().code != Code::kNotFound) {
        return threads.error();
    }
    json::array entries;
    for (const auto& t : list) {
        for (const auto& m : t.items) {
            entries.push_back(json::object{{"fullUrl", base_url + "/Communication/" + m.id},
                                           {"resource", CommunicationJson(t, m)},
                                           {"search", json::object{{"mode", "match"}}}});
        }
    }
    const auto total = static_cast<int64_t>(entries.size());
    json::object bundle{{"resourceType", "Bundle"},
                        {"id", NewUuid()},
                        {"type", "searchset"},
                        {"total", total},
                        {"link", json::array{json::object{
                                     {"relation", "self"},
                                     {"url", base_url + "/Communication?patient=" + patient}}}},
                        {"entry", std::move(entries)}};
    return json::serialize(bundle);
}

Result<std::string> ReadCommunication(messaging::MessageService& service, const std::string& id,
                                      const Caller& caller) {
    CARNET_TRY(auto threads, service.Communications(caller.actor, caller.request_id, "", id));
    if (threads.empty() || threads[0].items.empty()) {
        return Error::NotFound("resource not found");
    }
    return json::serialize(CommunicationJson(threads[0], threads[0].items[0]));
}

void RegisterMessageRoutes(http::Router& router, const Authenticator& authenticator,
                           messaging::MessageService& service) {
    const Authenticator* a = &authenticator;
    messaging::MessageService* svc = &service;
    http::RouteOptions body_route;
    body_route.max_body_bytes = kMaxMessageBody;

    using Handler = std::function<Response(Request&, const access::Actor&)>;
    // Signed in and never an operator: messages are health content (IdentifyContent).
    auto with = [a](Handler fn) {
        return [a, fn = std::move(fn)](Request& req) {
            auto caller = IdentifyContent(*a, req);
            if (!caller.ok()) return http::ErrorResponse(caller.error());
            return fn(req, caller->actor);
        };
    };
    using BodyHandler =
        std::function<Response(Request&, const access::Actor&, const json::object&)>;
    auto with_body = [with](BodyHandler fn) {
        return with([fn = std::move(fn)](Request& req, const access::Actor& actor) {
            auto body = JsonBody(req);
            if (!body.ok()) return http::ErrorResponse(body.error());
            return fn(req, actor, *body);
        });
    };

    router.Add("GET", "/messages/threads", with([svc](Request& req, const access::Actor& actor) {
                   messaging::ThreadQuery q;
                   q.patient = QueryValue(req, "patient");
                   const std::string archived = QueryValue(req, "archived");
                   if (!archived.empty() && archived != "0" && archived != "1") {
                       return http::ErrorResponse(Error::Invalid("archived : 0 ou 1", "archived"));
                   }
                   q.archived = archived == "1";
                   return JsonList(svc->ListThreads(actor, req.request_id, q),
                                   [](const Thread& t) { return ThreadJson(t, false); });
               }));
    router.Add("GET", "/messages/unread", with([svc](Request& req, const access::Actor& actor) {
                   auto n = svc->Unread(actor, QueryValue(req, "patient"));
                   if (!n.ok()) return http::ErrorResponse(n.error());
                   return JsonResponse(200, json::object{{"unread", *n}});
               }));
    router.Add("POST", "/messages/threads",
               with_body([svc](Request& req, const access::Actor& actor, const json::object& b) {
                   auto m = MessageOf(b, {"patient", "subject"});
                   if (!m.ok()) return http::ErrorResponse(m.error());
                   const json::value* patient = b.if_contains("patient");
                   const json::value* subject = b.if_contains("subject");
                   if (!patient || !patient->is_string()) {
                       return http::ErrorResponse(Error::Invalid("patient : requis", "patient"));
                   }
                   if (!subject || !subject->is_string()) {
                       return http::ErrorResponse(Error::Invalid("subject : requis", "subject"));
                   }
                   auto t =
                       svc->StartThread(actor, req.request_id, std::string(patient->as_string()),
                                        std::string(subject->as_string()), *m);
                   if (!t.ok()) return http::ErrorResponse(t.error());
                   return JsonResponse(201, ThreadJson(*t, true));
               }),
               body_route);
    router.Add("GET", "/messages/threads/{id}",
               with([svc](Request& req, const access::Actor& actor) {
                   auto t = svc->OpenThread(actor, req.request_id, req.Param("id"));
                   if (!t.ok()) return http::ErrorResponse(t.error());
                   return JsonResponse(200, ThreadJson(*t, true));
               }));
    router.Add("POST", "/messages/threads/{id}/messages",
               with_body([svc](Request& req, const access::Actor& actor, const json::object& b) {
                   auto m = MessageOf(b, {});
                   if (!m.ok()) return http::ErrorResponse(m.error());
                   auto sent = svc->Reply(actor, req.request_id, req.Param("id"), *m);
                   if (!sent.ok()) return http::ErrorResponse(sent.error());
                   return JsonResponse(201, MessageJson(*sent));
               }),
               body_route);
    router.Add("PUT", "/messages/threads/{id}/archive",
               with_body([svc](Request& req, const access::Actor& actor, const json::object& b) {
                   const json::value* archived = b.if_contains("archived");
                   if (!archived || !archived->is_bool() || b.size() != 1) {
                       return http::ErrorResponse(Error::Invalid(
                           "corps attendu : {\"archived\": true|false}", "archived"));
                   }
                   return StatusResponse(
                       svc->Archive(actor, req.request_id, req.Param("id"), archived->as_bool()));
               }),
               body_route);
}

}  // namespace carnet::api
