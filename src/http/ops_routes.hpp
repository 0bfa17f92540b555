#pragma once
/// Operational endpoints: liveness, readiness and metrics.
#include <functional>

#include "core/result.hpp"

namespace carnet::http {

class Router;

/// Adds GET /healthz (200 {"status":"ok"} while the process serves), GET /readyz (200 when
/// `ready_check` returns Ok, else 503 OperationOutcome; the check's diagnostics are not sent,
/// only logged) and GET /metrics (Prometheus text format, Metrics::Global()).
/// `ready_check` may be empty (always ready); it runs on an io thread, so keep it quick.
void RegisterOpsRoutes(Router& router, std::function<Status()> ready_check);

}  // namespace carnet::http
