#pragma once
/// The HTTP/1.1 server: Boost.Beast on an asio io_context run by `threads` threads, one
/// strand per connection. Beast stays inside server.cpp; this header is cheap to include.
///
/// Per request, in this order (STYLE.md "A request, end to end"):
///   1. read the header (limit: max_header_bytes -> 431; the whole request must arrive
///      within read_timeout -> connection closed),
///   2. request id (honours a safe incoming X-Request-Id), target parsed with Boost.URL
///      (bad target or > max_query_params -> 400),
///   3. route (404 / 405 + Allow), then the body limit of the route is set in the parser
///      (-> 413 before buffering),
///   4. the handler inside the error boundary (exception -> generic 500 OperationOutcome),
///   5. security headers, X-Request-Id, access log line, metrics.
///
/// TLS (ServerOptions::tls, off unless cert_file is set). The listener then speaks HTTPS
/// only: TLS 1.2 or 1.3 (OpenSSL), ECDHE with AES-GCM or ChaCha20-Poly1305 under TLS 1.2,
/// no compression, no renegotiation, no stateless session tickets (resumption through the
/// server's session cache only, for 5 minutes; so that no long-lived ticket key can
/// decrypt past TLS 1.2 sessions).
/// The handshake must complete within read_timeout (plain HTTP sent to the port, or a
/// client that never finishes, is closed); after it, every limit, timeout and the error
/// boundary above apply unchanged, and each Request carries `tls = true`.
///   - cert_file: the server certificate in PEM, followed by its intermediates;
///     key_file: its private key in PEM, unencrypted (empty: read from cert_file).
///   - client_ca_file (optional): PEM file of the CAs (roots and intermediates) that issue
///     health professional cards. The server then REQUESTS a client certificate (it sends
///     these CAs' names) but does not require one: patients use the same listener with
///     passwords. A presented certificate never fails the handshake; its chain, validity
///     dates and purpose (TLS client) are checked and the outcome is given to handlers in
///     Request::client_cert (http/types.hpp), computed once per connection.
///   - crl_file (optional, needs client_ca_file): PEM file of one or more CRLs. Every
///     certificate of a client chain is then checked for revocation (the leaf and any
///     intermediate), so the file must hold a current CRL from each CA of
///     client_ca_file that issues certificates; a missing or outdated CRL (past its
///     nextUpdate) makes the client certificate unverified ("unable to get certificate
///     CRL", "CRL has expired"): revocation fails closed.
/// Files are read once, by Start(); any problem (unreadable file, key not matching the
/// certificate, no certificate or CRL in a file) is an error of Start(). A new CRL needs a
/// restart.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "core/result.hpp"

namespace carnet::http {

class Router;

/// HTTPS on the listener, with optional client certificates (see the header comment).
struct TlsOptions {
    /// PEM: the server certificate, then its intermediates. Empty: plain HTTP, and the other
    /// fields must be empty too.
    std::string cert_file;
    /// PEM, unencrypted private key of cert_file. Empty: the key is in cert_file.
    std::string key_file;
    /// PEM: CAs trusted to issue client certificates. Empty: none is requested.
    std::string client_ca_file;
    /// PEM: CRLs of those CAs. Empty: no revocation check.
    std::string crl_file;
};

struct ServerOptions {
    std::string host = "127.0.0.1";
    /// 0: an ephemeral port; Server::Port() reports the bound one.
    uint16_t port = 8080;
    int threads = static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
    /// Threads running route handlers, which may block on the store. Many of them let many
    /// requests wait on one group commit (one fsync for all) instead of queueing behind the
    /// I/O threads. 0: 32.
    int workers = 0;
    /// Default body limit; a route may raise or lower it (RouteOptions::max_body_bytes).
    uint64_t max_body_bytes = 10ULL * 1024 * 1024;
    uint32_t max_header_bytes = 16 * 1024;
    /// Deadline for a whole request (headers and body) once its first byte arrived; also
    /// for the first request of a new connection. Slowloris defence.
    std::chrono::seconds read_timeout{10};
    /// How long a keep-alive connection may stay silent between requests.
    std::chrono::seconds idle_timeout{60};
    /// Deadline for writing one response.
    std::chrono::seconds write_timeout{30};
    /// Stop(): how long in-flight requests may take to finish before connections are cut.
    std::chrono::seconds shutdown_timeout{10};
    int max_query_params = 64;
    /// Connections beyond this are accepted and closed at once.
    size_t max_connections = 10000;
    /// One info line per request (request id, method, route template, status, ms, bytes).
    bool access_log = true;
    /// Where spooled uploads (RouteOptions::spool_body) are kept, sealed, while a request
    /// lasts; empty: the system's temporary directory.
    std::filesystem::path spool_dir;
    /// HTTPS instead of HTTP when tls.cert_file is set.
    TlsOptions tls;
};

class Server {
  public:
    /// `router` must outlive the server and not change after Start().
    Server(ServerOptions options, Router& router);
    /// Stops the server if it is running.
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    /// Binds, listens and starts the threads. Errors (bad host, port in use) are values.
    /// Call once.
    [[nodiscard]] Status Start();
    /// Blocks until Stop() has completed (from another thread or a signal handler thread).
    void Wait();
    /// Graceful stop: stops accepting, closes idle connections, lets in-flight requests
    /// finish (up to shutdown_timeout; their responses carry "Connection: close"), then
    /// stops the threads and returns. Idempotent. Must not be called from a handler.
    void Stop();
    /// The bound port (after Start()).
    [[nodiscard]] uint16_t Port() const;
    /// Connections currently open.
    [[nodiscard]] size_t ConnectionCount() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace carnet::http
