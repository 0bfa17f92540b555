#include "http/tls.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <chrono>
#include <cstdint>
#include <ctime>

namespace carnet::http {

namespace {

/// TLS 1.2 suites (TLS 1.3 keeps OpenSSL's defaults, all AEAD): forward secrecy and AEAD
/// only, as in Mozilla's "intermediate" profile without finite-field DHE.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
/// Leaf, intermediates, root: card PKIs (IGC-Santé) have one or two CA levels.
constexpr int kMaxClientChainDepth = 4;
/// Sessions resumed from the cache must come from this server's own contexts.
constexpr unsigned char kSessionIdContext[] = "carnet";
/// A resumed session carries the certificate facts of its full handshake without the card
/// being asked again (it may have left the reader): keep that short (OpenSSL's default is
/// two hours). Keep-alive connections are closed after 60 s of silence anyway.
constexpr long kSessionLifetimeSeconds = 300;

/// OpenSSL's queued errors, oldest first, then cleared.
std::string DrainOpenSslErrors() {
    std::string text;
    while (const unsigned long code = ERR_get_error()) {
        char buffer[256];
        ERR_error_string_n(code, buffer, sizeof buffer);
        if (!text.empty()) text += "; ";
        text += buffer;
    }
    return text;
}

Error ConfigError(const std::string& what) {
    const std::string reason = DrainOpenSslErrors();
    Error error = Error::Make(Code::kInvalid, "invalid",
                              "TLS: " + what + (reason.empty() ? "" : ": ") + reason);
    error.detail = reason;
    return error;
}

/// The SSL ex_data slot holding the first verification error of the handshake (as an
/// integer in the pointer), null when none.
int FirstVerifyErrorSlot() {
    static const int slot = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return slot;
}

/// Lets every handshake complete: a bad client certificate must not lock a professional
/// out of the password sign-in patients use on the same listener. OpenSSL goes on after
/// each error and its final verify result is the last one; the first is kept here because
/// it is the one that explains (a certificate from an unknown CA also fails the later CRL
/// and signature checks).
int KeepHandshakeGoing(int preverify_ok, X509_STORE_CTX* store_ctx) {
    if (preverify_ok == 0) {
        auto* ssl = static_cast<SSL*>(
            X509_STORE_CTX_get_ex_data(store_ctx, SSL_get_ex_data_X509_STORE_CTX_idx()));
        if (ssl != nullptr && SSL_get_ex_data(ssl, FirstVerifyErrorSlot()) == nullptr) {
            int error = X509_STORE_CTX_get_error(store_ctx);
            if (error == X509_V_OK) error = X509_V_ERR_UNSPECIFIED;
            SSL_set_ex_data(ssl, FirstVerifyErrorSlot(),
                            reinterpret_cast<void*>(static_cast<intptr_t>(error)));
        }
    }
    return 1;
}

/// Encrypted keys are refused rather than prompted for on the terminal.
int NoPassphrase(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*userdata*/) { return 0; }

std::string NameText(const X509_NAME* name) {
    BIO* bio = BIO_new(BIO_s_mem());
    if (bio == nullptr) return {};
    std::string text;
    // RFC 2253 escaping, except that UTF-8 stays readable ("Hélène", not "H\C3\A9l\C3\A8ne").
    if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
        char* data = nullptr;
        const long size = BIO_get_mem_data(bio, &data);
        if (data != nullptr && size > 0) text.assign(data, static_cast<size_t>(size));
    }
    BIO_free(bio);
    return text;
}

std::string SerialHex(const X509* cert) {
    BIGNUM* number = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr);
    if (number == nullptr) return {};
    std::string text;
    if (char* hex = BN_bn2hex(number)) {
        text = hex;
        OPENSSL_free(hex);
    }
    BN_free(number);
    return text;
}

int64_t TimeMicros(const ASN1_TIME* time) {
    std::tm parts{};
    if (time == nullptr || ASN1_TIME_to_tm(time, &parts) != 1) return 0;
    using namespace std::chrono;
    const sys_days date = year{parts.tm_year + 1900} /
                          month{static_cast<unsigned>(parts.tm_mon + 1)} /
                          day{static_cast<unsigned>(parts.tm_mday)};
    const auto instant =
        date + hours{parts.tm_hour} + minutes{parts.tm_min} + seconds{parts.tm_sec};
    return duration_cast<microseconds>(instant.time_since_epoch()).count();
}

/// The value of the subject's serialNumber attribute (OID 2.5.4.5) in UTF-8; empty when it
/// is missing or repeated (a repeated id is ambiguous: refuse both).
std::string SubjectSerialNumber(const X509* cert) {
    const X509_NAME* subject = X509_get_subject_name(cert);
    const int index = X509_NAME_get_index_by_NID(subject, NID_serialNumber, -1);
    if (index < 0 || X509_NAME_get_index_by_NID(subject, NID_serialNumber, index) >= 0) return {};
    const ASN1_STRING* value = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
    unsigned char* utf8 = nullptr;
    const int size = ASN1_STRING_to_UTF8(&utf8, value);
    std::string text;
    if (size > 0 && utf8 != nullptr)
        text.assign(reinterpret_cast<char*>(utf8), static_cast<size_t>(size));
    OPENSSL_free(utf8);
    return text;
}

}  // namespace

void SslCtxFree::operator()(ssl_ctx_st* context) const { SSL_CTX_free(context); }

Result<SslCtxPtr> NewServerTlsContext(const TlsOptions& options) {
    ERR_clear_error();
    if (options.cert_file.empty()) return ConfigError("no certificate file");
    if (!options.crl_file.empty() && options.client_ca_file.empty()) {
        return ConfigError("a CRL file needs a client CA file");
    }
    SslCtxPtr context(SSL_CTX_new(TLS_server_method()));
    if (!context) return ConfigError("cannot create the context");
    SSL_CTX* ctx = context.get();
    (void)FirstVerifyErrorSlot();  // allocate the slot before the first handshake

    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1) {
        return ConfigError("cannot set the protocol versions and ciphers");
    }
    // No compression (CRIME), no renegotiation (a client could renegotiate away the
    // certificate the connection's facts were taken from), no stateless tickets.
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    SSL_CTX_set_timeout(ctx, kSessionLifetimeSeconds);
    // Required for resumption once client certificates are requested.
    SSL_CTX_set_session_id_context(ctx, kSessionIdContext, sizeof kSessionIdContext - 1);
    SSL_CTX_set_default_passwd_cb(ctx, NoPassphrase);

    if (SSL_CTX_use_certificate_chain_file(ctx, options.cert_file.c_str()) != 1) {
        return ConfigError("cannot load the certificate chain " + options.cert_file);
    }
    const std::string& key_file = options.key_file.empty() ? options.cert_file : options.key_file;
    if (SSL_CTX_use_PrivateKey_file(ctx, key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
        return ConfigError("cannot load the private key " + key_file);
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        return ConfigError("the private key " + key_file + " does not match " + options.cert_file);
    }

    if (options.client_ca_file.empty()) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
        return context;
    }
    // The trust anchors and intermediates for client chains...
    if (SSL_CTX_load_verify_locations(ctx, options.client_ca_file.c_str(), nullptr) != 1) {
        return ConfigError("cannot load the client CAs " + options.client_ca_file);
    }
    // ...and their names in the CertificateRequest, so that browsers offer the right card.
    STACK_OF(X509_NAME)* ca_names = SSL_load_client_CA_file(options.client_ca_file.c_str());
    if (ca_names == nullptr) {
        return ConfigError("no CA certificate in " + options.client_ca_file);
    }
    SSL_CTX_set_client_CA_list(ctx, ca_names);  // takes ownership
    // Requested, not required (no SSL_VERIFY_FAIL_IF_NO_PEER_CERT).
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, KeepHandshakeGoing);
    SSL_CTX_set_verify_depth(ctx, kMaxClientChainDepth);

    if (!options.crl_file.empty()) {
        X509_STORE* store = SSL_CTX_get_cert_store(ctx);
        X509_LOOKUP* lookup = X509_STORE_add_lookup(store, X509_LOOKUP_file());
        if (lookup == nullptr ||
            X509_load_crl_file(lookup, options.crl_file.c_str(), X509_FILETYPE_PEM) <= 0) {
            return ConfigError("cannot load the CRLs " + options.crl_file);
        }
        X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
    }
    return context;
}

std::optional<ClientCertificate> PeerCertificateOf(ssl_st* ssl) {
    const X509* cert = SSL_get0_peer_certificate(ssl);
    if (cert == nullptr) return std::nullopt;
    ClientCertificate facts;
    long result = SSL_get_verify_result(ssl);
    if (void* first = SSL_get_ex_data(ssl, FirstVerifyErrorSlot())) {
        // Set only by this handshake's callback; a resumed session has the stored result.
        result = static_cast<long>(reinterpret_cast<intptr_t>(first));
    }
    facts.verified = result == X509_V_OK;
    if (!facts.verified) facts.error = X509_verify_cert_error_string(result);
    facts.subject = NameText(X509_get_subject_name(cert));
    facts.serial_hex = SerialHex(cert);
    facts.not_after_us = TimeMicros(X509_get0_notAfter(cert));
    if (facts.verified)
        facts.professional_id = ProfessionalIdFromSerialNumber(SubjectSerialNumber(cert));
    return facts;
}

void KeepSessionResumable(ssl_st* ssl) {
    SSL_set_shutdown(ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
}

std::string ProfessionalIdFromSerialNumber(std::string_view serial_number) {
    for (char c : serial_number) {
        if (c < '0' || c > '9') return {};
    }
    if (serial_number.size() == 11) return std::string(serial_number);
    if (serial_number.size() == 12 && serial_number.front() == '8') {
        return std::string(serial_number.substr(1));
    }
    return {};
}

}  // namespace carnet::http
