#pragma once
/// What a handler sees and returns. Handlers never include Beast headers: the server
/// (http/server.cpp) converts from and to Beast messages.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.hpp"

namespace carnet::http {

class Spool;  // http/spool.hpp

/// The X.509 certificate a TLS client presented (the health professional's smart card), as
/// checked once per connection during the handshake (see TlsOptions in http/server.hpp).
/// Handlers must look at `verified` before trusting any other field.
struct ClientCertificate {
    /// The chain leads to a CA of TlsOptions::client_ca_file, every certificate in it is
    /// within its validity dates, and (with TlsOptions::crl_file) none is revoked.
    bool verified = false;
    /// When not verified: the first reason, in OpenSSL's words ("certificate has expired",
    /// "certificate revoked", "unable to get local issuer certificate",
    /// "self-signed certificate", ...). Empty when verified.
    std::string error;
    /// Subject distinguished name, one line in RFC 2253 order and escaping, with OpenSSL's
    /// short attribute names (note "SN" is the surname; the serial number attribute is
    /// "serialNumber"), UTF-8 kept as is: "CN=Hélène Martin,serialNumber=810001234565,O=…,C=FR".
    std::string subject;
    /// Certificate serial number, upper-case hexadecimal without separators ("1001").
    std::string serial_hex;
    /// End of validity (notAfter), microseconds since the Unix epoch (UTC).
    int64_t not_after_us = 0;
    /// National health professional id (RPPS, 11 digits) from the subject attribute
    /// serialNumber (OID 2.5.4.5): an 11-digit value as is, a 12-digit value starting with
    /// '8' (the IGC-Santé identifier-type prefix) without that digit. Empty when the
    /// attribute is missing, repeated or of another form, and whenever `verified` is false
    /// (an unverified certificate can claim any id).
    std::string professional_id;
};

struct Request {
    std::string method;  // "GET", "POST", …
    std::string path;    // decoded path, no query string
    /// Decoded query parameters in order (repeated names kept: FHIR ANDs them).
    std::vector<std::pair<std::string, std::string>> query;
    /// Raw query string (for building paging links); never logged.
    std::string raw_query;
    /// Header names lower-cased.
    std::map<std::string, std::string> headers;
    std::string body;
    /// Routes with RouteOptions::spool_body: the body, sealed on disk (`body` stays empty).
    std::shared_ptr<Spool> upload;
    std::string remote_addr;
    std::string request_id;
    /// Values of the {name} segments of the matched route.
    std::map<std::string, std::string> params;
    /// The matched route template ("/fhir/{type}/{id}"), for logs and metrics.
    std::string route;
    /// The request came over TLS (cookies set in the response may then be `Secure`).
    bool tls = false;
    /// The client certificate of the connection, when the client presented one (TLS with
    /// TlsOptions::client_ca_file only). Absent for patients signing in with a password.
    std::optional<ClientCertificate> client_cert;

    [[nodiscard]] std::optional<std::string> Header(const std::string& lower_name) const {
        auto it = headers.find(lower_name);
        if (it == headers.end()) return std::nullopt;
        return it->second;
    }
    [[nodiscard]] std::string Param(const std::string& name) const {
        auto it = params.find(name);
        return it == params.end() ? std::string() : it->second;
    }
};

/// A response body given piece by piece (a document's content, never whole in memory): the
/// server writes the head with Content-Length `length`, then calls `next` on a worker
/// thread until it returns nullopt. An error, or a total other than `length`, cuts the
/// connection (the client sees a short body, never a wrong one).
struct BodyStream {
    uint64_t length = 0;
    std::function<Result<std::optional<std::string>>()> next;
};

struct Response {
    int status = 200;
    std::string content_type = "application/fhir+json";
    std::vector<std::pair<std::string, std::string>> headers;  // extra headers
    std::string body;
    /// Instead of `body`, when set.
    std::shared_ptr<BodyStream> stream;

    Response& With(std::string name, std::string value) {
        headers.emplace_back(std::move(name), std::move(value));
        return *this;
    }
};

using Handler = std::function<Response(Request&)>;

struct RouteOptions {
    /// Largest accepted body for this route; 0: the server default.
    uint64_t max_body_bytes = 0;
    /// Run the handler on the connection's I/O thread instead of the worker pool. Only for
    /// handlers that never block (health, metrics, static files): a blocking handler on an
    /// I/O thread stalls every connection sharing it.
    bool run_inline = false;
    /// Keep the body on disk as it arrives (Request::upload) instead of in memory: for
    /// uploads of documents, up to max_body_bytes.
    bool spool_body = false;
    /// Time allowed to receive the whole request; 0: the server's read_timeout. Uploads of
    /// tens of MiB from a phone need more than a JSON request does.
    uint32_t read_timeout_seconds = 0;
};

/// Maps an Error to its HTTP status (one place: error_map.cpp).
int StatusFor(Code code);
/// An OperationOutcome response for this error (status from StatusFor).
Response ErrorResponse(const Error& error);
/// An OperationOutcome JSON body for these issues.
std::string OperationOutcomeJson(const std::vector<Issue>& issues);
/// Shorthand: an OperationOutcome response with one error issue.
Response ErrorResponse(Code code, std::string issue_code, std::string diagnostics);

}  // namespace carnet::http
