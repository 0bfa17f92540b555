#include "api/audit_fhir.hpp"

#include <boost/json.hpp>
#include <charconv>

#include "access/classify.hpp"
#include "core/clock.hpp"
#include "core/ids.hpp"

namespace carnet::api {

namespace json = boost::json;

namespace {

const char* RestfulInteraction(const std::string& action, const std::string& resource_id) {
    if (action == "read") return resource_id.empty() ? "search-type" : "read";
    if (action == "create") return "create";
    if (action == "update") return "update";
    if (action == "delete") return "delete";
    return "operation";
}

const char* ActionCode(const std::string& action) {
    if (action == "create") return "C";
    if (action == "update" || action == "manage" || action == "release-document") return "U";
    if (action == "delete") return "D";
    if (action == "read" || action == "read-audit" || action == "export") return "R";
    return "E";
}

bool ParseInt(const std::string& v, int64_t& out) {
    auto r = std::from_chars(v.data(), v.data() + v.size(), out);
    return r.ec == std::errc() && r.ptr == v.data() + v.size();
}

}  // namespace

std::string AuditEventJson(const audit::StoredEntry& s) {
    const audit::Entry& e = s.entry;
    json::array entities;
    entities.push_back(json::object{
        {"what", json::object{{"reference", "Patient/" + e.patient_id}}},
        {"type", json::object{{"system", "http://terminology.hl7.org/CodeSystem/audit-entity-type"},
                              {"code", "1"},
                              {"display", "Person"}}},
        {"role", json::object{{"system", "http://terminology.hl7.org/CodeSystem/object-role"},
                              {"code", "1"},
                              {"display", "Patient"}}}});
    if (!e.resource_type.empty()) {
        json::object what;
        if (!e.resource_id.empty()) {
            what["reference"] = e.resource_type + "/" + e.resource_id;
        } else {
            what["display"] = e.resource_type + " (" + std::to_string(e.count) + ")";
        }
        json::object entity{
            {"what", std::move(what)},
            {"type",
             json::object{{"system", "http://terminology.hl7.org/CodeSystem/audit-entity-type"},
                          {"code", "2"},
                          {"display", "System Object"}}}};
        if (!e.category.empty()) {
            entity["securityLabel"] = json::array{
                json::object{{"system", "urn:oid:1.2.250.1.213.1.1.4.1"}, {"code", e.category}}};
        }
        entities.push_back(std::move(entity));
    }
    json::object who{
        {"identifier", json::object{{"system", "urn:carnet:account"}, {"value", e.actor_account}}}};
    json::object agent{
        {"type",
         json::object{{"coding",
                       json::array{json::object{
                           {"system", "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"},
                           {"code", "IRCP"},
                           {"display", "information recipient"}}}}}},
        {"who", std::move(who)},
        {"requestor", true},
        {"policy", json::array{json::string("urn:carnet:basis:" + e.basis)}},
        {"purposeOfUse",
         json::array{json::object{
             {"coding", json::array{json::object{
                            {"system", "http://terminology.hl7.org/CodeSystem/v3-ActReason"},
                            {"code", e.purpose}}}}}}}};
    if (!e.actor_profession.empty()) {
        agent["role"] = json::array{
            json::object{{"coding", json::array{json::object{{"system", "urn:carnet:profession"},
                                                             {"code", e.actor_profession}}}}}};
    }
    json::object ev{
        {"resourceType", "AuditEvent"},
        {"id", e.patient_id + "-" + std::to_string(s.seq)},
        {"type", json::object{{"system", "http://terminology.hl7.org/CodeSystem/audit-event-type"},
                              {"code", "rest"},
                              {"display", "RESTful Operation"}}},
        {"subtype",
         json::array{json::object{{"system", "http://hl7.org/fhir/restful-interaction"},
                                  {"code", RestfulInteraction(e.action, e.resource_id)}}}},
        {"action", ActionCode(e.action)},
        {"recorded", FormatInstant(e.at_us)},
        {"outcome", e.outcome == "allow" ? "0" : "4"},
        {"outcomeDesc", e.outcome == "allow" ? "allowed" : "refused: " + e.reason},
        {"purposeOfEvent",
         json::array{json::object{
             {"coding", json::array{json::object{
                            {"system", "http://terminology.hl7.org/CodeSystem/v3-ActReason"},
                            {"code", e.purpose}}}}}}},
        {"agent", json::array{std::move(agent)}},
        {"source",
         json::object{
             {"observer", json::object{{"display", "Carnet"}}},
             {"type", json::array{json::object{
                          {"system", "http://terminology.hl7.org/CodeSystem/security-source-type"},
                          {"code", "4"}}}}}},
        {"entity", std::move(entities)}};
    if (e.emergency) {
        ev["meta"] = json::object{
            {"security", json::array{json::object{
                             {"system", "http://terminology.hl7.org/CodeSystem/v3-ActReason"},
                             {"code", e.purpose}}}}};
    }
    return json::serialize(ev);
}

Result<std::string> SearchAuditEvents(FhirService& service, const QueryParams& params,
                                      const std::string& base_url, const Caller& caller) {
    audit::Filter filter;
    filter.limit = 50;
    for (const auto& [k, v] : params) {
        if (k == "patient" || k == "entity") {
            std::string id = v;
            if (id.rfind("Patient/", 0) == 0) id = id.substr(8);
            if (!IsValidFhirId(id)) return Error::Invalid("patient must be a Patient id", k);
            filter.patient_id = id;
        } else if (k == "_count") {
            int64_t n = 0;
            if (!ParseInt(v, n) || n < 1 || n > 1000)
                return Error::Invalid("_count must be between 1 and 1000", "_count");
            filter.limit = static_cast<int>(n);
        } else if (k == "before") {
            int64_t n = 0;
            if (!ParseInt(v, n) || n < 1) return Error::Invalid("before must be a sequence", k);
            filter.before_seq = n;
        } else if (k == "outcome") {
            if (v != "0" && v != "4") return Error::Invalid("outcome is 0 or 4", k);
            filter.outcome = v == "0" ? "allow" : "deny";
        } else if (k != "_format" && k != "_pretty") {
            return Error::Make(Code::kInvalid, "not-supported",
                               "unsupported AuditEvent parameter '" + k.substr(0, 40) + "'");
        }
    }
    const bool professional = caller.actor.kind == access::ActorKind::kProfessional;
    if (filter.patient_id.empty() && !professional) {
        return Error::Invalid("patient is required", "patient");
    }
    if (professional) filter.actor_account = caller.actor.account_id;
    std::vector<audit::StoredEntry> entries;
    CARNET_CHECK(service.WithScope(caller, [&](store::WriteTxn& txn, Scope* scope) -> Status {
        if (scope != nullptr && !filter.patient_id.empty()) {
            access::Target t;
            t.resource_type = "AuditEvent";
            t.patient_id = filter.patient_id;
            t.category = access::Category::kRecord;
            CARNET_TRY(auto d, scope->CheckTarget(txn, t, access::Action::kReadAudit, ""));
            if (!d.allow) return Ok();  // a refused search finds nothing
        } else if (scope != nullptr && access::NeverContent(caller.actor)) {
            return Ok();
        }
        CARNET_TRY(entries, audit::List(txn, filter));
        return Ok();
    }));
    std::string out = "{\"resourceType\":\"Bundle\",\"id\":\"" + NewUuid() +
                      "\",\"type\":\"searchset\",\"link\":[{\"relation\":\"self\",\"url\":" +
                      json::serialize(json::string(base_url + "/AuditEvent")) + "}";
    if (static_cast<int>(entries.size()) == filter.limit && !filter.patient_id.empty() &&
        !entries.empty()) {
        std::string next = base_url + "/AuditEvent?patient=" + filter.patient_id +
                           "&_count=" + std::to_string(filter.limit) +
                           "&before=" + std::to_string(entries.back().seq);
        out += ",{\"relation\":\"next\",\"url\":" + json::serialize(json::string(next)) + "}";
    }
    out += "],\"entry\":[";
    bool first = true;
    for (const auto& e : entries) {
        if (!first) out += ',';
        first = false;
        out += "{\"fullUrl\":" +
               json::serialize(json::string(base_url + "/AuditEvent/" + e.entry.patient_id + "-" +
                                            std::to_string(e.seq))) +
               ",\"resource\":" + AuditEventJson(e) + ",\"search\":{\"mode\":\"match\"}}";
    }
    out += "]}";
    return out;
}

}  // namespace carnet::api
