#pragma once
/// A server connection's byte stream: plain TCP, or TLS over TCP (internal to carnet_http).
/// server.cpp's one Connection class reads and writes through it, so Beast's HTTP parser
/// and writer are compiled once, for this type. The TLS operations are compiled once too,
/// in connection_stream.cpp, behind type-erased completion handlers: server.cpp does not
/// instantiate Asio's SSL templates (they would double its compile time), and plain TCP
/// goes straight to the socket as before.
#include <array>
#include <cstddef>
#include <memory>
#include <optional>
#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/tcp_stream.hpp>

struct ssl_ctx_st;  // SSL_CTX
struct ssl_st;      // SSL

namespace carnet::http {

/// A completion handler taking `Args`, its type erased, its associated executor kept (as an
/// any_io_executor). Boost 1.81's any_completion_handler would do, but Beast's streams
/// cannot post to its any_completion_executor (no blocking.never).
template <typename... Args>
class ErasedHandler {
  public:
    using executor_type = boost::asio::any_io_executor;

    template <typename Handler>
    ErasedHandler(Handler handler, const executor_type& fallback)
        : executor_(boost::asio::get_associated_executor(handler, fallback)),
          call_(std::make_unique<Model<Handler>>(std::move(handler))) {}

    [[nodiscard]] executor_type get_executor() const noexcept { return executor_; }

    /// Call once.
    void operator()(Args... args) {
        auto call = std::move(call_);
        call->Invoke(std::move(args)...);
    }

  private:
    struct Concept {
        virtual ~Concept() = default;
        virtual void Invoke(Args... args) = 0;
    };
    template <typename Handler>
    struct Model final : Concept {
        explicit Model(Handler h) : handler(std::move(h)) {}
        void Invoke(Args... args) override { std::move(handler)(std::move(args)...); }
        Handler handler;
    };

    executor_type executor_;
    std::unique_ptr<Concept> call_;
};

class ConnectionStream {
  public:
    using executor_type = boost::beast::tcp_stream::executor_type;
    using IoHandler = ErasedHandler<boost::system::error_code, std::size_t>;
    using DoneHandler = ErasedHandler<boost::system::error_code>;
    /// A TLS write takes at most this many buffers of a sequence (the rest goes in the next
    /// write_some, as a partial write); the server writes head and body, two.
    static constexpr std::size_t kMaxWriteBuffers = 4;
    using WriteBuffers = std::array<boost::asio::const_buffer, kMaxWriteBuffers>;

    /// TLS when `tls_context` (from NewServerTlsContext) is not null. Throws std::bad_alloc
    /// when OpenSSL cannot allocate the connection's state.
    ConnectionStream(boost::asio::ip::tcp::socket&& socket, ssl_ctx_st* tls_context);
    ~ConnectionStream();
    ConnectionStream(const ConnectionStream&) = delete;
    ConnectionStream& operator=(const ConnectionStream&) = delete;

    executor_type get_executor() { return tcp_->get_executor(); }
    /// The TCP layer: deadlines, cancel, shutdown and close.
    boost::beast::tcp_stream& Tcp() { return *tcp_; }
    [[nodiscard]] bool IsTls() const { return tls_ != nullptr; }

    // TLS only.
    /// The server side of the handshake; `handler(error_code)`.
    template <typename Handler>
    void AsyncHandshake(Handler handler) {
        TlsHandshake(DoneHandler(std::move(handler), get_executor()));
    }
    /// Sends close_notify, then waits for the peer's; `handler(error_code)`.
    template <typename Handler>
    void AsyncShutdown(Handler handler) {
        TlsShutdown(DoneHandler(std::move(handler), get_executor()));
    }
    ssl_st* NativeTls();

    // AsyncReadStream and AsyncWriteStream, for Beast's parser and boost::asio::async_write.
    template <typename MutableBuffers, typename Token>
    auto async_read_some(const MutableBuffers& buffers, Token&& token) {
        return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
            [this](auto handler, const MutableBuffers& b) {
                if (tls_) {
                    TlsReadSome(FirstNonEmpty(b), IoHandler(std::move(handler), get_executor()));
                } else {
                    plain_->async_read_some(b, std::move(handler));
                }
            },
            token, buffers);
    }
    template <typename ConstBuffers, typename Token>
    auto async_write_some(const ConstBuffers& buffers, Token&& token) {
        return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
            [this](auto handler, const ConstBuffers& b) {
                if (tls_) {
                    TlsWriteSome(FirstBuffers(b), IoHandler(std::move(handler), get_executor()));
                } else {
                    plain_->async_write_some(b, std::move(handler));
                }
            },
            token, buffers);
    }

  private:
    struct Tls;

    /// read_some may fill less than offered: the first non-empty buffer is enough.
    template <typename MutableBuffers>
    static boost::asio::mutable_buffer FirstNonEmpty(const MutableBuffers& buffers) {
        const auto end = boost::asio::buffer_sequence_end(buffers);
        for (auto it = boost::asio::buffer_sequence_begin(buffers); it != end; ++it) {
            const boost::asio::mutable_buffer buffer(*it);
            if (buffer.size() != 0) return buffer;
        }
        return {};
    }
    /// The first non-empty buffers. Dropping the empty ones is load-bearing: after a partial
    /// write of the head, async_write passes {empty rest of head, body}; when the body is over
    /// flat_stream's 16 KiB coalesce limit, flat_stream writes a prefix as long as the first
    /// buffer, zero bytes, and async_write takes a successful 0-byte write_some for the end of
    /// the data: the client would get the head and wait for the body forever.
    template <typename ConstBuffers>
    static WriteBuffers FirstBuffers(const ConstBuffers& buffers) {
        WriteBuffers first{};
        std::size_t count = 0;
        const auto end = boost::asio::buffer_sequence_end(buffers);
        for (auto it = boost::asio::buffer_sequence_begin(buffers);
             it != end && count < kMaxWriteBuffers; ++it) {
            const boost::asio::const_buffer buffer(*it);
            if (buffer.size() != 0) first[count++] = buffer;
        }
        return first;
    }

    void TlsHandshake(DoneHandler handler);
    void TlsShutdown(DoneHandler handler);
    void TlsReadSome(boost::asio::mutable_buffer buffer, IoHandler handler);
    void TlsWriteSome(const WriteBuffers& buffers, IoHandler handler);

    std::optional<boost::beast::tcp_stream> plain_;
    std::unique_ptr<Tls> tls_;
    boost::beast::tcp_stream* tcp_ = nullptr;  // plain_, or the one inside tls_
};

}  // namespace carnet::http
