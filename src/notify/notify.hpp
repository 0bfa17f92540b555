#pragma once
/// Notifications: a transactional outbox and its dispatcher.
///
/// An event that must tell someone something (a one-time code, "a document was added")
/// calls Enqueue() inside the store transaction that records the event: the notification
/// exists if and only if the event committed. The Dispatcher then delivers due rows through
/// a Transport (SMTP e-mail, SMS gateway, in-app inbox, or files under data/outbox/ on the
/// embedded default), retries failures with exponential backoff, and records the outcome
/// on the row. Delivery is at least once: a crash between sending and recording may send
/// twice, never zero times.
///
/// What a notification may say is fixed by its template (templates.cpp, French, the one
/// place to edit the texts): each template declares the parameters it takes, and Enqueue
/// refuses any other. No template takes health content, so none can carry it.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "store/store.hpp"

namespace carnet::notify {

enum class Channel { kEmail, kSms, kInApp };
std::string_view ChannelName(Channel channel);
std::optional<Channel> ParseChannel(std::string_view name);

using Params = std::map<std::string, std::string>;

struct Notification {
    Channel channel = Channel::kEmail;
    /// E-mail address, phone number (E.164 or national), or account id for in-app.
    std::string recipient;
    /// A template name from templates.cpp ("login_code", "document_added"…).
    std::string template_name;
    /// Only the parameters the template declares.
    Params params;
    /// The patient the event concerns ("" when none): the row's sharding key.
    std::string patient_id;
};

/// Writes the notification into the outbox inside `txn` (the event's own transaction).
/// kInvalid for an unknown template, an undeclared or missing parameter, or an empty
/// recipient. Returns the outbox id.
Result<std::string> Enqueue(store::WriteTxn& txn, const Notification& notification, int64_t now_us);

// ---- templates -------------------------------------------------------------------------

struct Rendered {
    std::string subject;  // e-mail subject (also the in-app title)
    std::string text;     // e-mail body / SMS text / in-app text (UTF-8, no HTML)
};

/// Fills the template for this channel. kInvalid for an unknown template or parameters that
/// do not match its declaration.
Result<Rendered> Render(Channel channel, const std::string& template_name, const Params& params);
/// The template names, for tests and the operator console.
std::vector<std::string> TemplateNames();

// ---- transports ------------------------------------------------------------------------

/// A message ready to go out.
struct Message {
    std::string id;  // outbox id (Message-ID, file name, idempotency key for gateways)
    Channel channel = Channel::kEmail;
    std::string recipient;
    Rendered content;
    int64_t created_us = 0;
};

class Transport {
  public:
    virtual ~Transport() = default;
    /// Delivers or fails. A failure is retried later by the dispatcher; `detail` of the
    /// error must not contain the message text.
    virtual Status Send(const Message& message) = 0;
    /// For logs: "smtp", "file", "sms-gateway"…
    [[nodiscard]] virtual std::string Name() const = 0;
};

/// Writes one RFC 5322 .eml per e-mail and one .txt per SMS into `dir` (0700), and names
/// the file in the log: the embedded default, so that a newcomer can read the codes.
std::unique_ptr<Transport> MakeFileTransport(std::filesystem::path dir);

/// The sender of every e-mail unless configured otherwise.
inline constexpr std::string_view kDefaultFrom = "Carnet <no-reply@carnet.localhost>";

struct SmtpOptions {
    /// smtp://host:port (STARTTLS upgrade per `starttls`) or smtps://host:port (implicit TLS).
    std::string url;
    std::string from{kDefaultFrom};
    std::string username;
    std::string password;
    /// "required" (refuse to send in clear), "opportunistic" or "off". Default required:
    /// codes must not cross the network in clear.
    std::string starttls = "required";
    /// Extra CA file for the server certificate (a private relay); empty: system store.
    std::string ca_file;
    std::chrono::seconds timeout{20};
};
std::unique_ptr<Transport> MakeSmtpTransport(SmtpOptions options);

struct SmsGatewayOptions {
    /// https://gateway.example/send (http:// only for 127.0.0.1 tests).
    std::string url;
    /// A whole header line, e.g. "Authorization: Bearer …". Never logged.
    std::string auth_header;
    /// Request body; {to}, {text} and {id} are replaced by JSON-escaped values.
    std::string body_template = R"({"to":"{to}","text":"{text}","reference":"{id}"})";
    std::string content_type = "application/json";
    std::chrono::seconds timeout{20};
};
std::unique_ptr<Transport> MakeSmsGatewayTransport(SmsGatewayOptions options);

/// Renders the e-mail as an RFC 5322 message (UTF-8, 8bit, RFC 2047 subject).
std::string FormatEmail(const Message& message, const std::string& from, int64_t now_us);

// ---- dispatcher ------------------------------------------------------------------------

struct DispatcherOptions {
    /// Transports by channel; a channel without one stays pending (and is logged once).
    std::unique_ptr<Transport> email;
    std::unique_ptr<Transport> sms;
    /// In-app needs no transport: delivery inserts into the inbox table.
    int max_attempts = 8;
    /// Retry n waits backoff_base * 2^(n-1), capped by backoff_max.
    std::chrono::milliseconds backoff_base{30'000};
    std::chrono::milliseconds backoff_max{3'600'000};
    /// How long a claimed row is reserved for one sender (crash recovery).
    std::chrono::milliseconds lease{300'000};
    std::chrono::milliseconds poll_interval{1'000};
    int batch = 32;
};

struct DispatchStats {
    int sent = 0;
    int retried = 0;
    int failed = 0;  // gave up after max_attempts
};

class Dispatcher {
  public:
    Dispatcher(store::Store& store, DispatcherOptions options);
    ~Dispatcher();
    Dispatcher(const Dispatcher&) = delete;
    Dispatcher& operator=(const Dispatcher&) = delete;

    /// Delivers every row due at `now_us` once (claim, send, record). Tests drive this
    /// directly with their own clock.
    Result<DispatchStats> RunOnce(int64_t now_us);
    /// Background thread calling RunOnce every poll_interval, and at once after Wake().
    void Start();
    void Wake();
    /// Finishes the current round and joins the thread. Idempotent.
    void Stop();

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace carnet::notify
