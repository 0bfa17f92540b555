#include "http/server.hpp"

#include <array>
#include <atomic>
#include <condition_variable>
#include <future>
#include <limits>
#include <mutex>
#include <optional>
#include <random>
#include <unordered_map>
#include <vector>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include "core/clock.hpp"
#include "core/log.hpp"
#include "http/connection_stream.hpp"
#include "http/metrics.hpp"
#include "http/router.hpp"
#include "http/spool.hpp"
#include "http/tls.hpp"
#include "http/types.hpp"

namespace carnet::http {

namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

/// No version: the Server header must not help fingerprinting.
constexpr std::string_view kServerName = "carnet";
constexpr size_t kFirstReadBytes = 4096;
constexpr size_t kDrainBytes = 16 * 1024;
/// After an error response we read (and drop) what the client still sends for this long,
/// so that closing with unread data does not reset the connection before the client has
/// read our response (RFC 9112 §9.6, "tear-down").
constexpr std::chrono::seconds kLingerTimeout{2};
constexpr size_t kMaxRequestIdLength = 64;

/// Method label for metrics: a fixed set, so that clients cannot create series.
constexpr std::array<std::string_view, 8> kMethodLabels = {"GET",   "HEAD",   "POST",    "PUT",
                                                           "PATCH", "DELETE", "OPTIONS", "OTHER"};

size_t MethodLabelIndex(std::string_view method) {
    for (size_t i = 0; i + 1 < kMethodLabels.size(); ++i) {
        if (kMethodLabels[i] == method) return i;
    }
    return kMethodLabels.size() - 1;
}

/// 16 lower-case hex digits. Request ids correlate logs; they need to be unique, not secret.
std::string NewRequestId() {
    thread_local std::mt19937_64 rng{[] {
        std::random_device device;
        return (static_cast<uint64_t>(device()) << 32) ^ device();
    }()};
    static constexpr char kHex[] = "0123456789abcdef";
    uint64_t value = rng();
    std::string id(16, '0');
    for (size_t i = 0; i < 16; ++i) {
        id[15 - i] = kHex[value & 0xF];
        value >>= 4;
    }
    return id;
}

/// An incoming X-Request-Id is echoed into logs and responses only if it cannot inject
/// anything: 1..64 characters of [A-Za-z0-9._-].
bool IsSafeRequestId(std::string_view id) {
    if (id.empty() || id.size() > kMaxRequestIdLength) return false;
    for (char c : id) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
        if (!ok) return false;
    }
    return true;
}

/// RFC 9110 §6.6.1 Date, formatted at most once per second per thread.
const std::string& CachedHttpDate() {
    thread_local int64_t cached_second = -1;
    thread_local std::string cached;
    const int64_t now_micros = SystemClock().NowMicros();
    const int64_t second = now_micros / 1'000'000;
    if (second != cached_second) {
        cached = FormatHttpDate(second * 1'000'000);
        cached_second = second;
    }
    return cached;
}

bool IEquals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        const auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? char(c + 32) : c; };
        if (lower(a[i]) != lower(b[i])) return false;
    }
    return true;
}

bool HasHeader(const Response& response, std::string_view name) {
    for (const auto& [header_name, value] : response.headers) {
        if (IEquals(header_name, name)) return true;
    }
    return false;
}

/// Framing is the server's job; a handler must not set these.
bool IsReservedHeader(std::string_view name) {
    return IEquals(name, "content-length") || IEquals(name, "transfer-encoding") ||
           IEquals(name, "connection") || IEquals(name, "content-type");
}

bool IsSafeHeader(std::string_view name, std::string_view value) {
    if (name.empty()) return false;
    for (char c : name) {
        if (c <= ' ' || c == ':' || c >= 127) return false;
    }
    // No CR/LF/NUL: a handler echoing user input must not split the response.
    return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

/// Parses the request-target (RFC 9112 §3.2: origin-form, or absolute-form) into the
/// decoded path, the decoded query pairs and the raw query. Returns false with a reason.
/// FHIR clients (and curl users) routinely send characters RFC 3986 wants encoded in the
/// query — above all '|' in token searches (code=http://loinc.org|8302-2). They are
/// percent-encoded here, before strict parsing, so the search means what the client wrote.
std::string EncodeLaxQueryChars(std::string_view target) {
    std::string out;
    out.reserve(target.size() + 16);
    const auto q = target.find('?');
    for (size_t i = 0; i < target.size(); ++i) {
        const char c = target[i];
        if (q != std::string_view::npos && i > q &&
            (c == '|' || c == '"' || c == '<' || c == '>' || c == '\\' || c == '^' || c == '`' ||
             c == '{' || c == '}')) {
            static const char* kHex = "0123456789ABCDEF";
            out.push_back('%');
            out.push_back(kHex[static_cast<unsigned char>(c) >> 4]);
            out.push_back(kHex[static_cast<unsigned char>(c) & 0x0f]);
        } else {
            out.push_back(c);
        }
    }
    return out;
}

bool ParseTarget(std::string_view raw_target, int max_query_params, Request& request,
                 std::string& reason) {
    const std::string lax = EncodeLaxQueryChars(raw_target);
    const std::string_view target = lax;
    auto parsed = boost::urls::parse_origin_form(target);
    if (!parsed && (target.starts_with("http://") || target.starts_with("https://"))) {
        parsed = boost::urls::parse_absolute_uri(target);
    }
    if (!parsed) {
        reason = "malformed request target";
        return false;
    }
    const boost::urls::url_view url = *parsed;
    request.path = url.path();
    if (request.path.empty()) request.path = "/";
    if (request.path.find('\0') != std::string::npos) {
        reason = "malformed request target";
        return false;
    }
    if (!url.has_query()) return true;
    // Decodes %XX; '+' stays '+' (FHIR dates carry "+02:00" offsets; HTML forms are
    // decoded by the _search handler, not here).
    const auto params = url.params(boost::urls::encoding_opts(false, false, false));
    if (params.size() > static_cast<size_t>(max_query_params)) {
        reason = "too many query parameters (limit " + std::to_string(max_query_params) + ")";
        return false;
    }
    request.raw_query = std::string(url.encoded_query());
    request.query.reserve(params.size());
    for (const auto& param : params) {
        if (param.key.empty() && !param.has_value) continue;  // "?&" or a bare "?"
        request.query.emplace_back(param.key, param.value);
    }
    return true;
}

/// The Beast body of a spooled request (RouteOptions::spool_body): bytes go to a Spool as
/// they arrive, never all into memory. The spool is set on the message before the body.
struct SpoolBody {
    using value_type = std::shared_ptr<Spool>;

    class reader {
      public:
        template <bool isRequest, class Fields>
        reader(bhttp::header<isRequest, Fields>& /*header*/, value_type& body) : body_(body) {}
        void init(const boost::optional<std::uint64_t>& /*length*/, beast::error_code& ec) {
            ec = body_ ? beast::error_code{}
                       : boost::system::errc::make_error_code(boost::system::errc::io_error);
        }
        template <class ConstBufferSequence>
        std::size_t put(const ConstBufferSequence& buffers, beast::error_code& ec) {
            std::size_t n = 0;
            for (const auto b : beast::buffers_range_ref(buffers)) {
                if (!body_->Append(std::string_view(static_cast<const char*>(b.data()), b.size()))
                         .ok()) {
                    ec = boost::system::errc::make_error_code(boost::system::errc::io_error);
                    return n;
                }
                n += b.size();
            }
            ec = {};
            return n;
        }
        void finish(beast::error_code& ec) {
            ec = body_->Finish().ok()
                     ? beast::error_code{}
                     : boost::system::errc::make_error_code(boost::system::errc::io_error);
        }

      private:
        value_type& body_;
    };
};

class Connection;

/// Everything the connections share. Member order matters: the io_context is destroyed
/// before the connection registry, because destroying pending handlers destroys
/// connections, which unregister themselves.
struct ServerState {
    ServerState(ServerOptions opts, Router& r) : options(std::move(opts)), router(r) {
        for (size_t i = 0; i < kMethodLabels.size(); ++i) {
            unmatched_stats[i] = Metrics::Global().RouteStatsFor("unmatched", kMethodLabels[i]);
        }
    }

    ServerOptions options;
    Router& router;
    /// Set by Start() when options.tls.cert_file is; shared by every connection (an SSL
    /// holds a reference to its SSL_CTX, so the order of destruction does not matter).
    SslCtxPtr tls_context;
    std::array<RouteStats*, kMethodLabels.size()> unmatched_stats{};
    std::atomic<bool> stopping{false};

    mutable std::mutex conns_mu;
    std::condition_variable conns_cv;
    std::unordered_map<Connection*, std::weak_ptr<Connection>> conns;

    net::io_context ioc;
    std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
    tcp::acceptor acceptor{net::make_strand(ioc)};
    std::vector<std::thread> threads;
    /// Route handlers run here (unless RouteOptions::run_inline), then post the response
    /// back to the connection's strand.
    std::optional<net::thread_pool> workers;
    uint16_t port = 0;

    void Accept();
    void OnAccept(beast::error_code ec, tcp::socket socket);
};

/// One TCP connection, plain or TLS. All its work runs on its strand (the tcp_stream's
/// executor), so it needs no locks; requests on it are handled one after another, which
/// keeps pipelined requests in order.
class Connection : public std::enable_shared_from_this<Connection> {
  public:
    Connection(ServerState& state, tcp::socket&& socket)
        : state_(state), stream_(std::move(socket), state.tls_context.get()) {
        beast::error_code ec;
        const auto endpoint = stream_.Tcp().socket().remote_endpoint(ec);
        if (!ec) remote_addr_ = endpoint.address().to_string();
    }

    ~Connection() {
        if (stream_.IsTls()) KeepSessionResumable(stream_.NativeTls());
        EndInFlight();
        std::lock_guard lock(state_.conns_mu);
        state_.conns.erase(this);
        state_.conns_cv.notify_all();
    }

    void Start() {
        {
            std::lock_guard lock(state_.conns_mu);
            state_.conns.emplace(this, weak_from_this());
        }
        net::dispatch(stream_.get_executor(),
                      beast::bind_front_handler(&Connection::Handshake, shared_from_this()));
    }

    /// Graceful stop, posted by Server::Stop(): idle connections (and those still in their
    /// TLS handshake) close now, busy ones after their current response.
    void Shutdown() {
        shutdown_requested_ = true;
        if (phase_ == Phase::kHandshake || phase_ == Phase::kIdle || phase_ == Phase::kClosing) {
            stream_.Tcp().cancel();
        }
    }

    /// Hard stop after the shutdown deadline.
    void ForceClose() {
        beast::error_code ec;
        stream_.Tcp().socket().close(ec);
    }

    net::any_io_executor Executor() { return stream_.get_executor(); }

  private:
    enum class Phase { kHandshake, kIdle, kReading, kHandling, kWriting, kClosing };

    /// TLS only: the handshake, bounded by read_timeout like a request (a client that
    /// connects and stalls, or speaks plain HTTP, is closed). The client certificate is
    /// examined once here; every request of the connection carries the result.
    void Handshake() {
        if (!stream_.IsTls()) {
            ReadRequest();
            return;
        }
        phase_ = Phase::kHandshake;
        stream_.Tcp().expires_after(state_.options.read_timeout);
        stream_.AsyncHandshake(
            beast::bind_front_handler(&Connection::OnHandshake, shared_from_this()));
    }

    void OnHandshake(beast::error_code ec) {
        if (ec) {
            // Scanners, plain HTTP, timeouts, unsupported versions: not worth a warning.
            Metrics::Global().Inc("carnet_http_tls_handshake_failures_total");
            spdlog::debug("http: TLS handshake failed: {}", ec.message());
            Close();
            return;
        }
        client_cert_ = PeerCertificateOf(stream_.NativeTls());
        ReadRequest();
    }

    void ReadRequest() {
        if (shutdown_requested_) {
            Close();
            return;
        }
        parser_.emplace();
        spool_parser_.reset();
        parser_->header_limit(state_.options.max_header_bytes);
        // Beast checks Content-Length against the body limit while parsing the header,
        // before we know the route; the route's limit is applied in OnHeader().
        parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
        header_done_ = false;
        deadline_armed_ = false;
        head_ = false;
        version_ = 11;
        if (buffer_.size() > 0) {  // a pipelined request is already here
            ReadHeader();
            return;
        }
        phase_ = Phase::kIdle;
        if (first_request_) {
            // A fresh connection must send its first request within read_timeout.
            stream_.Tcp().expires_after(state_.options.read_timeout);
            deadline_armed_ = true;
        } else {
            stream_.Tcp().expires_after(state_.options.idle_timeout);
        }
        stream_.async_read_some(
            buffer_.prepare(kFirstReadBytes),
            beast::bind_front_handler(&Connection::OnFirstBytes, shared_from_this()));
    }

    void OnFirstBytes(beast::error_code ec, std::size_t bytes) {
        if (ec) {  // idle timeout, peer closed, or Stop()
            Close();
            return;
        }
        buffer_.commit(bytes);
        ReadHeader();
    }

    void ReadHeader() {
        phase_ = Phase::kReading;
        // The deadline covers the whole request, header and body: it is not re-armed
        // between reads, so a client trickling bytes cannot hold the connection.
        if (!deadline_armed_) stream_.Tcp().expires_after(state_.options.read_timeout);
        deadline_armed_ = true;
        bhttp::async_read_header(
            stream_, buffer_, *parser_,
            beast::bind_front_handler(&Connection::OnHeader, shared_from_this()));
    }

    void OnHeader(beast::error_code ec, std::size_t /*bytes*/) {
        if (ec) {
            OnReadError(ec);
            return;
        }
        BeginRequest();
        header_done_ = true;
        const auto& message = parser_->get();
        request_.method = std::string(message.method_string());
        head_ = message.method() == bhttp::verb::head;
        version_ = message.version();

        std::string reason;
        if (!ParseTarget(message.target(), state_.options.max_query_params, request_, reason)) {
            SendError(Code::kInvalid, "invalid", std::move(reason));
            return;
        }
        match_ = state_.router.Match(request_.method, request_.path, &request_.params);

        uint64_t limit = state_.options.max_body_bytes;
        if (match_.kind == RouteMatch::Kind::kFound && match_.options->max_body_bytes != 0) {
            limit = match_.options->max_body_bytes;
        }
        parser_->body_limit(limit);
        // Refuse a declared oversized body before reading a byte of it.
        if (const auto length = parser_->content_length(); length && *length > limit) {
            SendError(Code::kTooLarge, "too-costly", "request body too large");
            return;
        }
        if (match_.kind == RouteMatch::Kind::kFound) {
            if (const uint32_t t = match_.options->read_timeout_seconds; t != 0) {
                stream_.Tcp().expires_after(std::chrono::seconds(t));  // from the header on
            }
            if (match_.options->spool_body) {
                const auto dir = state_.options.spool_dir.empty()
                                     ? std::filesystem::temp_directory_path()
                                     : state_.options.spool_dir;
                auto spool = Spool::Create(dir);
                if (!spool.ok()) {
                    spdlog::error("request {}: {}", request_.request_id, spool.error().Summary());
                    SendError(Code::kUnavailable, "transient", "cannot receive the upload now");
                    return;
                }
                spool_parser_.emplace(std::move(*parser_));
                spool_parser_->get().body() = *spool;
                spool_parser_->body_limit(limit);
                if (spool_parser_->is_done()) {
                    beast::error_code ec2;
                    OnBody(ec2, 0);  // no body: the spool still needs finishing
                    return;
                }
            }
        }
        if (!spool_parser_ && parser_->is_done()) {
            OnRequestRead();
            return;
        }
        // RFC 9110 §10.1.1: a client waiting for 100-continue gets it once we accept the
        // headers.
        if (IEquals(message[bhttp::field::expect], "100-continue")) {
            static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
            net::async_write(
                stream_, net::buffer(kContinue.data(), kContinue.size()),
                beast::bind_front_handler(&Connection::OnContinueWritten, shared_from_this()));
            return;
        }
        ReadBody();
    }

    void OnContinueWritten(beast::error_code ec, std::size_t /*bytes*/) {
        if (ec) {
            Close();
            return;
        }
        ReadBody();
    }

    void ReadBody() {
        if (spool_parser_) {
            bhttp::async_read(stream_, buffer_, *spool_parser_,
                              beast::bind_front_handler(&Connection::OnBody, shared_from_this()));
            return;
        }
        bhttp::async_read(stream_, buffer_, *parser_,
                          beast::bind_front_handler(&Connection::OnBody, shared_from_this()));
    }

    void OnBody(beast::error_code ec, std::size_t /*bytes*/) {
        if (!ec && spool_parser_ && spool_parser_->is_done()) {
            // An empty body never reaches the body reader: finish the spool here.
            if (auto& spool = spool_parser_->get().body(); !spool->Finish().ok()) {
                ec = boost::system::errc::make_error_code(boost::system::errc::io_error);
            }
        }
        if (ec == boost::system::errc::io_error) {
            spdlog::error("request {}: the upload could not be spooled", request_.request_id);
            SendError(Code::kUnavailable, "transient", "cannot receive the upload now");
            return;
        }
        if (ec) {
            OnReadError(ec);
            return;
        }
        OnRequestRead();
    }

    void OnReadError(beast::error_code ec) {
        if (ec == bhttp::error::header_limit) {
            SendError(Code::kInvalid, "too-costly", "request header fields too large", 431);
        } else if (ec == bhttp::error::body_limit) {
            SendError(Code::kTooLarge, "too-costly", "request body too large");
        } else if (ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category() &&
                   ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message) {
            SendError(Code::kInvalid, "invalid", "malformed HTTP request");
        } else {
            // Timeout (the stream already closed the socket), peer gone, or Stop().
            Close();
        }
    }

    /// Starts the clock and the in-flight gauge for a request whose header has arrived (or
    /// failed to).
    void BeginRequest() {
        request_ = Request{};
        request_.remote_addr = remote_addr_;
        request_.tls = stream_.IsTls();
        request_.client_cert = client_cert_;
        started_ = SteadyClock::now();
        match_ = RouteMatch{};
        if (!in_flight_counted_) {
            Metrics::Global().InFlight().fetch_add(1, std::memory_order_relaxed);
            in_flight_counted_ = true;
        }
        if (parser_ && parser_->is_header_done()) {
            const auto& fields = parser_->get();
            if (const auto it = fields.find("X-Request-Id");
                it != fields.end() && IsSafeRequestId(it->value())) {
                request_.request_id = std::string(it->value());
            }
        }
        if (request_.request_id.empty()) request_.request_id = NewRequestId();
    }

    void EndInFlight() {
        if (in_flight_counted_) {
            Metrics::Global().InFlight().fetch_sub(1, std::memory_order_relaxed);
            in_flight_counted_ = false;
        }
    }

    void OnRequestRead() {
        phase_ = Phase::kHandling;
        if (spool_parser_) {
            TakeMessage(spool_parser_->get());
            request_.upload = std::move(spool_parser_->get().body());
        } else {
            TakeMessage(parser_->get());
            request_.body = std::move(parser_->get().body());
        }
        Dispatch();
    }

    template <class Message>
    void TakeMessage(Message& message) {
        close_after_response_ = !message.keep_alive();
        for (const auto& field : message) {
            std::string name(field.name_string());
            for (char& c : name) {
                if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
            }
            auto [it, inserted] = request_.headers.try_emplace(std::move(name), field.value());
            if (!inserted) {
                // RFC 9110 §5.3: repeated fields combine with commas (Cookie with "; ").
                it->second += it->first == "cookie" ? "; " : ", ";
                it->second += field.value();
            }
        }
    }

    void Dispatch() {
        Response response;
        switch (match_.kind) {
            case RouteMatch::Kind::kFound:
                request_.route = *match_.route;
                if (!match_.options->run_inline && state_.workers) {
                    // Off the I/O thread: the handler may block on the store. Nothing else
                    // touches request_ or match_ while phase_ is kHandling; the response
                    // comes back through the strand.
                    net::post(*state_.workers, [self = shared_from_this()] {
                        Response r = self->CallHandler();
                        net::post(self->stream_.get_executor(), [self, r = std::move(r)]() mutable {
                            self->SendResponse(std::move(r));
                        });
                    });
                    return;
                }
                response = CallHandler();
                break;
            case RouteMatch::Kind::kNotFound:
                response = ErrorResponse(Code::kNotFound, "not-found", "no route for this path");
                break;
            case RouteMatch::Kind::kMethodNotAllowed:
                response = ErrorResponse(Code::kMethodNotAllowed, "not-supported",
                                         "method not allowed on this path");
                response.With("Allow", match_.allow);
                break;
        }
        SendResponse(std::move(response));
    }

    /// The error boundary (STYLE.md): a throwing handler is a bug; the client gets a generic
    /// 500 OperationOutcome and the log gets the request id.
    Response CallHandler() {
        try {
            return (*match_.handler)(request_);
        } catch (const std::exception& e) {
            spdlog::error("request {} route {}: handler threw: {}", request_.request_id,
                          request_.route, e.what());
        } catch (...) {
            spdlog::error("request {} route {}: handler threw a non-standard exception",
                          request_.request_id, request_.route);
        }
        return ErrorResponse(Error::Internal("handler exception"));
    }

    /// An error found while reading: respond and close (the rest of the input is not
    /// trustworthy as a request boundary).
    void SendError(Code code, std::string issue_code, std::string diagnostics,
                   int status_override = 0) {
        if (!header_done_) BeginRequest();
        header_done_ = true;
        phase_ = Phase::kHandling;
        close_after_response_ = true;
        Response response = ErrorResponse(code, std::move(issue_code), std::move(diagnostics));
        if (status_override != 0) response.status = status_override;
        SendResponse(std::move(response));
    }

    void SendResponse(Response&& response) {
        if (shutdown_requested_ || state_.stopping.load(std::memory_order_relaxed)) {
            close_after_response_ = true;
        }
        status_ = response.status;
        if (status_ < 100 || status_ > 999) status_ = 500;  // a handler bug; keep HTTP valid
        // The head is serialized by hand into a reused buffer and written together with the
        // body in one gather write: cheaper than Beast's field list and serializer, and
        // every byte here is under our control.
        head_text_.clear();
        head_text_ += version_ == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
        head_text_ += std::to_string(status_);
        head_text_ += ' ';
        head_text_ += bhttp::obsolete_reason(static_cast<bhttp::status>(status_));
        head_text_ += "\r\nServer: ";
        head_text_ += kServerName;
        head_text_ += "\r\nDate: ";
        head_text_ += CachedHttpDate();
        if (!response.content_type.empty() && IsSafeHeader("Content-Type", response.content_type)) {
            head_text_ += "\r\nContent-Type: ";
            head_text_ += response.content_type;
        }
        head_text_ += "\r\nX-Request-Id: ";
        head_text_ += request_.request_id;
        head_text_ += "\r\nX-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer";
        for (const auto& [name, value] : response.headers) {
            if (IsReservedHeader(name)) continue;
            if (!IsSafeHeader(name, value)) {
                spdlog::warn("request {}: dropped unsafe response header", request_.request_id);
                continue;
            }
            head_text_ += "\r\n";
            head_text_ += name;
            head_text_ += ": ";
            head_text_ += value;
        }
        // Static files set their own caching; everything else may carry health data.
        if (!HasHeader(response, "cache-control")) head_text_ += "\r\nCache-Control: no-store";
        if (close_after_response_) {
            head_text_ += "\r\nConnection: close";
        } else if (version_ == 10) {
            head_text_ += "\r\nConnection: keep-alive";
        }

        body_.clear();
        bytes_out_ = 0;
        body_stream_.reset();
        if (status_ < 200 || status_ == 204 || status_ == 304) {
            // RFC 9110 §6.4.1: these never have content (nor Content-Length).
        } else if (response.stream) {
            head_text_ += "\r\nContent-Length: ";
            head_text_ += std::to_string(response.stream->length);
            if (!head_) body_stream_ = std::move(response.stream);
        } else {
            head_text_ += "\r\nContent-Length: ";
            head_text_ += std::to_string(response.body.size());
            if (!head_) {  // HEAD: the GET headers, Content-Length included, no content
                body_ = std::move(response.body);
                bytes_out_ = body_.size();
            }
        }
        head_text_ += "\r\n\r\n";

        phase_ = Phase::kWriting;
        stream_.Tcp().expires_after(state_.options.write_timeout);
        const std::array<net::const_buffer, 2> buffers = {net::buffer(head_text_),
                                                          net::buffer(body_)};
        net::async_write(stream_, buffers,
                         beast::bind_front_handler(&Connection::OnWrite, shared_from_this()));
    }

    void OnWrite(beast::error_code ec, std::size_t /*bytes*/) {
        if (!ec && body_stream_) {
            PullStream();
            return;
        }
        FinishResponse(ec);
    }

    /// A streamed body: the next piece is made on a worker (it reads the store), written
    /// from the strand, and so on; the write deadline is re-armed per piece.
    void PullStream() {
        auto pull = [self = shared_from_this()] {
            Result<std::optional<std::string>> piece = Error::Internal("no stream");
            try {
                piece = self->body_stream_->next();
            } catch (const std::exception& e) {
                piece = Error::Internal(std::string("stream threw: ") + e.what());
            }
            net::post(self->stream_.get_executor(), [self, piece = std::move(piece)]() mutable {
                self->OnStreamPiece(std::move(piece));
            });
        };
        if (state_.workers) {
            net::post(*state_.workers, std::move(pull));
        } else {
            pull();
        }
    }

    void OnStreamPiece(Result<std::optional<std::string>> piece) {
        const uint64_t length = body_stream_->length;
        if (!piece.ok() || (!*piece && bytes_out_ != length) ||
            (*piece && bytes_out_ + (*piece)->size() > length)) {
            // The head promised `length` bytes: cutting the connection is the only honest
            // end (the client sees a short body, never a wrong one).
            spdlog::error("request {}: streamed body failed after {} of {} bytes: {}",
                          request_.request_id, bytes_out_, length,
                          piece.ok() ? "length mismatch" : piece.error().Summary());
            status_ = 500;
            close_after_response_ = true;
            body_stream_.reset();
            FinishResponse(boost::system::errc::make_error_code(boost::system::errc::io_error));
            return;
        }
        if (!*piece) {
            body_stream_.reset();
            FinishResponse({});
            return;
        }
        body_ = std::move(**piece);
        bytes_out_ += body_.size();
        stream_.Tcp().expires_after(state_.options.write_timeout);
        net::async_write(stream_, net::buffer(body_),
                         [self = shared_from_this()](beast::error_code ec, std::size_t) {
                             if (ec) {
                                 self->body_stream_.reset();
                                 self->FinishResponse(ec);
                                 return;
                             }
                             self->PullStream();
                         });
    }

    void FinishResponse(beast::error_code ec) {
        const auto elapsed = SteadyClock::now() - started_;
        RouteStats* stats = match_.stats != nullptr
                                ? match_.stats
                                : state_.unmatched_stats[MethodLabelIndex(request_.method)];
        stats->Record(status_, elapsed);
        EndInFlight();
        if (state_.options.access_log && spdlog::should_log(spdlog::level::info)) {
            // Route template only: raw paths and queries may carry patient data.
            spdlog::info("{} {} {} {} {:.3f} {}", request_.request_id,
                         request_.method.empty() ? "-" : request_.method,
                         match_.route != nullptr ? *match_.route : std::string("-"), status_,
                         std::chrono::duration<double, std::milli>(elapsed).count(), bytes_out_);
        }
        body_ = std::string();  // a large body is not kept for the connection's lifetime
        request_ = Request{};   // drop the body and headers now, not at the next request
        spool_parser_.reset();  // and the upload's spool (its file goes with it)
        if (ec) {
            Close();
            return;
        }
        if (close_after_response_ || shutdown_requested_) {
            LingeringClose();
            return;
        }
        first_request_ = false;
        ReadRequest();
    }

    void LingeringClose() {
        phase_ = Phase::kClosing;
        if (stream_.IsTls() && !shutdown_requested_) {
            // TLS first says it is done (close_notify, RFC 8446 §6.1), so that the client
            // can tell our end of data from a truncation; the whole tear-down, TLS and TCP,
            // shares one linger deadline.
            stream_.Tcp().expires_after(kLingerTimeout);
            stream_.AsyncShutdown(
                [self = shared_from_this()](beast::error_code) { self->LingerTcp(false); });
            return;
        }
        LingerTcp(true);
    }

    /// Half-closes TCP and drops what the client still sends until it closes or the linger
    /// deadline passes (armed here when `arm_deadline`).
    void LingerTcp(bool arm_deadline) {
        beast::error_code ec;
        stream_.Tcp().socket().shutdown(tcp::socket::shutdown_send, ec);
        if (ec || shutdown_requested_) {
            Close();
            return;
        }
        if (arm_deadline) stream_.Tcp().expires_after(kLingerTimeout);
        buffer_.clear();
        Drain();
    }

    void Drain() {
        // From the TCP layer: after our close_notify nothing the client sends is read.
        stream_.Tcp().async_read_some(
            buffer_.prepare(kDrainBytes),
            [self = shared_from_this()](beast::error_code ec, std::size_t) {
                if (ec) {
                    self->Close();
                    return;
                }
                self->Drain();
            });
    }

    void Close() {
        phase_ = Phase::kClosing;
        beast::error_code ec;
        stream_.Tcp().socket().shutdown(tcp::socket::shutdown_both, ec);
        stream_.Tcp().socket().close(ec);
    }

    ServerState& state_;
    ConnectionStream stream_;
    beast::flat_buffer buffer_;
    std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
    /// The same request once its route asked for a spooled body (after the header).
    std::optional<bhttp::request_parser<SpoolBody>> spool_parser_;
    /// The response's body when streamed (BodyStream), until its last piece is written.
    std::shared_ptr<BodyStream> body_stream_;
    std::string head_text_;  // status line and headers of the response being written
    std::string body_;       // its content
    std::string remote_addr_;
    /// TLS: the client certificate, from the handshake.
    std::optional<ClientCertificate> client_cert_;

    Phase phase_ = Phase::kIdle;
    bool first_request_ = true;
    bool deadline_armed_ = false;
    bool header_done_ = false;
    bool close_after_response_ = false;
    bool shutdown_requested_ = false;
    bool in_flight_counted_ = false;
    bool head_ = false;
    unsigned version_ = 11;

    // The request being processed.
    Request request_;
    RouteMatch match_;
    SteadyClock::time_point started_;
    int status_ = 0;
    size_t bytes_out_ = 0;
};

void ServerState::Accept() {
    // Each connection gets its own strand.
    acceptor.async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket s) {
        OnAccept(ec, std::move(s));
    });
}

void ServerState::OnAccept(beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || !acceptor.is_open()) return;  // Stop()
    if (ec) {
        // E.g. EMFILE: keep accepting; the listener must not die on a transient error.
        spdlog::warn("http: accept failed: {}", ec.message());
        Accept();
        return;
    }
    if (stopping.load(std::memory_order_relaxed)) return;
    size_t open_connections = 0;
    {
        std::lock_guard lock(conns_mu);
        open_connections = conns.size();
    }
    if (open_connections >= options.max_connections) {
        beast::error_code ignored;
        socket.close(ignored);
        Metrics::Global().Inc("carnet_http_connections_refused_total");
    } else {
        socket.set_option(tcp::no_delay(true), ec);
        std::make_shared<Connection>(*this, std::move(socket))->Start();
    }
    Accept();
}

}  // namespace

struct Server::Impl {
    Impl(ServerOptions options, Router& router) : state(std::move(options), router) {}

    ServerState state;
    std::mutex lifecycle_mu;
    std::condition_variable lifecycle_cv;
    bool started = false;
    bool stopped = false;
};

Server::Server(ServerOptions options, Router& router)
    : impl_(std::make_unique<Impl>(std::move(options), router)) {}

Server::~Server() { Stop(); }

Status Server::Start() {
    std::lock_guard lifecycle_lock(impl_->lifecycle_mu);
    ServerState& state = impl_->state;
    if (impl_->started) return Error::Internal("Server::Start called twice");
    const std::string where = state.options.host + ":" + std::to_string(state.options.port);

    beast::error_code ec;
    const auto address = net::ip::make_address(state.options.host, ec);
    if (ec) {
        Error error = Error::Make(Code::kInvalid, "invalid", "bad listen address " + where);
        error.detail = ec.message();
        return error;
    }
    const tcp::endpoint endpoint(address, state.options.port);
    const TlsOptions& tls = state.options.tls;
    if (!tls.cert_file.empty()) {
        auto context = NewServerTlsContext(tls);
        if (!context.ok()) return std::move(context).error();
        state.tls_context = std::move(context).value();
    } else if (!tls.key_file.empty() || !tls.client_ca_file.empty() || !tls.crl_file.empty()) {
        // Half a TLS configuration must not silently serve plain HTTP.
        return Error::Make(Code::kInvalid, "invalid",
                           "TLS options given without a certificate file");
    }
    auto fail = [&](const char* step) {
        Error error = Error::Make(Code::kUnavailable, "exception",
                                  std::string(step) + " " + where + " failed: " + ec.message());
        error.detail = ec.message();
        beast::error_code ignored;
        state.acceptor.close(ignored);
        return error;
    };
    state.acceptor.open(endpoint.protocol(), ec);
    if (ec) return fail("open");
    state.acceptor.set_option(net::socket_base::reuse_address(true), ec);
    if (ec) return fail("setsockopt");
    state.acceptor.bind(endpoint, ec);
    if (ec) return fail("bind");
    state.acceptor.listen(net::socket_base::max_listen_connections, ec);
    if (ec) return fail("listen");
    state.port = state.acceptor.local_endpoint(ec).port();
    if (ec) return fail("getsockname");

    state.work.emplace(net::make_work_guard(state.ioc));
    const int worker_count = state.options.workers > 0 ? state.options.workers : 32;
    state.workers.emplace(static_cast<size_t>(worker_count));
    state.Accept();
    const int thread_count = std::max(1, state.options.threads);
    for (int i = 0; i < thread_count; ++i) {
        state.threads.emplace_back([&state] {
            for (;;) {
                try {
                    state.ioc.run();
                    return;
                } catch (const std::exception& e) {
                    // Handlers run inside the error boundary; this is a bug in the server.
                    spdlog::error("http: io thread caught: {}", e.what());
                }
            }
        });
    }
    impl_->started = true;
    spdlog::info("http: listening on {}://{}:{} with {} I/O threads and {} workers",
                 state.tls_context ? "https" : "http", state.options.host, state.port, thread_count,
                 worker_count);
    return Ok();
}

void Server::Wait() {
    std::unique_lock lock(impl_->lifecycle_mu);
    impl_->lifecycle_cv.wait(lock, [this] { return !impl_->started || impl_->stopped; });
}

void Server::Stop() {
    std::unique_lock lifecycle_lock(impl_->lifecycle_mu);
    if (!impl_->started || impl_->stopped) return;
    ServerState& state = impl_->state;
    state.stopping.store(true);

    // 1. Stop accepting (the acceptor lives on its own strand).
    std::promise<void> acceptor_closed;
    net::post(state.acceptor.get_executor(), [&state, &acceptor_closed] {
        beast::error_code ignored;
        state.acceptor.close(ignored);
        acceptor_closed.set_value();
    });
    acceptor_closed.get_future().wait();

    // 2. Ask every connection to finish: idle ones close now, busy ones after responding.
    auto for_each_connection = [&state](auto action) {
        std::vector<std::shared_ptr<Connection>> live;
        {
            std::lock_guard lock(state.conns_mu);
            for (auto& [raw, weak] : state.conns) {
                if (auto conn = weak.lock()) live.push_back(std::move(conn));
            }
        }
        for (auto& conn : live) {
            net::post(conn->Executor(), [conn, action] { action(*conn); });
        }
    };
    for_each_connection([](Connection& conn) { conn.Shutdown(); });

    // 3. Wait for them, bounded.
    {
        std::unique_lock lock(state.conns_mu);
        const bool drained = state.conns_cv.wait_for(lock, state.options.shutdown_timeout,
                                                     [&state] { return state.conns.empty(); });
        if (!drained) {
            spdlog::warn("http: {} connections still open after {}s; closing them",
                         state.conns.size(), state.options.shutdown_timeout.count());
        }
    }
    for_each_connection([](Connection& conn) { conn.ForceClose(); });
    {
        // Closed sockets complete their pending operations with an error; give the strands a
        // moment to run those handlers so that connections unwind normally.
        std::unique_lock lock(state.conns_mu);
        state.conns_cv.wait_for(lock, std::chrono::seconds(1),
                                [&state] { return state.conns.empty(); });
    }

    // 4. Stop the threads. A handler still running is waited for: it cannot be interrupted.
    //    Workers first, while the I/O threads still run the responses they post.
    if (state.workers) state.workers->join();
    state.work.reset();
    state.ioc.stop();
    for (auto& thread : state.threads) thread.join();
    state.threads.clear();
    impl_->stopped = true;
    impl_->lifecycle_cv.notify_all();
    spdlog::info("http: stopped");
}

uint16_t Server::Port() const { return impl_->state.port; }

size_t Server::ConnectionCount() const {
    std::lock_guard lock(impl_->state.conns_mu);
    return impl_->state.conns.size();
}

}  // namespace carnet::http
