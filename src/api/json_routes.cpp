#include "api/json_routes.hpp"

#include "fhir/json.hpp"
#include "http/router.hpp"

namespace carnet::api {

namespace json = boost::json;

http::Response JsonResponse(int status, const json::value& v) {
    http::Response r;
    r.status = status;
    r.content_type = "application/json";
    r.body = json::serialize(v);
    r.With("Cache-Control", "no-store");
    return r;
}

http::Response NoContent() {
    http::Response r;
    r.status = 204;
    r.content_type.clear();
    r.With("Cache-Control", "no-store");
    return r;
}

http::Response StatusResponse(const Status& s) {
    if (!s.ok()) return http::ErrorResponse(s.error());
    return NoContent();
}

Result<json::object> JsonBody(const http::Request& req) {
    auto ct = req.Header("content-type").value_or("");
    if (ct.find("application/json") == std::string::npos) {
        return Error::Make(Code::kUnsupportedMedia, "not-supported",
                           "Content-Type must be application/json");
    }
    CARNET_TRY(json::value v, fhir::ParseJson(req.body, 8));
    if (!v.is_object()) return Error::Invalid("le corps doit être un objet JSON");
    return std::move(v.as_object());
}

std::string QueryValue(const http::Request& req, std::string_view name) {
    std::string value;
    for (const auto& [k, v] : req.query)
        if (k == name) value = v;
    return value;
}

json::value MaybeInt(const std::optional<int64_t>& v) {
    if (v) return json::value(*v);
    return json::value(nullptr);
}

}  // namespace carnet::api
