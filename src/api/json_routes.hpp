#pragma once
/// Small answers shared by the JSON (non-FHIR) routes: /auth, /directory, /admin, /access.
#include <boost/json.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "http/types.hpp"

namespace carnet::api {

/// `v` as JSON with `Cache-Control: no-store`.
http::Response JsonResponse(int status, const boost::json::value& v);
/// 204, no body, `no-store`.
http::Response NoContent();
/// 204 when `s` is ok, else its OperationOutcome.
http::Response StatusResponse(const Status& s);
/// The request's body as a JSON object (Content-Type application/json, depth ≤ 8).
Result<boost::json::object> JsonBody(const http::Request& req);
/// The last value of a query parameter ("" when absent).
std::string QueryValue(const http::Request& req, std::string_view name);
/// `v`, or JSON null.
boost::json::value MaybeInt(const std::optional<int64_t>& v);

/// A JSON array of `to_json(item)`, or the error.
template <typename T, typename F>
http::Response JsonList(const Result<std::vector<T>>& r, F to_json) {
    if (!r.ok()) return http::ErrorResponse(r.error());
    boost::json::array out;
    for (const auto& item : *r) out.push_back(to_json(item));
    return JsonResponse(200, out);
}

}  // namespace carnet::api
