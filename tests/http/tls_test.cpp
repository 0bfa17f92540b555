// HTTPS on the listener and client certificates (health professional cards), against a
// throwaway PKI made by make-test-pki.sh with the openssl command line.
#include <openssl/ssl.h>
#include <stdlib.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>

#include "http/metrics.hpp"
#include "http/router.hpp"
#include "http/server.hpp"
#include "http/test_client.hpp"
#include "http/tls.hpp"

namespace carnet::http {
namespace {

using namespace std::chrono_literals;
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = net::ip::tcp;
using testing::HttpReply;
using testing::ReadReply;

/// 2021-01-01T00:00:00Z, the notAfter of client-expired.crt.
constexpr int64_t kExpiredNotAfterUs = 1'609'459'200'000'000;
/// The RPPS in the serialNumber of client-valid.crt ("8" + this).
constexpr std::string_view kValidRpps = "10001234565";

std::filesystem::path SourceDir() {
    if (const char* dir = std::getenv("CARNET_SOURCE_DIR"); dir != nullptr && *dir != '\0') {
        return dir;
    }
    // Run by hand, outside ctest: this file is tests/http/tls_test.cpp.
    return std::filesystem::path(__FILE__).parent_path().parent_path().parent_path();
}

Response Text(std::string body) {
    Response response;
    response.content_type = "text/plain";
    response.body = std::move(body);
    return response;
}

/// 1 MiB that is not one repeated byte: many TLS records, partial writes.
const std::string& BigBody() {
    static const std::string body = [] {
        std::string text(1 << 20, '\0');
        for (size_t i = 0; i < text.size(); ++i) text[i] = static_cast<char>('a' + i * 7 % 26);
        return text;
    }();
    return body;
}

/// What a handler sees of the connection, one "name=value" line each.
std::string Describe(const Request& request) {
    std::string text = "tls=" + std::string(request.tls ? "1" : "0") + "\n";
    if (!request.client_cert) return text + "cert=0\n";
    const ClientCertificate& cert = *request.client_cert;
    text += "cert=1\n";
    text += "verified=" + std::string(cert.verified ? "1" : "0") + "\n";
    text += "error=" + cert.error + "\n";
    text += "subject=" + cert.subject + "\n";
    text += "serial=" + cert.serial_hex + "\n";
    text += "not_after=" + std::to_string(cert.not_after_us) + "\n";
    text += "professional_id=" + cert.professional_id + "\n";
    return text;
}

std::map<std::string, std::string> ParseFacts(const std::string& text) {
    std::map<std::string, std::string> facts;
    size_t start = 0;
    while (start < text.size()) {
        size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        const std::string line = text.substr(start, end - start);
        const size_t equals = line.find('=');
        if (equals != std::string::npos) facts[line.substr(0, equals)] = line.substr(equals + 1);
        start = end + 1;
    }
    return facts;
}

/// A blocking test client over asio's SSL stream, every step bounded by a timeout (run
/// asynchronously on a private io_context). The raw TCP socket is reachable too, to send
/// bytes that are not TLS.
class TlsClient {
  public:
    TlsClient(uint16_t port, std::shared_ptr<ssl::context> context,
              std::chrono::milliseconds timeout = 5000ms)
        : context_(std::move(context)), stream_(io_, *context_), timeout_(timeout) {
        boost::system::error_code ec;
        stream_.next_layer().connect({net::ip::make_address("127.0.0.1"), port}, ec);
        connected_ = !ec;
        // The server's certificate must be for 127.0.0.1 and chain to the test CA.
        stream_.set_verify_mode(ssl::verify_peer);
        stream_.set_verify_callback(ssl::host_name_verification("127.0.0.1"));
    }

    ~TlsClient() {
        // Closing without close_notify would make OpenSSL mark the session not resumable
        // (ResumedSession* tests reuse it); a truncated close does not forbid resumption
        // since TLS 1.1.
        SSL_set_shutdown(native(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    }
    TlsClient(const TlsClient&) = delete;
    TlsClient& operator=(const TlsClient&) = delete;

    [[nodiscard]] bool connected() const { return connected_; }
    SSL* native() { return stream_.native_handle(); }

    bool Handshake() {
        boost::system::error_code result;
        const bool done = Run([&](auto&& on_done) {
            stream_.async_handshake(ssl::stream_base::client,
                                    [&result, on_done](boost::system::error_code ec) {
                                        result = ec;
                                        on_done();
                                    });
        });
        return done && !result;
    }

    bool Send(std::string_view bytes) { return Write(bytes, /*raw=*/false); }
    bool SendRaw(std::string_view bytes) { return Write(bytes, /*raw=*/true); }

    std::optional<HttpReply> Read() {
        return ReadReply(buffer_, false, [this] { return Fill(/*raw=*/false); });
    }

    /// True when the server ended the connection (TLS close_notify, EOF or reset) before
    /// the timeout; `raw`: read the TCP socket, not TLS.
    bool WaitClosed(bool raw = false) {
        while (Fill(raw)) {
        }
        return !timed_out_;
    }

  private:
    /// Starts an operation with `start(on_done)` and runs the io_context until it calls
    /// on_done or the timeout passes (then the socket is closed). False on timeout.
    template <typename Start>
    bool Run(Start start) {
        bool done = false;
        start([&done] { done = true; });
        io_.restart();
        io_.run_for(timeout_);
        if (!done) {
            timed_out_ = true;
            boost::system::error_code ignored;
            stream_.next_layer().close(ignored);
            io_.restart();
            io_.run();
        }
        return !timed_out_;
    }

    bool Write(std::string_view bytes, bool raw) {
        boost::system::error_code result;
        auto on_written = [&result](auto on_done) {
            return [&result, on_done](boost::system::error_code ec, std::size_t) {
                result = ec;
                on_done();
            };
        };
        const bool done = Run([&](auto on_done) {
            if (raw) {
                net::async_write(stream_.next_layer(), net::buffer(bytes.data(), bytes.size()),
                                 on_written(on_done));
            } else {
                net::async_write(stream_, net::buffer(bytes.data(), bytes.size()),
                                 on_written(on_done));
            }
        });
        return done && !result;
    }

    bool Fill(bool raw) {
        char data[8192];
        boost::system::error_code result;
        std::size_t size = 0;
        auto on_read = [&](auto on_done) {
            return [&result, &size, on_done](boost::system::error_code ec, std::size_t n) {
                result = ec;
                size = n;
                on_done();
            };
        };
        const bool done = Run([&](auto on_done) {
            if (raw) {
                stream_.next_layer().async_read_some(net::buffer(data), on_read(on_done));
            } else {
                stream_.async_read_some(net::buffer(data), on_read(on_done));
            }
        });
        if (!done || result) return false;
        buffer_.append(data, size);
        return true;
    }

    net::io_context io_;
    std::shared_ptr<ssl::context> context_;
    ssl::stream<tcp::socket> stream_;
    std::chrono::milliseconds timeout_;
    bool connected_ = false;
    bool timed_out_ = false;
    std::string buffer_;
};

std::string Get(const std::string& target, bool close = true) {
    return "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
           (close ? "Connection: close\r\n" : "") + "\r\n";
}

class TlsTest : public ::testing::Test {
  protected:
    /// One fresh PKI per test process, removed at the end.
    static void SetUpTestSuite() {
        std::string dir_template =
            (std::filesystem::temp_directory_path() / "carnet-tls-XXXXXX").string();
        if (::mkdtemp(dir_template.data()) == nullptr) return;
        pki_dir_ = dir_template;
        const std::filesystem::path script = SourceDir() / "tests" / "http" / "make-test-pki.sh";
        const std::string command =
            "sh '" + script.string() + "' '" + pki_dir_.string() + "' >/dev/null";
        pki_ready_ = std::system(command.c_str()) == 0;
    }

    static void TearDownTestSuite() {
        std::error_code ignored;
        if (!pki_dir_.empty()) std::filesystem::remove_all(pki_dir_, ignored);
    }

    void SetUp() override {
        ASSERT_TRUE(pki_ready_) << "make-test-pki.sh failed (is openssl installed?) in "
                                << pki_dir_;
        router_.Add("GET", "/whoami", [](Request& request) { return Text(Describe(request)); });
        router_.Add("GET", "/slow", [this](Request& request) {
            slow_entered_ = true;
            std::this_thread::sleep_for(1s);
            return Text(Describe(request));
        });
        router_.Add("POST", "/size", [](Request& request) {
            return Text(std::to_string(request.body.size()) + " " + BigBody().substr(0, 16));
        });
        router_.Add("GET", "/big", [](Request&) { return Text(BigBody()); });
        router_.Add("GET", "/throw", [](Request&) -> Response {
            throw std::runtime_error("Jane Doe has condition X");
        });
    }

    void TearDown() override {
        if (server_) server_->Stop();
    }

    static std::string Pki(const std::string& name) { return (pki_dir_ / name).string(); }

    /// HTTPS with client certificates requested, checked against ca.crt and ca.crl.
    static ServerOptions TlsOptionsForTest(bool with_crl = true) {
        ServerOptions options;
        options.port = 0;
        options.threads = 2;
        options.read_timeout = 5s;
        options.idle_timeout = 5s;
        options.shutdown_timeout = 5s;
        options.access_log = false;
        options.tls.cert_file = Pki("server.crt");
        options.tls.key_file = Pki("server.key");
        options.tls.client_ca_file = Pki("ca.crt");
        if (with_crl) options.tls.crl_file = Pki("ca.crl");
        return options;
    }

    void StartServer(ServerOptions options = TlsOptionsForTest()) {
        server_ = std::make_unique<Server>(options, router_);
        const Status status = server_->Start();
        ASSERT_TRUE(status.ok()) << status.error().Summary();
        port_ = server_->Port();
    }

    /// A client context trusting the test CA, presenting client-<card>.crt unless `card` is
    /// empty; `max_version` (e.g. TLS1_2_VERSION) caps the protocol.
    static std::shared_ptr<ssl::context> ClientContext(const std::string& card,
                                                       int max_version = 0) {
        auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
        context->load_verify_file(Pki("ca.crt"));
        if (!card.empty()) {
            context->use_certificate_chain_file(Pki("client-" + card + ".crt"));
            context->use_private_key_file(Pki("client-" + card + ".key"), ssl::context::pem);
        }
        if (max_version != 0) SSL_CTX_set_max_proto_version(context->native_handle(), max_version);
        return context;
    }

    /// GET /whoami over a new connection presenting `card`: the facts the handler saw.
    std::map<std::string, std::string> WhoAmI(const std::string& card, int max_version = 0) {
        TlsClient client(port_, ClientContext(card, max_version));
        if (!client.connected() || !client.Handshake()) {
            ADD_FAILURE() << "TLS handshake failed with card '" << card << "'";
            return {};
        }
        if (!client.Send(Get("/whoami"))) return {};
        const auto reply = client.Read();
        if (!reply || reply->status != 200) {
            ADD_FAILURE() << "no 200 reply with card '" << card << "'";
            return {};
        }
        return ParseFacts(reply->body);
    }

    static inline std::filesystem::path pki_dir_;
    static inline bool pki_ready_ = false;

    Router router_;
    std::unique_ptr<Server> server_;
    uint16_t port_ = 0;
    std::atomic<bool> slow_entered_{false};
};

TEST(ProfessionalIdTest, ElevenDigitsOrIgcSanteTwelve) {
    EXPECT_EQ(ProfessionalIdFromSerialNumber("10001234565"), "10001234565");
    EXPECT_EQ(ProfessionalIdFromSerialNumber("810001234565"), "10001234565");
    EXPECT_EQ(ProfessionalIdFromSerialNumber("010001234565"), "");  // another id type
    EXPECT_EQ(ProfessionalIdFromSerialNumber("1000123456"), "");
    EXPECT_EQ(ProfessionalIdFromSerialNumber("8100012345650"), "");
    EXPECT_EQ(ProfessionalIdFromSerialNumber("8100012345a5"), "");
    EXPECT_EQ(ProfessionalIdFromSerialNumber("81000123456 "), "");
    EXPECT_EQ(ProfessionalIdFromSerialNumber(""), "");
}

TEST_F(TlsTest, ValidCardIsVerifiedWithItsProfessionalId) {
    StartServer();
    const auto facts = WhoAmI("valid");
    EXPECT_EQ(facts.at("tls"), "1");
    ASSERT_EQ(facts.at("cert"), "1");
    EXPECT_EQ(facts.at("verified"), "1");
    EXPECT_EQ(facts.at("error"), "");
    EXPECT_EQ(facts.at("professional_id"), kValidRpps);
    // RFC 2253 order (most specific first), UTF-8 kept readable.
    EXPECT_EQ(facts.at("subject"),
              "GN=Hélène,SN=Martin,CN=Hélène Martin,serialNumber=810001234565,"
              "O=Carnet Test,C=FR");
    EXPECT_EQ(facts.at("serial"), "1001");  // the CA's second certificate (server.crt first)
    // Issued for 365 days.
    const int64_t now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
    const int64_t not_after_us = std::stoll(facts.at("not_after"));
    constexpr int64_t kDayUs = 86'400'000'000;
    EXPECT_GT(not_after_us, now_us + 364 * kDayUs);
    EXPECT_LT(not_after_us, now_us + 366 * kDayUs);
}

TEST_F(TlsTest, ValidCardOverTls12) {
    // TLS 1.2 sends the client certificate inside the handshake, TLS 1.3 after the server's
    // Finished: both must yield the facts.
    StartServer();
    TlsClient client(port_, ClientContext("valid", TLS1_2_VERSION));
    ASSERT_TRUE(client.Handshake());
    EXPECT_EQ(SSL_version(client.native()), TLS1_2_VERSION);
    ASSERT_TRUE(client.Send(Get("/whoami")));
    const auto reply = client.Read();
    ASSERT_TRUE(reply);
    const auto facts = ParseFacts(reply->body);
    EXPECT_EQ(facts.at("verified"), "1");
    EXPECT_EQ(facts.at("professional_id"), kValidRpps);
}

TEST_F(TlsTest, DefaultIsTls13) {
    StartServer();
    TlsClient client(port_, ClientContext(""));
    ASSERT_TRUE(client.Handshake());
    EXPECT_EQ(SSL_version(client.native()), TLS1_3_VERSION);
}

TEST_F(TlsTest, ExpiredCardIsNotVerified) {
    StartServer();
    const auto facts = WhoAmI("expired");
    ASSERT_EQ(facts.at("cert"), "1");
    EXPECT_EQ(facts.at("verified"), "0");
    EXPECT_NE(facts.at("error").find("expired"), std::string::npos) << facts.at("error");
    EXPECT_EQ(facts.at("not_after"), std::to_string(kExpiredNotAfterUs));
    EXPECT_EQ(facts.at("professional_id"), "");  // never from an unverified certificate
}

TEST_F(TlsTest, RevokedCardIsNotVerified) {
    StartServer();
    const auto facts = WhoAmI("revoked");
    ASSERT_EQ(facts.at("cert"), "1");
    EXPECT_EQ(facts.at("verified"), "0");
    EXPECT_NE(facts.at("error").find("revoked"), std::string::npos) << facts.at("error");
    EXPECT_EQ(facts.at("professional_id"), "");
}

TEST_F(TlsTest, RevocationIsOnlyCheckedWithACrl) {
    StartServer(TlsOptionsForTest(/*with_crl=*/false));
    const auto facts = WhoAmI("revoked");
    EXPECT_EQ(facts.at("verified"), "1");
}

TEST_F(TlsTest, CardFromAForeignCaIsNotVerified) {
    StartServer();
    const auto facts = WhoAmI("foreign");
    ASSERT_EQ(facts.at("cert"), "1");
    EXPECT_EQ(facts.at("verified"), "0");
    // The first reason, not a later consequence (no CRL, leaf signature unverifiable).
    EXPECT_EQ(facts.at("error"), "unable to get local issuer certificate");
    EXPECT_EQ(facts.at("professional_id"), "");
}

TEST_F(TlsTest, SelfSignedCardIsNotVerified) {
    StartServer();
    const auto facts = WhoAmI("selfsigned");
    ASSERT_EQ(facts.at("cert"), "1");
    EXPECT_EQ(facts.at("verified"), "0");
    EXPECT_NE(facts.at("error").find("self"), std::string::npos) << facts.at("error");
    EXPECT_EQ(facts.at("professional_id"), "");
}

TEST_F(TlsTest, CardWithoutIdIsVerifiedWithoutProfessionalId) {
    StartServer();
    const auto facts = WhoAmI("noid");
    ASSERT_EQ(facts.at("cert"), "1");
    EXPECT_EQ(facts.at("verified"), "1");
    EXPECT_EQ(facts.at("professional_id"), "");
}

TEST_F(TlsTest, NoCardIsServedWithoutClientCert) {
    StartServer();
    const auto facts = WhoAmI("");
    EXPECT_EQ(facts.at("tls"), "1");
    EXPECT_EQ(facts.at("cert"), "0");
}

TEST_F(TlsTest, WithoutClientCaNoCardIsRequested) {
    ServerOptions options = TlsOptionsForTest(/*with_crl=*/false);
    options.tls.client_ca_file.clear();
    StartServer(options);
    const auto facts = WhoAmI("valid");  // the client has a card, the server does not ask
    EXPECT_EQ(facts.at("tls"), "1");
    EXPECT_EQ(facts.at("cert"), "0");
}

TEST_F(TlsTest, PlainServerSaysNotTls) {
    ServerOptions options = TlsOptionsForTest();
    options.tls = TlsOptions{};
    StartServer(options);
    const auto reply = testing::Fetch(port_, "GET", "/whoami");
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->body, "tls=0\ncert=0\n");
}

TEST_F(TlsTest, EveryRequestOfAConnectionCarriesTheCard) {
    StartServer();
    TlsClient client(port_, ClientContext("valid"));
    ASSERT_TRUE(client.Handshake());
    for (int i = 0; i < 3; ++i) {
        ASSERT_TRUE(client.Send(Get("/whoami", /*close=*/false)));
        const auto reply = client.Read();
        ASSERT_TRUE(reply) << i;
        EXPECT_EQ(ParseFacts(reply->body).at("professional_id"), kValidRpps) << i;
    }
}

TEST_F(TlsTest, ResumedSessionKeepsTheCard) {
    StartServer();
    auto context = ClientContext("valid");
    SSL_SESSION* session = nullptr;
    {
        TlsClient first(port_, context);
        ASSERT_TRUE(first.Handshake());
        ASSERT_TRUE(first.Send(Get("/whoami", /*close=*/false)));
        ASSERT_TRUE(first.Read());  // TLS 1.3 session tickets arrive after the handshake
        session = SSL_get1_session(first.native());
    }
    ASSERT_NE(session, nullptr);
    TlsClient second(port_, context);
    SSL_set_session(second.native(), session);
    SSL_SESSION_free(session);
    ASSERT_TRUE(second.Handshake());
    EXPECT_EQ(SSL_session_reused(second.native()), 1);
    ASSERT_TRUE(second.Send(Get("/whoami")));
    const auto reply = second.Read();
    ASSERT_TRUE(reply);
    const auto facts = ParseFacts(reply->body);
    EXPECT_EQ(facts.at("verified"), "1");
    EXPECT_EQ(facts.at("professional_id"), kValidRpps);
}

TEST_F(TlsTest, ResumedSessionKeepsTheReason) {
    StartServer();
    auto context = ClientContext("foreign");
    SSL_SESSION* session = nullptr;
    {
        TlsClient first(port_, context);
        ASSERT_TRUE(first.Handshake());
        ASSERT_TRUE(first.Send(Get("/whoami", /*close=*/false)));
        ASSERT_TRUE(first.Read());
        session = SSL_get1_session(first.native());
    }
    ASSERT_NE(session, nullptr);
    TlsClient second(port_, context);
    SSL_set_session(second.native(), session);
    SSL_SESSION_free(session);
    ASSERT_TRUE(second.Handshake());
    EXPECT_EQ(SSL_session_reused(second.native()), 1);
    ASSERT_TRUE(second.Send(Get("/whoami")));
    const auto reply = second.Read();
    ASSERT_TRUE(reply);
    const auto facts = ParseFacts(reply->body);
    EXPECT_EQ(facts.at("verified"), "0");
    EXPECT_FALSE(facts.at("error").empty());
}

TEST_F(TlsTest, LargeBodiesBothWays) {
    StartServer();
    TlsClient client(port_, ClientContext("valid"));
    ASSERT_TRUE(client.Handshake());
    ASSERT_TRUE(client.Send("POST /size HTTP/1.1\r\nHost: t\r\nContent-Length: " +
                            std::to_string(BigBody().size()) + "\r\n\r\n" + BigBody()));
    auto reply = client.Read();
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->body, std::to_string(BigBody().size()) + " " + BigBody().substr(0, 16));
    ASSERT_TRUE(client.Send(Get("/big", /*close=*/false)));
    reply = client.Read();
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->status, 200);
    EXPECT_TRUE(reply->body == BigBody()) << reply->body.size();
}

TEST_F(TlsTest, LimitsAndErrorBoundaryApplyOverTls) {
    StartServer();
    {
        TlsClient client(port_, ClientContext("valid"));
        ASSERT_TRUE(client.Handshake());
        ASSERT_TRUE(client.Send("GET /whoami HTTP/1.1\r\nHost: t\r\nX-Big: " +
                                std::string(32 * 1024, 'a') + "\r\n\r\n"));
        const auto reply = client.Read();
        ASSERT_TRUE(reply);
        EXPECT_EQ(reply->status, 431);
        EXPECT_EQ(reply->Header("connection"), "close");
        EXPECT_TRUE(client.WaitClosed());
    }
    {
        TlsClient client(port_, ClientContext("valid"));
        ASSERT_TRUE(client.Handshake());
        ASSERT_TRUE(client.Send(Get("/throw")));
        const auto reply = client.Read();
        ASSERT_TRUE(reply);
        EXPECT_EQ(reply->status, 500);
        EXPECT_EQ(reply->body.find("Jane"), std::string::npos);
    }
}

TEST_F(TlsTest, PlainHttpOnTheTlsPortIsClosed) {
    StartServer();
    const int64_t failures_before =
        Metrics::Global().Value("carnet_http_tls_handshake_failures_total");
    TlsClient plain(port_, ClientContext(""));
    ASSERT_TRUE(plain.SendRaw(Get("/whoami")));
    EXPECT_TRUE(plain.WaitClosed(/*raw=*/true));
    EXPECT_GT(Metrics::Global().Value("carnet_http_tls_handshake_failures_total"), failures_before);
    // The server is unharmed.
    EXPECT_EQ(WhoAmI("valid").at("verified"), "1");
}

TEST_F(TlsTest, SilentOrStalledHandshakeIsCutAfterReadTimeout) {
    ServerOptions options = TlsOptionsForTest();
    options.read_timeout = 1s;
    StartServer(options);
    const auto start = std::chrono::steady_clock::now();
    TlsClient silent(port_, ClientContext(""));
    TlsClient stalled(port_, ClientContext(""));
    // A TLS record header announcing a ClientHello that never comes.
    ASSERT_TRUE(stalled.SendRaw(std::string_view("\x16\x03\x01\x02\x00", 5)));
    // Meanwhile others are served.
    EXPECT_EQ(WhoAmI("valid").at("verified"), "1");
    EXPECT_TRUE(silent.WaitClosed(/*raw=*/true));
    EXPECT_TRUE(stalled.WaitClosed(/*raw=*/true));
    const auto elapsed = std::chrono::steady_clock::now() - start;
    EXPECT_GE(elapsed, 900ms);
    EXPECT_LT(elapsed, 3s);
}

TEST_F(TlsTest, FirstRequestAfterTheHandshakeIsBoundedToo) {
    ServerOptions options = TlsOptionsForTest();
    options.read_timeout = 1s;
    StartServer(options);
    TlsClient client(port_, ClientContext("valid"));
    ASSERT_TRUE(client.Handshake());
    const auto start = std::chrono::steady_clock::now();
    ASSERT_TRUE(client.Send("GET /whoami HTTP/1.1\r\nHost: t\r\n"));  // half the header
    EXPECT_TRUE(client.WaitClosed());
    const auto elapsed = std::chrono::steady_clock::now() - start;
    EXPECT_GE(elapsed, 900ms);
    EXPECT_LT(elapsed, 3s);
}

TEST_F(TlsTest, StopsCleanlyWithTlsConnectionsOpen) {
    StartServer();
    TlsClient idle(port_, ClientContext("valid"));  // keep-alive, between requests
    ASSERT_TRUE(idle.Handshake());
    ASSERT_TRUE(idle.Send(Get("/whoami", /*close=*/false)));
    ASSERT_TRUE(idle.Read());
    TlsClient handshaking(port_, ClientContext(""));  // connected, never says hello
    TlsClient busy(port_, ClientContext("valid"));
    ASSERT_TRUE(busy.Handshake());
    ASSERT_TRUE(busy.Send(Get("/slow", /*close=*/false)));
    while (!slow_entered_) std::this_thread::sleep_for(5ms);

    const auto start = std::chrono::steady_clock::now();
    auto stopped = std::async(std::launch::async, [this] { server_->Stop(); });
    const auto reply = busy.Read();  // the request in flight finishes
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->status, 200);
    EXPECT_EQ(reply->Header("connection"), "close");
    EXPECT_EQ(ParseFacts(reply->body).at("professional_id"), kValidRpps);
    stopped.wait();
    EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
    EXPECT_EQ(server_->ConnectionCount(), 0U);
    EXPECT_TRUE(idle.WaitClosed());
    EXPECT_TRUE(handshaking.WaitClosed(/*raw=*/true));
}

TEST_F(TlsTest, KeyMayShareTheCertificateFile) {
    const std::string combined = Pki("server-combined.pem");
    const std::string command =
        "cat '" + Pki("server.crt") + "' '" + Pki("server.key") + "' > '" + combined + "'";
    ASSERT_EQ(std::system(command.c_str()), 0);
    ServerOptions options = TlsOptionsForTest();
    options.tls.cert_file = combined;
    options.tls.key_file.clear();
    StartServer(options);
    EXPECT_EQ(WhoAmI("valid").at("verified"), "1");
}

TEST_F(TlsTest, BadConfigurationIsAStartError) {
    auto expect_start_error = [this](const ServerOptions& options, std::string_view mention) {
        Server server(options, router_);
        const Status status = server.Start();
        ASSERT_FALSE(status.ok()) << "expected an error mentioning " << mention;
        EXPECT_EQ(status.error().code, Code::kInvalid);
        EXPECT_NE(status.error().Summary().find(mention), std::string::npos)
            << status.error().Summary();
    };
    ServerOptions options = TlsOptionsForTest();
    options.tls.cert_file = Pki("missing.crt");
    expect_start_error(options, "missing.crt");

    options = TlsOptionsForTest();
    options.tls.key_file = Pki("client-valid.key");  // not the server's
    expect_start_error(options, "client-valid.key");

    options = TlsOptionsForTest();
    options.tls.client_ca_file = Pki("ca.crl");  // no certificate in it
    expect_start_error(options, "ca.crl");

    options = TlsOptionsForTest();
    options.tls.crl_file = Pki("ca.crt");  // no CRL in it
    expect_start_error(options, "CRL");

    options = TlsOptionsForTest();
    options.tls.client_ca_file.clear();  // a CRL without CAs
    expect_start_error(options, "CRL");

    options = TlsOptionsForTest();
    options.tls.cert_file.clear();  // half a configuration is not plain HTTP
    expect_start_error(options, "without a certificate");
}

}  // namespace
}  // namespace carnet::http
