#pragma once
/// The OpenSSL side of the server's TLS (internal to carnet_http): the server context built
/// from TlsOptions, and the facts of a client certificate after the handshake. No OpenSSL
/// or Beast header here: server.cpp wires these into Boost.Asio.
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "http/server.hpp"
#include "http/types.hpp"

struct ssl_ctx_st;  // SSL_CTX
struct ssl_st;      // SSL

namespace carnet::http {

struct SslCtxFree {
    void operator()(ssl_ctx_st* context) const;
};
using SslCtxPtr = std::unique_ptr<ssl_ctx_st, SslCtxFree>;

/// The server's SSL_CTX for `options` (cert_file set), as described in http/server.hpp.
/// Errors (kInvalid) name the file at fault and OpenSSL's reason.
[[nodiscard]] Result<SslCtxPtr> NewServerTlsContext(const TlsOptions& options);

/// The facts of the certificate the peer presented in the completed handshake on `ssl`
/// (a server-side SSL of a context from NewServerTlsContext); nullopt when it sent none.
[[nodiscard]] std::optional<ClientCertificate> PeerCertificateOf(ssl_st* ssl);

/// Called before `ssl` is freed: keeps its session resumable even though the connection
/// ended without close_notify (client gone, timeout, Stop()). OpenSSL would otherwise evict
/// it from the session cache, which TLS no longer asks for since 1.1 (RFC 4346 §7.2.1).
void KeepSessionResumable(ssl_st* ssl);

/// The RPPS number from the value of a subject serialNumber attribute: 11 digits as is,
/// 12 digits starting with '8' (IGC-Santé identifier type) without that digit; otherwise
/// empty. The Luhn check digit is not verified here (auth::IsValidRpps does).
[[nodiscard]] std::string ProfessionalIdFromSerialNumber(std::string_view serial_number);

}  // namespace carnet::http
