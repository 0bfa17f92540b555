#include "http/ops_routes.hpp"

#include "core/log.hpp"
#include "http/metrics.hpp"
#include "http/router.hpp"
#include "http/types.hpp"

namespace carnet::http {

void RegisterOpsRoutes(Router& router, std::function<Status()> ready_check) {
    // Health and metrics never block: answered on the I/O thread. /readyz asks the store, so
    // it runs on a worker like every store-bound route.
    RouteOptions inline_route;
    inline_route.run_inline = true;
    router.Add(
        "GET", "/healthz",
        [](Request&) {
            Response response;
            response.content_type = "application/json";
            response.body = R"({"status":"ok"})";
            return response;
        },
        inline_route);
    router.Add("GET", "/readyz", [check = std::move(ready_check)](Request& request) {
        if (check) {
            Status status = check();
            if (!status.ok()) {
                // The reason may name internals (database paths, hosts): log it, do not send.
                spdlog::warn("request {}: not ready: {} {}", request.request_id,
                             status.error().Summary(), status.error().detail);
                return ErrorResponse(Code::kUnavailable, "transient", "not ready");
            }
        }
        Response response;
        response.content_type = "application/json";
        response.body = R"({"status":"ready"})";
        return response;
    });
    router.Add(
        "GET", "/metrics",
        [](Request&) {
            Response response;
            response.content_type = "text/plain; version=0.0.4; charset=utf-8";
            response.body = Metrics::Global().RenderPrometheus();
            return response;
        },
        inline_route);
}

}  // namespace carnet::http
