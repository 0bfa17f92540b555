#pragma once
/// The access endpoints (/access; docs/ACCESS-API.md): the holder's controls, access codes,
/// emergency access, the access log and the authorization grid. Every route is signed in
/// through the Authenticator (401 without credentials, the CSRF check on cookie writes);
/// operators (advisors, admins) reach only the grid routes. The request id (X-Request-Id,
/// else the server's) goes into the access-log entries.
#include "access/service.hpp"
#include "api/auth_routes.hpp"
#include "http/router.hpp"

namespace carnet::api {

struct AccessRouteOptions {
    /// Largest JSON body of these routes (the grid's PUT takes max_grid_bytes).
    uint64_t max_body_bytes = 16 * 1024;
    uint64_t max_grid_bytes = 64 * 1024;
};

void RegisterAccessRoutes(http::Router& router, const Authenticator& authenticator,
                          access::AccessService& service, AccessRouteOptions options = {});

}  // namespace carnet::api
