#pragma once
/// A raw-socket HTTP/1.1 client for the server tests: it sends exactly the bytes it is given
/// (so tests can send malformed input) and parses responses by hand.
#include <sys/socket.h>
#include <sys/time.h>

#include <cctype>
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

namespace carnet::http::testing {

struct HttpReply {
    int status = 0;
    std::map<std::string, std::string> headers;  // lower-cased names
    std::string body;

    [[nodiscard]] std::string Header(const std::string& lower_name) const {
        auto it = headers.find(lower_name);
        return it == headers.end() ? std::string() : it->second;
    }
    [[nodiscard]] bool Has(const std::string& lower_name) const {
        return headers.count(lower_name) != 0;
    }
};

/// Parses one response from the front of `buffer`, calling `fill()` (appends to `buffer`;
/// false on EOF, error or timeout) until it is complete. `head`: the request was HEAD.
template <typename Fill>
std::optional<HttpReply> ReadReply(std::string& buffer, bool head, Fill&& fill) {
    size_t header_end;
    while ((header_end = buffer.find("\r\n\r\n")) == std::string::npos) {
        if (!fill()) return std::nullopt;
    }
    HttpReply reply;
    const std::string head_text = buffer.substr(0, header_end);
    buffer.erase(0, header_end + 4);
    size_t line_end = head_text.find("\r\n");
    const std::string status_line = head_text.substr(0, line_end);
    if (status_line.size() < 12) return std::nullopt;
    reply.status = std::stoi(status_line.substr(9, 3));
    while (line_end != std::string::npos) {
        const size_t start = line_end + 2;
        line_end = head_text.find("\r\n", start);
        const std::string line = head_text.substr(
            start, line_end == std::string::npos ? std::string::npos : line_end - start);
        const size_t colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string name = line.substr(0, colon);
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        std::string value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.erase(0, 1);
        reply.headers[name] = value;
    }
    if (head || reply.status < 200 || reply.status == 204 || reply.status == 304) {
        return reply;
    }
    if (reply.Has("content-length")) {
        const size_t length = std::stoul(reply.Header("content-length"));
        while (buffer.size() < length) {
            if (!fill()) return std::nullopt;
        }
        reply.body = buffer.substr(0, length);
        buffer.erase(0, length);
    } else {
        while (fill()) {
        }
        reply.body = std::move(buffer);
        buffer.clear();
    }
    return reply;
}

class RawClient {
  public:
    explicit RawClient(uint16_t port,
                       std::chrono::milliseconds timeout = std::chrono::milliseconds(5000))
        : socket_(io_) {
        boost::system::error_code ec;
        socket_.connect({boost::asio::ip::make_address("127.0.0.1"), port}, ec);
        connected_ = !ec;
        SetTimeout(timeout);
    }

    [[nodiscard]] bool connected() const { return connected_; }

    void SetTimeout(std::chrono::milliseconds timeout) {
        timeval tv{};
        tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
        tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
        ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }

    bool Send(std::string_view bytes) {
        boost::system::error_code ec;
        boost::asio::write(socket_, boost::asio::buffer(bytes.data(), bytes.size()), ec);
        return !ec;
    }

    /// Reads one response. `head`: the request was HEAD (no body follows). nullopt when the
    /// connection closed or timed out first.
    std::optional<HttpReply> Read(bool head = false) {
        return ReadReply(buffer_, head, [this] { return Fill(); });
    }

    /// True when the server closed the connection (EOF or reset) before the receive timeout,
    /// discarding anything it still sends.
    bool WaitClosed() {
        for (;;) {
            char data[4096];
            boost::system::error_code ec;
            socket_.read_some(boost::asio::buffer(data), ec);
            if (!ec) continue;
            return ec == boost::asio::error::eof || ec == boost::asio::error::connection_reset;
        }
    }

  private:
    bool Fill() {
        char data[8192];
        boost::system::error_code ec;
        const size_t n = socket_.read_some(boost::asio::buffer(data), ec);
        if (ec) return false;
        buffer_.append(data, n);
        return true;
    }

    boost::asio::io_context io_;
    boost::asio::ip::tcp::socket socket_;
    bool connected_ = false;
    std::string buffer_;
};

/// One request on a fresh connection.
inline std::optional<HttpReply> Fetch(uint16_t port, std::string_view method,
                                      std::string_view target, std::string_view extra = {}) {
    RawClient client(port);
    std::string request = std::string(method) + " " + std::string(target) +
                          " HTTP/1.1\r\nHost: test\r\n" + std::string(extra) + "\r\n";
    if (!client.Send(request)) return std::nullopt;
    return client.Read(method == "HEAD");
}

}  // namespace carnet::http::testing
