#pragma once
/// The identity endpoints (/auth, /directory, /admin; docs/AUTH-API.md) and the one place
/// that turns a request into a Principal: bearer token, else session cookie (with the CSRF
/// check on writes), else a verified client certificate.
#include <functional>
#include <optional>
#include <string>

#include "api/access_scope.hpp"
#include "api/fhir_service.hpp"
#include "auth/service.hpp"
#include "core/clock.hpp"
#include "http/router.hpp"
#include "store/store.hpp"

namespace carnet::api {

struct AuthRouteOptions {
    /// Add `Secure` to cookies (the listener speaks TLS, or a TLS proxy is in front).
    bool secure_cookies = false;
    /// Largest JSON body accepted by these routes.
    uint64_t max_body_bytes = 16 * 1024;
};

class Authenticator {
  public:
    Authenticator(auth::AuthService& auth, AuthRouteOptions options);

    /// The caller, or kUnauthenticated (no or dead credentials) / kForbidden (cookie write
    /// without the CSRF header).
    [[nodiscard]] Result<auth::Principal> Authenticate(const http::Request& request) const;
    /// The session token the request carries (bearer or cookie), empty if none.
    [[nodiscard]] static std::string TokenOf(const http::Request& request);
    [[nodiscard]] static std::string Cookie(const http::Request& request, std::string_view name);

    /// The professional of a TLS client certificate (Request::client_cert): verified chain,
    /// a national id, known to the directory; for writes, not from another site.
    [[nodiscard]] Result<auth::Principal> FromCertificate(const http::Request& request) const;

    [[nodiscard]] auth::AuthService& service() const { return auth_; }
    [[nodiscard]] const AuthRouteOptions& options() const { return options_; }

  private:
    auth::AuthService& auth_;
    AuthRouteOptions options_;
};

/// `store` serves the export (GET /auth/me/export); `clock` dates it.
/// `fhir`: the export is read through the access decision (serve always sets it).
void RegisterAuthRoutes(http::Router& router, const Authenticator& authenticator,
                        store::Store& store, const Clock& clock, FhirService* fhir = nullptr);

/// The guard for content routes (FHIR): authenticated, and never an operator (advisors and
/// admins have no access to health content, whatever else holds). nullopt: go on.
std::optional<http::Response> GuardContent(const Authenticator& authenticator,
                                           http::Request& request);

/// The Caller of a content request (ApiOptions::identify): the authenticated person as an
/// access::Actor, with the request id the log entries carry. Operators: kForbidden.
Result<Caller> IdentifyContent(const Authenticator& authenticator, const http::Request& request);

}  // namespace carnet::api
