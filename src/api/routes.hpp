#pragma once
/// Registers the FHIR REST endpoints under /fhir (http://hl7.org/fhir/R4/http.html).
#include <functional>
#include <optional>
#include <string>

#include "api/fhir_service.hpp"
#include "http/router.hpp"

namespace carnet::messaging {
class MessageService;
}

namespace carnet::api {

struct ApiOptions {
    /// Public base of the FHIR API ("https://carnet.example/fhir"); empty: derived from the
    /// request's Host header (checked) and the listener.
    std::string public_base_url;
    std::string fallback_host = "127.0.0.1:8080";
    int max_json_depth = 64;
    std::string software_version = "0.1.0";
    /// Body limit for POST /fhir (transaction/batch Bundles, which imports send).
    uint64_t max_bundle_bytes = 64ULL * 1024 * 1024;
    /// Run read handlers (GET) on the I/O threads instead of the worker pool. For stores whose
    /// reads never wait on the network (SQLite: page cache and local file): the hop to a
    /// worker and back would cost more than the read. Writes always go to the pool, where
    /// they wait on the group commit.
    bool inline_reads = false;
    /// Runs before every FHIR route except /fhir/metadata: a response stops the request
    /// there (401, 403). Empty: no authentication (unit tests of the REST layer only).
    std::function<std::optional<http::Response>(http::Request&)> guard;
    /// Who calls, for the access decision (after the guard). Empty: the system (unit tests
    /// of the REST layer, where no access is enforced). When set, reads are not run inline.
    std::function<Result<Caller>(http::Request&)> identify;
    /// Secure messaging, shown as read-only `Communication` resources (docs/MESSAGING.md).
    /// Absent: Communication is an ordinary resource type.
    messaging::MessageService* messages = nullptr;
};

void RegisterFhirRoutes(http::Router& router, FhirService& service, const ApiOptions& options);

/// The CapabilityStatement of this server (what is really implemented), as JSON text.
std::string CapabilityStatementJson(const ApiOptions& options);

}  // namespace carnet::api
