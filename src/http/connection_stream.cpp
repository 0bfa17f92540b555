#include "http/connection_stream.hpp"

#include <openssl/ssl.h>

#include <new>

#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_stream.hpp>

namespace carnet::http {

/// flat_stream coalesces a write's buffers (response head and body) into one TLS record
/// where Asio's SSL stream would write one record per buffer.
struct ConnectionStream::Tls {
    Tls(boost::asio::ip::tcp::socket&& socket, SSL* ssl) : stream(std::move(socket), ssl) {}

    boost::beast::flat_stream<boost::asio::ssl::stream<boost::beast::tcp_stream>> stream;
};

ConnectionStream::ConnectionStream(boost::asio::ip::tcp::socket&& socket, ssl_ctx_st* tls_context) {
    if (tls_context == nullptr) {
        plain_.emplace(std::move(socket));
        tcp_ = &*plain_;
        return;
    }
    SSL* ssl = SSL_new(tls_context);
    if (ssl == nullptr) throw std::bad_alloc();
    tls_ = std::make_unique<Tls>(std::move(socket), ssl);  // owns ssl from here
    tcp_ = &tls_->stream.next_layer().next_layer();
}

ConnectionStream::~ConnectionStream() = default;

void ConnectionStream::TlsHandshake(DoneHandler handler) {
    tls_->stream.next_layer().async_handshake(boost::asio::ssl::stream_base::server,
                                              std::move(handler));
}

void ConnectionStream::TlsShutdown(DoneHandler handler) {
    tls_->stream.next_layer().async_shutdown(std::move(handler));
}

ssl_st* ConnectionStream::NativeTls() { return tls_->stream.next_layer().native_handle(); }

void ConnectionStream::TlsReadSome(boost::asio::mutable_buffer buffer, IoHandler handler) {
    tls_->stream.async_read_some(buffer, std::move(handler));
}

void ConnectionStream::TlsWriteSome(const WriteBuffers& buffers, IoHandler handler) {
    tls_->stream.async_write_some(buffers, std::move(handler));
}

}  // namespace carnet::http
