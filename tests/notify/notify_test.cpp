// The notification outbox on both engines, the French templates, and the transports
// against real servers: an SMTP server (Debian's python3-aiosmtpd, started here on
// 127.0.0.1) and an SMS gateway played by Carnet's own HTTP server.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "auth/service.hpp"
#include "core/clock.hpp"
#include "core/ids.hpp"
#include "crypto/crypto.hpp"
#include "http/router.hpp"
#include "http/server.hpp"
#include "notify/notify.hpp"
#include "store/open.hpp"

extern char** environ;

namespace carnet::notify {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using store::AsInt;
using store::AsText;

constexpr int64_t kT0 = 1'800'000'000'000'000;  // a fixed "now" in microseconds
constexpr int64_t kSecond = 1'000'000;

std::string ReadFile(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

std::vector<fs::path> FilesIn(const fs::path& dir) {
    std::vector<fs::path> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
        if (e.is_regular_file()) out.push_back(e.path());
    }
    return out;
}

bool PortOpen(uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    return ok;
}

uint16_t FreePort() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    const uint16_t port = ntohs(addr.sin_port);
    ::close(fd);
    return port;
}

/// A transport that fails the first `failures` sends, then records what it delivers.
class ScriptedTransport final : public Transport {
  public:
    explicit ScriptedTransport(int failures) : failures_(failures) {}
    Status Send(const Message& m) override {
        std::lock_guard lock(mu_);
        ++calls_;
        if (failures_ > 0) {
            --failures_;
            return Error::Make(Code::kUnavailable, "transient", "relay down");
        }
        delivered_.push_back(m);
        return Ok();
    }
    [[nodiscard]] std::string Name() const override { return "scripted"; }
    int calls() {
        std::lock_guard lock(mu_);
        return calls_;
    }
    std::vector<Message> delivered() {
        std::lock_guard lock(mu_);
        return delivered_;
    }

  private:
    std::mutex mu_;
    int failures_;
    int calls_ = 0;
    std::vector<Message> delivered_;
};

// ---- templates ---------------------------------------------------------------------------

TEST(Templates, EveryTemplateRendersOnEveryChannelInFrench) {
    for (const auto& name : TemplateNames()) {
        // The declared parameters are discovered by trying: a missing one is named.
        Params params;
        for (int i = 0; i < 5; ++i) {
            auto r = Render(Channel::kEmail, name, params);
            if (r.ok()) break;
            const std::string msg = r.error().Summary();
            const auto pos = msg.find("needs the parameter ");
            ASSERT_NE(pos, std::string::npos) << msg;
            params[msg.substr(pos + 20)] = "X1";
        }
        for (Channel c : {Channel::kEmail, Channel::kSms, Channel::kInApp}) {
            auto r = Render(c, name, params);
            ASSERT_TRUE(r.ok()) << name;
            EXPECT_FALSE(r->subject.empty()) << name;
            EXPECT_EQ(r->text.find("{{"), std::string::npos) << name << ": unfilled placeholder";
            EXPECT_NE(r->text.find("Carnet"), std::string::npos) << name;
            if (c == Channel::kSms) {
                EXPECT_LE(r->text.size(), 160U) << name << " SMS too long";
            }
        }
    }
    auto code = Render(Channel::kEmail, "login_code", {{"code", "482910"}, {"minutes", "10"}});
    ASSERT_TRUE(code.ok());
    EXPECT_NE(code->text.find("482910"), std::string::npos);
    EXPECT_NE(code->text.find("Votre code de connexion"), std::string::npos);
}

TEST(Templates, RefuseUnknownTemplatesAndUndeclaredParameters) {
    EXPECT_FALSE(Render(Channel::kEmail, "no_such_template", {}).ok());
    // The guard against health content: a parameter the template does not declare.
    auto extra = Render(Channel::kEmail, "document_added",
                        {{"portal_url", "https://x"}, {"title", "Compte rendu VIH"}});
    ASSERT_FALSE(extra.ok());
    EXPECT_EQ(extra.error().code, Code::kInvalid);
    EXPECT_FALSE(Render(Channel::kEmail, "login_code", {{"code", "1"}}).ok());  // missing
    EXPECT_FALSE(
        Render(Channel::kEmail, "login_code", {{"code", "1\r\nBcc: x@y"}, {"minutes", "10"}}).ok());
}

TEST(EmailFormat, HeadersAreRfc5322AndTheSubjectIsEncoded) {
    Message m{"abc", Channel::kEmail, "jeanne@example.org",
              Rendered{"Réinitialisation de votre mot de passe Carnet", "ligne 1\nligne 2"}, 0};
    const std::string mail = FormatEmail(m, "Carnet <no-reply@example.org>", kT0);
    EXPECT_NE(mail.find("To: <jeanne@example.org>\r\n"), std::string::npos);
    EXPECT_NE(mail.find("Subject: =?UTF-8?B?"), std::string::npos);
    EXPECT_NE(mail.find("Content-Type: text/plain; charset=UTF-8\r\n"), std::string::npos);
    EXPECT_NE(mail.find("Date: "), std::string::npos);
    EXPECT_NE(mail.find(" +0000\r\n"), std::string::npos);
    EXPECT_NE(mail.find("\r\n\r\nligne 1\r\nligne 2\r\n"), std::string::npos);
    for (size_t start = 0, end; (end = mail.find("\r\n", start)) != std::string::npos;
         start = end + 2) {
        EXPECT_LE(end - start, 78U) << "header line too long";
        if (end == start) break;  // headers end
    }
}

// ---- the outbox on both engines ---------------------------------------------------------

class OutboxTest : public ::testing::TestWithParam<std::string> {
  protected:
    void SetUp() override {
        crypto::Init();
        store::StoreOptions o;
        o.engine = GetParam();
        if (GetParam() == "postgres") {
            const char* dsn = std::getenv("CARNET_TEST_PG");
            if (!dsn || !*dsn) GTEST_SKIP() << "CARNET_TEST_PG not set";
            o.pg_dsn = dsn;
        }
        dir_ = fs::temp_directory_path() / ("carnet-notify-" + NewUuid());
        o.data_dir = dir_;
        auto s = store::OpenStore(o, crypto::MasterKey::FromKeyForTest(crypto::NewKey()));
        ASSERT_TRUE(s.ok()) << s.error().Summary() << " " << s.error().detail;
        store_ = std::move(s).value();
        ASSERT_TRUE(store_
                        ->Write([](store::WriteTxn& txn) -> Status {
                            CARNET_CHECK(txn.Exec("DELETE FROM outbox"));
                            CARNET_CHECK(txn.Exec("DELETE FROM inbox"));
                            return Ok();
                        })
                        .ok());
    }
    void TearDown() override {
        if (store_) store_->Close();
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }

    Result<std::string> EnqueueCode(Channel c, const std::string& to, const std::string& code) {
        std::string id;
        Status s = store_->Write([&](store::WriteTxn& txn) -> Status {
            CARNET_TRY(
                id, Enqueue(txn,
                            {c, to, "login_code", {{"code", code}, {"minutes", "10"}}, "patient-1"},
                            kT0));
            return Ok();
        });
        if (!s.ok()) return s.error();
        return id;
    }

    std::vector<store::Row> Rows(const std::string& sql) {
        auto reader = store_->OpenReader();
        EXPECT_TRUE(reader.ok());
        auto rows = (*reader)->Query(sql);
        EXPECT_TRUE(rows.ok()) << (rows.ok() ? "" : rows.error().detail);
        return rows.ok() ? *rows : std::vector<store::Row>{};
    }

    fs::path dir_;
    std::unique_ptr<store::Store> store_;
};

TEST_P(OutboxTest, ANotificationExistsOnlyIfItsEventCommitted) {
    Status failed = store_->Write([&](store::WriteTxn& txn) -> Status {
        CARNET_CHECK(Enqueue(txn,
                             {Channel::kEmail,
                              "a@example.org",
                              "login_code",
                              {{"code", "111111"}, {"minutes", "10"}},
                              "patient-1"},
                             kT0));
        return Error::Invalid("the event failed after the notification was queued");
    });
    ASSERT_FALSE(failed.ok());
    EXPECT_EQ(AsInt(Rows("SELECT COUNT(*) FROM outbox")[0][0]), 0);

    ASSERT_TRUE(EnqueueCode(Channel::kEmail, "a@example.org", "222222").ok());
    auto rows = Rows("SELECT status, channel, recipient, attempts FROM outbox");
    ASSERT_EQ(rows.size(), 1U);
    EXPECT_EQ(AsText(rows[0][0]), "pending");
    EXPECT_EQ(AsText(rows[0][1]), "email");
    EXPECT_EQ(AsInt(rows[0][3]), 0);
}

TEST_P(OutboxTest, EnqueueRefusesBadTemplatesParametersAndRecipients) {
    auto try_enqueue = [&](Notification n) {
        return store_->Write([&](store::WriteTxn& txn) -> Status {
            CARNET_CHECK(Enqueue(txn, n, kT0));
            return Ok();
        });
    };
    EXPECT_EQ(try_enqueue({Channel::kEmail, "a@example.org", "nope", {}, ""}).error().code,
              Code::kInvalid);
    EXPECT_FALSE(try_enqueue({Channel::kEmail,
                              "a@example.org",
                              "document_added",
                              {{"portal_url", "u"}, {"document_title", "Bilan sanguin"}},
                              ""})
                     .ok());
    EXPECT_FALSE(
        try_enqueue({Channel::kEmail, "", "document_added", {{"portal_url", "u"}}, ""}).ok());
    EXPECT_FALSE(try_enqueue({Channel::kEmail,
                              "a@example.org\r\nBcc: evil@example.org",
                              "document_added",
                              {{"portal_url", "u"}},
                              ""})
                     .ok());
    EXPECT_EQ(AsInt(Rows("SELECT COUNT(*) FROM outbox")[0][0]), 0);
}

TEST_P(OutboxTest, FileTransportWritesAReadableMailAndTheCodeIsNotKept) {
    ASSERT_TRUE(EnqueueCode(Channel::kEmail, "jeanne@example.org", "493817").ok());
    ASSERT_TRUE(EnqueueCode(Channel::kSms, "+33612345678", "550012").ok());
    DispatcherOptions o;
    o.email = MakeFileTransport(dir_ / "outbox");
    o.sms = MakeFileTransport(dir_ / "outbox");
    Dispatcher d(*store_, std::move(o));
    auto stats = d.RunOnce(kT0);
    ASSERT_TRUE(stats.ok()) << stats.error().detail;
    EXPECT_EQ(stats->sent, 2);

    auto files = FilesIn(dir_ / "outbox");
    ASSERT_EQ(files.size(), 2U);
    std::string eml, sms;
    for (const auto& f : files) {
        (f.extension() == ".eml" ? eml : sms) = ReadFile(f);
    }
    EXPECT_NE(eml.find("To: <jeanne@example.org>"), std::string::npos);
    EXPECT_NE(eml.find("493817"), std::string::npos);
    EXPECT_NE(sms.find("550012"), std::string::npos);
    EXPECT_EQ(fs::status(dir_ / "outbox").permissions() & fs::perms::others_all, fs::perms::none);

    // Delivered: status recorded, the code gone from the database.
    auto rows = Rows("SELECT status, params, sent_at FROM outbox");
    ASSERT_EQ(rows.size(), 2U);
    for (const auto& r : rows) {
        EXPECT_EQ(AsText(r[0]), "sent");
        EXPECT_EQ(AsText(r[1]), "{}");
        EXPECT_EQ(AsInt(r[2]), kT0);
    }
    // Nothing is sent twice.
    auto again = d.RunOnce(kT0 + 3600 * kSecond);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->sent, 0);
    EXPECT_EQ(FilesIn(dir_ / "outbox").size(), 2U);
}

TEST_P(OutboxTest, FailuresAreRetriedWithBackoffThenGivenUp) {
    ASSERT_TRUE(EnqueueCode(Channel::kEmail, "a@example.org", "123456").ok());
    auto transport = std::make_unique<ScriptedTransport>(100);
    ScriptedTransport* t = transport.get();
    DispatcherOptions o;
    o.email = std::move(transport);
    o.max_attempts = 3;
    o.backoff_base = 10s;
    Dispatcher d(*store_, std::move(o));

    ASSERT_TRUE(d.RunOnce(kT0).ok());
    EXPECT_EQ(t->calls(), 1);
    auto row = Rows("SELECT status, attempts, next_attempt_at, last_error FROM outbox")[0];
    EXPECT_EQ(AsText(row[0]), "pending");
    EXPECT_EQ(AsInt(row[1]), 1);
    EXPECT_EQ(AsInt(row[2]), kT0 + 10 * kSecond);
    EXPECT_NE(AsText(row[3]).find("relay down"), std::string::npos);

    ASSERT_TRUE(d.RunOnce(kT0 + 9 * kSecond).ok());  // not due yet
    EXPECT_EQ(t->calls(), 1);
    ASSERT_TRUE(d.RunOnce(kT0 + 10 * kSecond).ok());  // second attempt; next waits 20 s
    EXPECT_EQ(t->calls(), 2);
    EXPECT_EQ(AsInt(Rows("SELECT next_attempt_at FROM outbox")[0][0]), kT0 + 30 * kSecond);
    ASSERT_TRUE(d.RunOnce(kT0 + 29 * kSecond).ok());
    EXPECT_EQ(t->calls(), 2);
    auto last = d.RunOnce(kT0 + 30 * kSecond);
    ASSERT_TRUE(last.ok());
    EXPECT_EQ(last->failed, 1);
    EXPECT_EQ(t->calls(), 3);
    row = Rows("SELECT status, params FROM outbox")[0];
    EXPECT_EQ(AsText(row[0]), "failed");
    EXPECT_EQ(AsText(row[1]), "{}");  // the code is not kept after giving up either
    ASSERT_TRUE(d.RunOnce(kT0 + 86400 * kSecond).ok());
    EXPECT_EQ(t->calls(), 3);
}

TEST_P(OutboxTest, ARecoveredRelayDeliversOnTheRetry) {
    ASSERT_TRUE(EnqueueCode(Channel::kEmail, "a@example.org", "777001").ok());
    auto transport = std::make_unique<ScriptedTransport>(1);
    ScriptedTransport* t = transport.get();
    DispatcherOptions o;
    o.email = std::move(transport);
    o.backoff_base = 1s;
    Dispatcher d(*store_, std::move(o));
    ASSERT_TRUE(d.RunOnce(kT0).ok());
    auto s = d.RunOnce(kT0 + kSecond);
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(s->sent, 1);
    ASSERT_EQ(t->delivered().size(), 1U);
    EXPECT_NE(t->delivered()[0].content.text.find("777001"), std::string::npos);
}

TEST_P(OutboxTest, InAppNotificationsLandInTheInbox) {
    Status s = store_->Write([&](store::WriteTxn& txn) -> Status {
        CARNET_CHECK(Enqueue(txn,
                             {Channel::kInApp,
                              "account-42",
                              "document_added",
                              {{"portal_url", "https://carnet.example/"}},
                              "patient-1"},
                             kT0));
        return Ok();
    });
    ASSERT_TRUE(s.ok());
    Dispatcher d(*store_, DispatcherOptions{});
    auto stats = d.RunOnce(kT0);
    ASSERT_TRUE(stats.ok()) << stats.error().detail;
    EXPECT_EQ(stats->sent, 1);
    auto rows = Rows("SELECT account_id, title, text, read_at FROM inbox");
    ASSERT_EQ(rows.size(), 1U);
    EXPECT_EQ(AsText(rows[0][0]), "account-42");
    EXPECT_NE(AsText(rows[0][1]).find("nouveau document"), std::string::npos);
    EXPECT_TRUE(store::IsNull(rows[0][3]));
}

TEST_P(OutboxTest, AChannelWithoutTransportWaits) {
    ASSERT_TRUE(EnqueueCode(Channel::kSms, "+33600000000", "1").ok());
    Dispatcher d(*store_, DispatcherOptions{});
    auto stats = d.RunOnce(kT0);
    ASSERT_TRUE(stats.ok());
    EXPECT_EQ(stats->sent + stats->failed + stats->retried, 0);
    EXPECT_EQ(AsText(Rows("SELECT status FROM outbox")[0][0]), "pending");
}

INSTANTIATE_TEST_SUITE_P(Engines, OutboxTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& param_info) { return param_info.param; });

// ---- real SMTP -----------------------------------------------------------------------------

/// python3 -m aiosmtpd, writing what it receives into a Maildir.
class SmtpSink {
  public:
    /// `tls`: certificate and key files for STARTTLS (the sink then requires it).
    explicit SmtpSink(fs::path maildir,
                      std::optional<std::pair<fs::path, fs::path>> tls = std::nullopt)
        : maildir_(std::move(maildir)), port_(FreePort()) {
        const std::string listen = "127.0.0.1:" + std::to_string(port_);
        // Debian's interpreter, where python3-aiosmtpd is installed (a python3 earlier in
        // PATH, e.g. pyenv's, does not have it).
        std::vector<std::string> args = {
            "/usr/bin/python3",         "-m", "aiosmtpd", "-n", "-l", listen, "-c",
            "aiosmtpd.handlers.Mailbox"};
        if (tls) {
            args.insert(args.end(),
                        {"--tlscert", tls->first.string(), "--tlskey", tls->second.string()});
        }
        args.push_back(maildir_.string());
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        if (posix_spawn(&pid_, "/usr/bin/python3", nullptr, nullptr, argv.data(), environ) != 0)
            pid_ = 0;
        for (int i = 0; i < 200 && pid_ && !PortOpen(port_); ++i) {
            std::this_thread::sleep_for(50ms);
        }
    }
    ~SmtpSink() {
        if (pid_) {
            ::kill(pid_, SIGTERM);
            int status = 0;
            ::waitpid(pid_, &status, 0);
        }
    }
    [[nodiscard]] bool running() const { return pid_ != 0 && PortOpen(port_); }
    [[nodiscard]] uint16_t port() const { return port_; }
    std::vector<std::string> Mails() const {
        std::vector<std::string> out;
        for (const auto& f : FilesIn(maildir_ / "new")) out.push_back(ReadFile(f));
        return out;
    }

  private:
    fs::path maildir_;
    uint16_t port_;
    pid_t pid_ = 0;
};

class SmtpTest : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("carnet-smtp-" + NewUuid());
        fs::create_directories(dir_);
        sink_ = std::make_unique<SmtpSink>(dir_ / "maildir");
        // Installed by scripts/setup.sh (python3-aiosmtpd): a missing server is a failure,
        // not a skip, so CI cannot go green without the real SMTP exchange.
        ASSERT_TRUE(sink_->running())
            << "/usr/bin/python3 -m aiosmtpd did not start (package python3-aiosmtpd)";
    }
    void TearDown() override {
        sink_.reset();
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
    SmtpOptions Options(const std::string& starttls) const {
        SmtpOptions o;
        o.url = "smtp://127.0.0.1:" + std::to_string(sink_->port());
        o.from = "Carnet <no-reply@carnet.test>";
        o.starttls = starttls;
        o.timeout = 10s;
        return o;
    }
    fs::path dir_;
    std::unique_ptr<SmtpSink> sink_;
};

TEST_F(SmtpTest, TheOneTimeCodeArrivesInARealMail) {
    auto smtp = MakeSmtpTransport(Options("off"));
    auto rendered = Render(Channel::kEmail, "login_code", {{"code", "604271"}, {"minutes", "10"}});
    ASSERT_TRUE(rendered.ok());
    Status s = smtp->Send({"m1", Channel::kEmail, "jeanne.martin@example.org", *rendered, kT0});
    ASSERT_TRUE(s.ok()) << s.error().Summary();
    std::vector<std::string> mails;
    for (int i = 0; i < 100 && mails.empty(); ++i) {
        mails = sink_->Mails();
        if (mails.empty()) std::this_thread::sleep_for(50ms);
    }
    ASSERT_EQ(mails.size(), 1U);
    EXPECT_NE(mails[0].find("604271"), std::string::npos);
    EXPECT_NE(mails[0].find("jeanne.martin@example.org"), std::string::npos);
    EXPECT_NE(mails[0].find("Message-ID: <m1@carnet>"), std::string::npos);
    EXPECT_NE(mails[0].find("Votre code de connexion"), std::string::npos);  // 8bit UTF-8 body
}

TEST_F(SmtpTest, ALoginCodeTravelsFromTheOutboxThroughRealSmtpAndOpensASession) {
    // The whole path: AuthService writes the challenge and its outbox row in one
    // transaction, the dispatcher delivers it over SMTP, the code read from the mail that
    // arrived completes the login.
    crypto::Init();
    store::StoreOptions so;
    so.data_dir = dir_ / "store";
    auto opened = store::OpenStore(so, crypto::MasterKey::FromKeyForTest(crypto::NewKey()));
    ASSERT_TRUE(opened.ok());
    auto store = std::move(opened).value();
    SystemClock clock;
    auth::AuthOptions ao;
    ao.password_cost = {1, 1024 * 1024};
    auth::AuthService auth(*store, clock, std::string(32, 'm'), ao);
    auth::NewPatient p;
    p.ins = "285057512345623";
    p.family = "Martin";
    p.birth_date = "1985-05-12";
    auto created = auth.CreatePatient(p, "test");
    ASSERT_TRUE(created.ok()) << created.error().Summary();
    ASSERT_TRUE(auth.SetPasswordForSetup(created->account.id, "Velo-rouge-sur-la-colline",
                                         "jeanne.martin@example.org", "")
                    .ok());
    DispatcherOptions d;
    d.email = MakeSmtpTransport(Options("off"));
    Dispatcher dispatcher(*store, std::move(d));
    auto login = auth.Login("jeanne.martin@example.org", "Velo-rouge-sur-la-colline",
                            {"127.0.0.1", "test", ""});
    ASSERT_TRUE(login.ok()) << login.error().Summary();
    auto sent = dispatcher.RunOnce(clock.NowMicros());
    ASSERT_TRUE(sent.ok());
    EXPECT_EQ(sent->sent, 1);
    std::vector<std::string> mails;
    for (int i = 0; i < 100 && mails.empty(); ++i) {
        mails = sink_->Mails();
        if (mails.empty()) std::this_thread::sleep_for(50ms);
    }
    ASSERT_EQ(mails.size(), 1U);
    auto at = mails[0].find("est : ");
    ASSERT_NE(at, std::string::npos) << mails[0];
    const std::string code = mails[0].substr(at + 6, 6);
    // The delivered row keeps no code.
    auto reader = store->OpenReader();
    auto rows = (*reader)->Query("SELECT params, status FROM outbox");
    ASSERT_TRUE(rows.ok());
    ASSERT_EQ(rows->size(), 1U);
    EXPECT_EQ(store::AsText((*rows)[0][1]), "sent");
    EXPECT_EQ(store::AsText((*rows)[0][0]).find(code), std::string::npos);
    reader->reset();
    auto session = auth.Verify(login->challenge.challenge, code, false, {"127.0.0.1", "test", ""});
    ASSERT_TRUE(session.ok()) << session.error().Summary();
    EXPECT_TRUE(auth.Authenticate(session->token, {"127.0.0.1", "test", ""}).ok());
    store->Close();
}

TEST_F(SmtpTest, RequiredStartTlsRefusesToSendInClear) {
    // The sink offers no STARTTLS: with the default setting nothing may leave in clear.
    auto smtp = MakeSmtpTransport(Options("required"));
    auto rendered = Render(Channel::kEmail, "login_code", {{"code", "999111"}, {"minutes", "10"}});
    ASSERT_TRUE(rendered.ok());
    Status s = smtp->Send({"m2", Channel::kEmail, "a@example.org", *rendered, kT0});
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().detail.find("999111"), std::string::npos);
    std::this_thread::sleep_for(200ms);
    EXPECT_TRUE(sink_->Mails().empty());
}

TEST_F(SmtpTest, AnUnreachableServerIsATransientError) {
    SmtpOptions o = Options("off");
    o.url = "smtp://127.0.0.1:" + std::to_string(FreePort());
    auto smtp = MakeSmtpTransport(o);
    auto rendered = Render(Channel::kEmail, "login_code", {{"code", "1"}, {"minutes", "10"}});
    Status s = smtp->Send({"m3", Channel::kEmail, "a@example.org", *rendered, kT0});
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, Code::kUnavailable);
}

TEST_F(SmtpTest, StartTlsWithTheRelaysCertificateDeliversAndAnUntrustedOneIsRefused) {
    // A throwaway certificate for 127.0.0.1, made with the openssl CLI.
    const fs::path cert = dir_ / "relay.crt", key = dir_ / "relay.key";
    const std::string cmd =
        "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "
        "/CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout " +
        key.string() + " -out " + cert.string() + " >/dev/null 2>&1";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << "openssl CLI missing (package openssl)";
    SmtpSink tls_sink(dir_ / "tls-maildir", std::make_pair(cert, key));
    ASSERT_TRUE(tls_sink.running());
    SmtpOptions o = Options("required");
    o.url = "smtp://127.0.0.1:" + std::to_string(tls_sink.port());
    auto rendered = Render(Channel::kEmail, "login_code", {{"code", "246810"}, {"minutes", "10"}});
    ASSERT_TRUE(rendered.ok());

    // The system trust store does not know this certificate: nothing is sent.
    Status untrusted =
        MakeSmtpTransport(o)->Send({"t1", Channel::kEmail, "a@example.org", *rendered, kT0});
    ASSERT_FALSE(untrusted.ok());

    o.ca_file = cert.string();
    Status trusted =
        MakeSmtpTransport(o)->Send({"t2", Channel::kEmail, "a@example.org", *rendered, kT0});
    ASSERT_TRUE(trusted.ok()) << trusted.error().Summary();
    std::vector<std::string> mails;
    for (int i = 0; i < 100 && mails.empty(); ++i) {
        mails = tls_sink.Mails();
        if (mails.empty()) std::this_thread::sleep_for(50ms);
    }
    ASSERT_EQ(mails.size(), 1U);
    EXPECT_NE(mails[0].find("246810"), std::string::npos);
    EXPECT_NE(mails[0].find("Message-ID: <t2@carnet>"), std::string::npos);
}

// ---- SMS gateway -------------------------------------------------------------------------

TEST(SmsGateway, PostsTheTemplatedBodyWithTheAuthHeaderAndChecksTheStatus) {
    http::Router router;
    std::mutex mu;
    std::vector<std::string> bodies, auths;
    std::atomic<int> answer{503};
    router.Add("POST", "/send", [&](http::Request& req) {
        std::lock_guard lock(mu);
        bodies.push_back(req.body);
        auths.push_back(req.Header("authorization").value_or(""));
        http::Response r;
        r.status = answer.load();
        r.body = "{}";
        return r;
    });
    http::ServerOptions so;
    so.port = 0;
    so.threads = 1;
    http::Server server(so, router);
    ASSERT_TRUE(server.Start().ok());

    SmsGatewayOptions o;
    o.url = "http://127.0.0.1:" + std::to_string(server.Port()) + "/send";
    o.auth_header = "Authorization: Bearer s3cret";
    auto sms = MakeSmsGatewayTransport(o);
    auto rendered = Render(Channel::kSms, "login_code", {{"code", "314159"}, {"minutes", "10"}});
    ASSERT_TRUE(rendered.ok());
    const Message m{"id-1", Channel::kSms, "+33612345678", *rendered, kT0};

    Status down = sms->Send(m);  // the gateway answers 503: retry later
    ASSERT_FALSE(down.ok());
    EXPECT_EQ(down.error().code, Code::kUnavailable);
    answer = 200;
    ASSERT_TRUE(sms->Send(m).ok());
    server.Stop();

    std::lock_guard lock(mu);
    ASSERT_EQ(bodies.size(), 2U);
    EXPECT_EQ(auths[1], "Bearer s3cret");
    EXPECT_NE(bodies[1].find(R"("to":"+33612345678")"), std::string::npos);
    EXPECT_NE(bodies[1].find("314159"), std::string::npos);
    EXPECT_NE(bodies[1].find(R"("reference":"id-1")"), std::string::npos);
}

TEST(SmsGateway, RefusesAClearTextGatewayOffLoopback) {
    SmsGatewayOptions o;
    o.url = "http://sms.example.org/send";
    auto sms = MakeSmsGatewayTransport(o);
    auto rendered = Render(Channel::kSms, "login_code", {{"code", "1"}, {"minutes", "10"}});
    Status s = sms->Send({"id", Channel::kSms, "+33600000000", *rendered, kT0});
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, Code::kInvalid);
}

}  // namespace
}  // namespace carnet::notify
