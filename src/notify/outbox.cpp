// The transactional outbox (schema: store/sql.cpp migration 2) and its dispatcher.
#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#include <boost/json.hpp>

#include "core/clock.hpp"
#include "core/ids.hpp"
#include "core/log.hpp"
#include "notify/notify.hpp"

namespace carnet::notify {

namespace json = boost::json;

std::string_view ChannelName(Channel channel) {
    switch (channel) {
        case Channel::kEmail:
            return "email";
        case Channel::kSms:
            return "sms";
        case Channel::kInApp:
            return "inapp";
    }
    return "email";
}

std::optional<Channel> ParseChannel(std::string_view name) {
    if (name == "email") return Channel::kEmail;
    if (name == "sms") return Channel::kSms;
    if (name == "inapp") return Channel::kInApp;
    return std::nullopt;
}

namespace {

std::string ParamsJson(const Params& params) {
    json::object o;
    for (const auto& [k, v] : params) o[k] = v;
    return json::serialize(o);
}

Params ParseParams(const std::string& text) {
    Params out;
    boost::system::error_code ec;
    auto v = json::parse(text, ec);
    if (ec || !v.is_object()) return out;
    for (const auto& [k, val] : v.as_object()) {
        if (val.is_string()) out[std::string(k)] = std::string(val.as_string());
    }
    return out;
}

}  // namespace

Result<std::string> Enqueue(store::WriteTxn& txn, const Notification& n, int64_t now_us) {
    if (n.recipient.empty()) return Error::Invalid("a notification needs a recipient");
    if (n.recipient.size() > 254) return Error::Invalid("recipient too long");
    for (unsigned char c : n.recipient) {
        // No header or body injection through an address.
        if (c < 0x20 || c == 0x7f) return Error::Invalid("recipient contains a control character");
    }
    // Rendering now checks the template and its parameters while the caller can still roll
    // back; the text itself is rendered again at delivery (templates may be fixed meanwhile).
    CARNET_CHECK(Render(n.channel, n.template_name, n.params));
    std::string id = NewUuid();
    CARNET_CHECK(txn.Exec(
        "INSERT INTO outbox(patient_id, id, channel, recipient, template, params, created_at, "
        "next_attempt_at, attempts, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, 'pending')",
        {n.patient_id, id, std::string(ChannelName(n.channel)), n.recipient, n.template_name,
         ParamsJson(n.params), now_us, now_us}));
    return id;
}

struct Dispatcher::Impl {
    store::Store& store;
    DispatcherOptions options;
    std::mutex mu;
    std::condition_variable cv;
    bool running = false;
    bool wake = false;
    std::thread thread;
    std::set<std::string> warned_channels;
    SystemClock clock;

    Impl(store::Store& s, DispatcherOptions o) : store(s), options(std::move(o)) {}

    int64_t Backoff(int64_t attempts) const {
        // attempts >= 1 here: the first retry waits backoff_base.
        int64_t wait = options.backoff_base.count() * 1000;
        for (int64_t i = 1; i < attempts && wait < options.backoff_max.count() * 1000; ++i) {
            wait *= 2;
        }
        return std::min<int64_t>(wait, options.backoff_max.count() * 1000);
    }

    Transport* For(Channel c) {
        if (c == Channel::kEmail) return options.email.get();
        if (c == Channel::kSms) return options.sms.get();
        return nullptr;
    }

    struct Claimed {
        std::string patient_id, id, recipient, template_name, params;
        Channel channel = Channel::kEmail;
        int64_t created = 0, attempts = 0;
    };

    Result<DispatchStats> RunOnce(int64_t now) {
        DispatchStats stats;
        // 1. Claim due rows: push their next attempt past the lease, so that another
        //    dispatcher (another process on PostgreSQL) does not take them meanwhile.
        std::vector<Claimed> claimed;
        CARNET_CHECK(store.Write([&](store::WriteTxn& txn) -> Status {
            claimed.clear();
            CARNET_TRY(auto rows,
                       txn.Query("SELECT patient_id, id, channel, recipient, template, params, "
                                 "created_at, attempts, next_attempt_at FROM outbox WHERE status "
                                 "= 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at "
                                 "LIMIT ?",
                                 {now, static_cast<int64_t>(options.batch)}));
            for (const auto& row : rows) {
                auto channel = ParseChannel(store::AsText(row[2]));
                if (!channel) continue;
                if (*channel != Channel::kInApp && For(*channel) == nullptr) {
                    std::lock_guard lock(mu);
                    if (warned_channels.insert(store::AsText(row[2])).second) {
                        spdlog::warn("notify: no transport configured for {}; messages wait",
                                     store::AsText(row[2]));
                    }
                    continue;
                }
                CARNET_TRY(int64_t n,
                           txn.Exec("UPDATE outbox SET next_attempt_at = ?, attempts = attempts "
                                    "+ 1 WHERE patient_id = ? AND id = ? AND status = 'pending' "
                                    "AND next_attempt_at = ?",
                                    {now + options.lease.count() * 1000, row[0], row[1], row[8]}));
                if (n != 1) continue;  // someone else claimed it
                Claimed c;
                c.patient_id = store::AsText(row[0]);
                c.id = store::AsText(row[1]);
                c.channel = *channel;
                c.recipient = store::AsText(row[3]);
                c.template_name = store::AsText(row[4]);
                c.params = store::AsText(row[5]);
                c.created = store::AsInt(row[6]);
                c.attempts = store::AsInt(row[7]) + 1;
                claimed.push_back(std::move(c));
            }
            return Ok();
        }));

        // 2. Deliver outside any transaction (network time must not hold the writer), then
        //    record each outcome.
        for (const auto& c : claimed) {
            auto rendered = Render(c.channel, c.template_name, ParseParams(c.params));
            Status sent = Ok();
            if (!rendered.ok()) {
                sent = rendered.error();
            } else if (c.channel == Channel::kInApp) {
                sent = store.Write([&](store::WriteTxn& txn) -> Status {
                    CARNET_CHECK(txn.Exec(
                        "INSERT INTO inbox(patient_id, id, account_id, title, text, created_at) "
                        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                        {c.patient_id, c.id, c.recipient, rendered->subject, rendered->text, now}));
                    return Ok();
                });
            } else {
                Message m{c.id, c.channel, c.recipient, *rendered, c.created};
                sent = For(c.channel)->Send(m);
            }
            const bool permanent = !rendered.ok();
            Status recorded = store.Write([&](store::WriteTxn& txn) -> Status {
                if (sent.ok()) {
                    // Sent: the parameters (one-time codes) are not kept.
                    CARNET_CHECK(
                        txn.Exec("UPDATE outbox SET status = 'sent', params = '{}', sent_at = ?, "
                                 "last_error = NULL WHERE patient_id = ? AND id = ?",
                                 {now, c.patient_id, c.id}));
                } else if (permanent || c.attempts >= options.max_attempts) {
                    CARNET_CHECK(txn.Exec(
                        "UPDATE outbox SET status = 'failed', params = '{}', last_error = ? "
                        "WHERE patient_id = ? AND id = ?",
                        {sent.error().Summary(), c.patient_id, c.id}));
                } else {
                    CARNET_CHECK(txn.Exec(
                        "UPDATE outbox SET next_attempt_at = ?, last_error = ? WHERE "
                        "patient_id = ? AND id = ?",
                        {now + Backoff(c.attempts), sent.error().Summary(), c.patient_id, c.id}));
                }
                return Ok();
            });
            if (!recorded.ok()) {
                spdlog::error("notify: cannot record the outcome of {}: {}", c.id,
                              recorded.error().Summary());
                continue;
            }
            if (sent.ok()) {
                ++stats.sent;
            } else if (permanent || c.attempts >= options.max_attempts) {
                ++stats.failed;
                spdlog::error("notify: {} {} given up after {} attempts: {}",
                              ChannelName(c.channel), c.id, c.attempts, sent.error().Summary());
            } else {
                ++stats.retried;
                spdlog::warn("notify: {} {} attempt {} failed, retrying: {}",
                             ChannelName(c.channel), c.id, c.attempts, sent.error().Summary());
            }
        }
        return stats;
    }

    void Loop() {
        std::unique_lock lock(mu);
        while (running) {
            lock.unlock();
            auto r = RunOnce(clock.NowMicros());
            if (!r.ok()) spdlog::warn("notify: dispatch round failed: {}", r.error().Summary());
            lock.lock();
            cv.wait_for(lock, options.poll_interval, [this] { return !running || wake; });
            wake = false;
        }
    }
};

Dispatcher::Dispatcher(store::Store& store, DispatcherOptions options)
    : impl_(std::make_unique<Impl>(store, std::move(options))) {}

Dispatcher::~Dispatcher() { Stop(); }

Result<DispatchStats> Dispatcher::RunOnce(int64_t now_us) { return impl_->RunOnce(now_us); }

void Dispatcher::Start() {
    std::lock_guard lock(impl_->mu);
    if (impl_->running) return;
    impl_->running = true;
    impl_->thread = std::thread([this] { impl_->Loop(); });
}

void Dispatcher::Wake() {
    {
        std::lock_guard lock(impl_->mu);
        impl_->wake = true;
    }
    impl_->cv.notify_all();
}

void Dispatcher::Stop() {
    {
        std::lock_guard lock(impl_->mu);
        if (!impl_->running) return;
        impl_->running = false;
    }
    impl_->cv.notify_all();
    if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace carnet::notify
