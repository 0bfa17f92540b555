// carnet: one executable, subcommands. Wiring only: configuration -> modules -> run.
#include <fcntl.h>
#include <malloc.h>
#include <unistd.h>
#include <CLI/CLI.hpp>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <thread>

#include "access/context.hpp"
#include "access/service.hpp"
#include "admin/admin.hpp"
#include "api/access_routes.hpp"
#include "api/auth_routes.hpp"
#include "api/fhir_service.hpp"
#include "api/message_routes.hpp"
#include "api/routes.hpp"
#include "audit/audit.hpp"
#include "auth/service.hpp"
#include "core/clock.hpp"
#include "core/log.hpp"
#include "crypto/crypto.hpp"
#include "fhir/definitions.hpp"
#include "http/ops_routes.hpp"
#include "http/router.hpp"
#include "http/server.hpp"
#include "http/static_files.hpp"
#include "importer/importer.hpp"
#include "messaging/service.hpp"
#include "notify/notify.hpp"
#include "store/open.hpp"

#ifndef CARNET_SOURCE_DIR
#define CARNET_SOURCE_DIR "."
#endif
#ifndef CARNET_VERSION
#define CARNET_VERSION "0.0.0"
#endif

namespace {

namespace fs = std::filesystem;
using namespace carnet;

struct StoreFlags {
    std::string data = "data";
    std::string engine = "sqlite";
    std::string pg;
    std::string key_file;
    int pg_pool = 8;
};

void AddStoreFlags(CLI::App* cmd, StoreFlags& f) {
    cmd->add_option("--data", f.data, "Data directory (SQLite database, master key, outbox)")
        ->envname("CARNET_DATA")
        ->capture_default_str();
    cmd->add_option("--engine", f.engine, "Storage engine")
        ->envname("CARNET_ENGINE")
        ->check(CLI::IsMember({"sqlite", "postgres"}))
        ->capture_default_str();
    cmd->add_option("--pg", f.pg, "PostgreSQL connection string (libpq DSN) for --engine postgres")
        ->envname("CARNET_PG");
    cmd->add_option("--pg-pool", f.pg_pool, "PostgreSQL connections")
        ->envname("CARNET_PG_POOL")
        ->check(CLI::Range(1, 256))
        ->capture_default_str();
    cmd->add_option("--master-key-file", f.key_file,
                    "Master key file (created 0600 on first run); default DATA/keys/master.key")
        ->envname("CARNET_MASTER_KEY_FILE");
}

/// Opens the store; `auth_key` receives the key the auth module hashes its secrets with,
/// derived from the master key (so a database copy alone cannot check guesses of codes).
Result<std::unique_ptr<store::Store>> OpenConfiguredStore(
    const StoreFlags& f, bool migrate, std::string* auth_key = nullptr,
    std::unique_ptr<audit::Signer>* audit_signer = nullptr) {
    if (f.engine == "postgres" && f.pg.empty()) {
        return Error::Invalid("--engine postgres needs --pg DSN (or CARNET_PG)");
    }
    fs::path key =
        f.key_file.empty() ? fs::path(f.data) / "keys" / "master.key" : fs::path(f.key_file);
    CARNET_TRY(crypto::MasterKey master, crypto::MasterKey::LoadOrCreate(key));
    if (auth_key) {
        crypto::Key k = master.Derive("auth-secrets");
        auth_key->assign(reinterpret_cast<const char*>(k.data()), k.size());
    }
    if (audit_signer) *audit_signer = std::make_unique<audit::Signer>(master);
    store::StoreOptions so;
    so.engine = f.engine;
    so.data_dir = f.data;
    so.pg_dsn = f.pg;
    so.pg_pool_size = f.pg_pool;
    so.migrate = migrate;
    return store::OpenStore(so, std::move(master));
}

int Fail(const std::string& what, const Error& e) {
    std::cerr << "carnet: " << what << ": " << e.Summary() << "\n";
    if (!e.detail.empty()) spdlog::debug("{}: {}", what, e.detail);
    return 1;
}

bool SplitListen(const std::string& listen, std::string& host, uint16_t& port) {
    auto colon = listen.rfind(':');
    if (colon == std::string::npos) return false;
    host = listen.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    try {
        int p = std::stoi(listen.substr(colon + 1));
        if (p < 0 || p > 65535) return false;
        port = static_cast<uint16_t>(p);
    } catch (...) {
        return false;
    }
    return !host.empty();
}

fs::path DefaultWebDir() {
    for (fs::path p : {fs::path(CARNET_SOURCE_DIR) / "web" / "dist", fs::path("web") / "dist"}) {
        if (fs::exists(p / "index.html")) return p;
    }
    return {};
}

fs::path DefaultDemoDir() {
    if (const char* env = std::getenv("CARNET_DEMO_DATA"); env && *env) return env;
    return fs::path(CARNET_SOURCE_DIR) / ".." / "shared" / "data" / "synthea-r4";
}

bool StoreIsEmpty(store::Store& s) {
    auto r = s.OpenReader();
    if (!r.ok()) return false;
    store::SearchQuery q;
    q.type = "Patient";
    q.count = 1;
    auto page = (*r)->Search(q);
    return page.ok() && page->resources.empty();
}

struct NotifyFlags {
    std::string smtp_url, smtp_from{notify::kDefaultFrom}, smtp_user, smtp_password,
        smtp_starttls = "required", smtp_ca;
    std::string sms_url, sms_auth_header, sms_body;
};

void AddNotifyFlags(CLI::App* cmd, NotifyFlags& f) {
    cmd->add_option("--smtp-url", f.smtp_url,
                    "SMTP relay for e-mail, smtp://host:587 (STARTTLS) or smtps://host:465; "
                    "default: one .eml file per mail in DATA/outbox/")
        ->envname("CARNET_SMTP_URL");
    cmd->add_option("--smtp-from", f.smtp_from, "Sender of every e-mail")
        ->envname("CARNET_SMTP_FROM")
        ->capture_default_str();
    cmd->add_option("--smtp-user", f.smtp_user, "SMTP user name")->envname("CARNET_SMTP_USER");
    cmd->add_option("--smtp-password", f.smtp_password, "SMTP password (prefer the environment)")
        ->envname("CARNET_SMTP_PASSWORD");
    cmd->add_option("--smtp-starttls", f.smtp_starttls, "required, opportunistic or off")
        ->envname("CARNET_SMTP_STARTTLS")
        ->check(CLI::IsMember({"required", "opportunistic", "off"}))
        ->capture_default_str();
    cmd->add_option("--smtp-ca-file", f.smtp_ca, "Extra CA file for the relay's certificate")
        ->envname("CARNET_SMTP_CA_FILE");
    cmd->add_option("--sms-url", f.sms_url,
                    "SMS gateway endpoint (HTTPS POST); default: one .txt file per SMS in "
                    "DATA/outbox/")
        ->envname("CARNET_SMS_URL");
    cmd->add_option("--sms-auth-header", f.sms_auth_header,
                    "Header line sent to the gateway, e.g. \"Authorization: Bearer …\"")
        ->envname("CARNET_SMS_AUTH_HEADER");
    cmd->add_option("--sms-body", f.sms_body,
                    "Request body template; {to}, {text} and {id} are replaced (JSON-escaped)")
        ->envname("CARNET_SMS_BODY");
}

notify::DispatcherOptions DispatcherFor(const NotifyFlags& f, const fs::path& data) {
    notify::DispatcherOptions d;
    // One-time codes are awaited by a person at the screen: look for new rows often (one
    // indexed query on an idle server).
    d.poll_interval = std::chrono::milliseconds(250);
    const fs::path outbox = data / "outbox";
    if (f.smtp_url.empty()) {
        d.email = notify::MakeFileTransport(outbox);
    } else {
        notify::SmtpOptions so;
        so.url = f.smtp_url;
        so.from = f.smtp_from;
        so.username = f.smtp_user;
        so.password = f.smtp_password;
        so.starttls = f.smtp_starttls;
        so.ca_file = f.smtp_ca;
        d.email = notify::MakeSmtpTransport(so);
    }
    if (f.sms_url.empty()) {
        d.sms = notify::MakeFileTransport(outbox);
    } else {
        notify::SmsGatewayOptions so;
        so.url = f.sms_url;
        so.auth_header = f.sms_auth_header;
        if (!f.sms_body.empty()) so.body_template = f.sms_body;
        d.sms = notify::MakeSmsGatewayTransport(so);
    }
    return d;
}

struct ServeFlags {
    std::string listen = "127.0.0.1:8080";
    bool demo = false;
    int threads = 0;
    int workers = 32;
    std::string web_dir, public_url;
    uint64_t max_body_mb = 10;
    int max_upload_patient_mb = 5;
    int max_upload_professional_mb = 20;
    int read_timeout_s = 10;
    int idle_minutes = 15;
    int session_hours = 12;
    bool secure_cookies = false;
    int auth_attempts_per_minute = 60;
    int deletion_delay_days = 90;
    int archive_years = 10;
    http::TlsOptions tls;
    NotifyFlags notify;
};

std::string PortalUrl(const ServeFlags& f, const std::string& url) {
    if (!f.public_url.empty()) {
        std::string base = f.public_url;
        if (base.size() >= 5 && base.compare(base.size() - 5, 5, "/fhir") == 0)
            base.resize(base.size() - 5);
        return base + "/";
    }
    return url + "/";
}

int Serve(const StoreFlags& sf, const ServeFlags& f) {
    auto t0 = std::chrono::steady_clock::now();
    // Signals are taken by one thread with sigwait, never in a handler. They are blocked
    // before any thread exists (store writer, io threads), so every thread inherits the mask
    // and none is killed by the default action.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    http::ServerOptions so;
    if (!SplitListen(f.listen, so.host, so.port)) {
        std::cerr << "carnet: --listen must be HOST:PORT\n";
        return 2;
    }
    if (f.threads > 0) so.threads = f.threads;
    // glibc gives each of the many worker threads its own malloc arena, and arenas keep what
    // they freed: resident memory then grows with the worker count. A few arenas shared by
    // all threads keep it flat (MALLOC_ARENA_MAX, when set, wins).
    if (std::getenv("MALLOC_ARENA_MAX") == nullptr) mallopt(M_ARENA_MAX, 4);
    if (f.workers > 0) so.workers = f.workers;
    so.max_body_bytes = f.max_body_mb * 1024 * 1024;
    so.tls = f.tls;
    const bool tls = !f.tls.cert_file.empty();
    so.read_timeout = std::chrono::seconds(f.read_timeout_s);

    (void)fhir::Definitions::R4();  // parse the embedded table before serving
    std::string auth_key;
    std::unique_ptr<audit::Signer> signer;
    auto store = OpenConfiguredStore(sf, true, &auth_key, &signer);
    if (!store.ok()) return Fail("cannot open the store", store.error());
    SystemClock clock;
    api::FhirService service(**store, clock);
    service.SetWriteGate(auth::CheckRecordWritable);

    if (f.demo && StoreIsEmpty(**store)) {
        fs::path dir = DefaultDemoDir();
        if (!fs::exists(dir)) {
            std::cerr << "carnet: --demo: no demo data at " << dir.string()
                      << " (set CARNET_DEMO_DATA to a folder of FHIR bundles)\n";
            return 1;
        }
        std::cerr << "carnet: loading demo data from " << dir.string() << "\n";
        importer::ImportOptions io;
        io.progress = isatty(STDERR_FILENO) ? &std::cerr : nullptr;
        auto summary = importer::ImportPaths(service, {dir}, io);
        std::cerr << importer::FormatSummary(summary);
    }

    const std::string host_for_url =
        so.host.find(':') != std::string::npos ? "[" + so.host + "]" : so.host;
    auth::AuthOptions ao;
    ao.idle_timeout = std::chrono::minutes(f.idle_minutes);
    ao.absolute_timeout = std::chrono::hours(f.session_hours);
    ao.attempts_per_ip_per_minute = f.auth_attempts_per_minute;
    ao.deletion_delay_days = f.deletion_delay_days;
    ao.archive_years = f.archive_years;
    ao.portal_url = PortalUrl(f, std::string(tls ? "https://" : "http://") + host_for_url + ":" +
                                     std::to_string(so.port));
    auth::AuthService auth(**store, clock, auth_key, ao);
    // Every FHIR path to patient data goes through the access decision from here on.
    access::GridStore grids;
    service.SetAccess(api::AccessConfig{&grids, ao.portal_url});
    api::ContentPolicy content;
    content.limits.patient_bytes = int64_t{f.max_upload_patient_mb} * 1024 * 1024;
    content.limits.professional_bytes = int64_t{f.max_upload_professional_mb} * 1024 * 1024;
    service.SetContentPolicy(content);
    std::vector<admin::DemoAccount> demo_accounts;
    if (f.demo) {
        auto accounts = admin::EnsureDemoAccounts(auth, **store, service);
        if (!accounts.ok()) return Fail("cannot create the demo accounts", accounts.error());
        demo_accounts = std::move(accounts).value();
    }
    api::AuthRouteOptions aro;
    aro.secure_cookies = f.secure_cookies || tls;
    api::Authenticator authenticator(auth, aro);

    http::Router router;
    store::Store* store_ptr = store->get();
    http::RegisterOpsRoutes(router, [store_ptr] { return store_ptr->Ping(); });
    api::RegisterAuthRoutes(router, authenticator, **store, clock, &service);
    api::ApiOptions apio;
    apio.public_base_url = f.public_url;
    apio.fallback_host = f.listen;
    apio.software_version = CARNET_VERSION;
    apio.inline_reads = (*store)->Engine() == "sqlite";
    apio.identify = [&authenticator](http::Request& req) {
        return api::IdentifyContent(authenticator, req);
    };
    // Secure messaging: /messages, and its FHIR view as Communication.
    messaging::MessageService messages(**store, clock, grids, ao.portal_url);
    apio.messages = &messages;
    api::RegisterMessageRoutes(router, authenticator, messages);
    api::RegisterFhirRoutes(router, service, apio);
    // The person's controls, access codes, emergency access, the log and the grid.
    access::AccessService access_service(**store, clock, grids, auth_key, ao.portal_url);
    api::RegisterAccessRoutes(router, authenticator, access_service);
    fs::path web = f.web_dir.empty() ? DefaultWebDir() : fs::path(f.web_dir);
    if (!web.empty()) {
        if (auto s = http::AddStatic(router, "/", web); !s.ok())
            return Fail("cannot load the portal", s.error());
    } else {
        spdlog::warn("portal not built (web/dist missing): serving the API only");
    }

    notify::Dispatcher dispatcher(**store, DispatcherFor(f.notify, sf.data));
    dispatcher.Start();
    // The access log is signed at least every minute; each checkpoint also goes to a witness
    // file beside the data, which `carnet audit verify` compares with the database.
    audit::CheckpointLoop checkpoints(**store, *signer,
                                      fs::path(sf.data) / "audit" / "checkpoints.jsonl", clock,
                                      std::chrono::seconds(30));
    checkpoints.Start();
    // Records due for erasure (deletion delay, archive period, an interrupted opposition)
    // are purged at start and then every hour.
    std::mutex purge_mu;
    std::condition_variable purge_cv;
    bool stopping = false;
    std::thread purger([&] {
        std::unique_lock lock(purge_mu);
        do {
            lock.unlock();
            if (auto n = auth.PurgeDue(); !n.ok()) {
                spdlog::error("purge: {}", n.error().Summary());
            } else if (*n > 0) {
                spdlog::info("purge: {} record(s) erased", *n);
            }
            // Documents hidden from their holder: the 15-day notice (they become visible
            // by themselves after 30 days).
            if (auto n = access_service.SweepHidden(clock.NowMicros()); !n.ok()) {
                spdlog::error("hidden documents: {}", n.error().Summary());
            } else if (*n > 0) {
                spdlog::info("hidden documents: {} holder(s) told", *n);
            }
            lock.lock();
        } while (!purge_cv.wait_for(lock, std::chrono::hours(1), [&] { return stopping; }));
    });
    auto stop_purger = [&] {
        {
            std::lock_guard lock(purge_mu);
            stopping = true;
        }
        purge_cv.notify_all();
        purger.join();
    };

    http::Server server(so, router);
    if (auto s = server.Start(); !s.ok()) {
        stop_purger();
        dispatcher.Stop();
        return Fail("cannot listen on " + f.listen, s.error());
    }
    auto ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    std::string url = std::string(tls ? "https://" : "http://") + host_for_url + ":" +
                      std::to_string(server.Port());
    std::cout << "Carnet " << CARNET_VERSION << " is ready (" << static_cast<int>(ms)
              << " ms, engine " << (*store)->Engine() << ", " << so.threads << " I/O threads, "
              << so.workers << " workers)\n"
              << "  Portal:   " << url << "/\n"
              << "  FHIR API: " << url << "/fhir/metadata\n";
    if (f.notify.smtp_url.empty() || f.notify.sms_url.empty()) {
        std::cout << "  Outbox:   " << (fs::absolute(sf.data) / "outbox").string()
                  << "/ (one-time codes and notices, one file per message)\n";
    }
    if (f.demo) {
        std::cout << "  Demo accounts (password " << admin::kDemoPassword << "):\n";
        for (const auto& d : demo_accounts) {
            std::cout << "    " << d.role << ": " << d.login;
            if (!d.note.empty()) std::cout << " (" << d.note << ")";
            std::cout << "\n";
        }
    }
    std::cout << std::flush;

    std::thread waiter([&] {
        int sig = 0;
        sigwait(&signals, &sig);
        spdlog::info("signal {}: stopping (finishing in-flight requests)", sig);
        server.Stop();
    });
    server.Wait();
    // Wait returned because Stop ran (from the signal thread); make sure it exits.
    waiter.join();
    stop_purger();
    dispatcher.Stop();
    checkpoints.Stop();
    (*store)->Close();
    spdlog::info("stopped cleanly");
    return 0;
}

int PrintImport(const Result<admin::ImportSummary>& r, const std::string& codes_out) {
    if (!r.ok()) return Fail("import failed", r.error());
    for (const auto& e : r->errors) std::cerr << "  " << e << "\n";
    std::cout << r->created << " created, " << r->existed << " already there, " << r->failed
              << " refused\n";
    if (!r->codes.empty()) {
        if (codes_out.empty()) {
            std::cout << "Activation codes (also sent to the contact when the file had one; "
                         "use --codes-out FILE to write them for letters instead):\n";
            for (const auto& [id, code] : r->codes) std::cout << "  " << id << "  " << code << "\n";
        } else {
            // The letters file holds secrets: owner-only from the start.
            int fd = ::open(codes_out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
            if (fd < 0) {
                std::cerr << "carnet: cannot write " << codes_out << "\n";
                return 1;
            }
            std::string text = "identifier,activation_code\n";
            for (const auto& [id, code] : r->codes) text += id + "," + code + "\n";
            bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
            ::close(fd);
            if (!ok) return 1;
            std::cout << r->codes.size() << " activation codes written to " << codes_out << "\n";
        }
    }
    return r->failed == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    carnet::crypto::Init();
    CLI::App app{"Carnet — a patient-controlled personal health record (FHIR R4)", "carnet"};
    app.require_subcommand(1);
    app.set_config("--config", "",
                   "Configuration file (INI or TOML); flags and CARNET_* override it");
    std::string log_level = "info";
    app.add_option("--log-level", log_level, "trace, debug, info, warn, error, off")
        ->envname("CARNET_LOG_LEVEL")
        ->capture_default_str();
    app.set_version_flag("--version", CARNET_VERSION);

    StoreFlags sf;
    ServeFlags svf;
    auto* serve = app.add_subcommand("serve", "Run the server");
    AddStoreFlags(serve, sf);
    AddNotifyFlags(serve, svf.notify);
    serve->add_option("--listen", svf.listen, "HOST:PORT to listen on")
        ->envname("CARNET_LISTEN")
        ->capture_default_str();
    serve
        ->add_flag("--demo", svf.demo,
                   "Load demo records and demo accounts (listed at start-up) into an empty store")
        ->envname("CARNET_DEMO");
    serve->add_option("--threads", svf.threads, "I/O threads (default: cores)")
        ->envname("CARNET_THREADS");
    serve
        ->add_option("--workers", svf.workers,
                     "Threads running request handlers; many requests can then share one "
                     "durable commit")
        ->envname("CARNET_WORKERS")
        ->check(CLI::Range(1, 1024))
        ->capture_default_str();
    serve->add_option("--web", svf.web_dir, "Built portal folder (default: web/dist)")
        ->envname("CARNET_WEB");
    serve
        ->add_option("--public-url", svf.public_url,
                     "Public base of the FHIR API, e.g. https://carnet.example/fhir")
        ->envname("CARNET_PUBLIC_URL");
    serve->add_option("--max-body-mb", svf.max_body_mb, "Default request body limit (MiB)")
        ->envname("CARNET_MAX_BODY_MB")
        ->check(CLI::Range(1, 1024))
        ->capture_default_str();
    serve
        ->add_option("--max-upload-patient-mb", svf.max_upload_patient_mb,
                     "Largest document a patient may upload (MiB)")
        ->envname("CARNET_MAX_UPLOAD_PATIENT_MB")
        ->check(CLI::Range(1, 512))
        ->capture_default_str();
    serve
        ->add_option("--max-upload-professional-mb", svf.max_upload_professional_mb,
                     "Largest document a professional may upload (MiB)")
        ->envname("CARNET_MAX_UPLOAD_PROFESSIONAL_MB")
        ->check(CLI::Range(1, 512))
        ->capture_default_str();
    serve
        ->add_option("--read-timeout", svf.read_timeout_s,
                     "Seconds a client has to send a whole request")
        ->envname("CARNET_READ_TIMEOUT")
        ->check(CLI::Range(1, 3600))
        ->capture_default_str();
    serve
        ->add_option("--session-idle-minutes", svf.idle_minutes,
                     "A session ends after this idle time")
        ->envname("CARNET_SESSION_IDLE_MINUTES")
        ->check(CLI::Range(1, 24 * 60))
        ->capture_default_str();
    serve
        ->add_option("--session-max-hours", svf.session_hours,
                     "A session ends this long after login")
        ->envname("CARNET_SESSION_MAX_HOURS")
        ->check(CLI::Range(1, 24 * 7))
        ->capture_default_str();
    serve
        ->add_option("--auth-attempts-per-minute", svf.auth_attempts_per_minute,
                     "Login, code, activation and reset attempts accepted per client address per "
                     "minute (raise it behind a NAT or proxy shared by many people)")
        ->envname("CARNET_AUTH_ATTEMPTS_PER_MINUTE")
        ->check(CLI::Range(1, 100000))
        ->capture_default_str();
    serve
        ->add_option("--tls-cert", svf.tls.cert_file,
                     "HTTPS: server certificate (PEM, then intermediates); without it, plain HTTP")
        ->envname("CARNET_TLS_CERT");
    serve
        ->add_option("--tls-key", svf.tls.key_file,
                     "HTTPS: private key (PEM; default: in --tls-cert)")
        ->envname("CARNET_TLS_KEY");
    serve
        ->add_option("--tls-client-ca", svf.tls.client_ca_file,
                     "CAs issuing professional cards (PEM): a client certificate is then "
                     "requested, and a verified one carrying a directory RPPS signs the "
                     "professional in")
        ->envname("CARNET_TLS_CLIENT_CA");
    serve
        ->add_option("--tls-crl", svf.tls.crl_file,
                     "CRLs of those CAs (PEM); revocation then fails closed when a CRL is "
                     "missing or out of date")
        ->envname("CARNET_TLS_CRL");
    serve
        ->add_option("--deletion-delay-days", svf.deletion_delay_days,
                     "Days between a deletion request and the erasure of the record (0: at once)")
        ->envname("CARNET_DELETION_DELAY_DAYS")
        ->check(CLI::Range(0, 3650))
        ->capture_default_str();
    serve
        ->add_option("--archive-years", svf.archive_years,
                     "Years a closed record is kept read-only before it is erased")
        ->envname("CARNET_ARCHIVE_YEARS")
        ->check(CLI::Range(1, 100))
        ->capture_default_str();
    serve
        ->add_flag("--secure-cookies", svf.secure_cookies,
                   "Mark cookies Secure (set it when a TLS proxy is in front)")
        ->envname("CARNET_SECURE_COOKIES");

    // carnet admin …: operator tasks on the store (the running server delivers the mails).
    auto* admin_cmd =
        app.add_subcommand("admin", "Operator tasks: registry and directory imports, staff");
    admin_cmd->require_subcommand(1);
    StoreFlags af;
    std::string admin_file, codes_out;
    auto* imp_patients = admin_cmd->add_subcommand(
        "import-patients", "Create patient accounts from the insurer's registry (CSV or FHIR)");
    AddStoreFlags(imp_patients, af);
    imp_patients
        ->add_option("file", admin_file,
                     "CSV (ins,given,family,birth_date,email,phone) or FHIR JSON")
        ->required();
    imp_patients->add_option("--codes-out", codes_out,
                             "Write the activation codes to this file (0600) for letters");
    auto* imp_pros = admin_cmd->add_subcommand(
        "import-professionals", "Load the professional directory (CSV or FHIR Practitioner[Role])");
    AddStoreFlags(imp_pros, af);
    imp_pros
        ->add_option("file", admin_file,
                     "CSV (rpps,given,family,profession,specialty,organisation,email,phone) or "
                     "FHIR JSON")
        ->required();
    imp_pros->add_option("--codes-out", codes_out,
                         "Write the activation codes to this file (0600)");
    auth::NewStaff staff;
    auto* create_staff = admin_cmd->add_subcommand(
        "create-staff", "Create an advisor or admin account; prints its activation code");
    AddStoreFlags(create_staff, af);
    create_staff->add_option("--kind", staff.kind, "advisor or admin")
        ->required()
        ->check(CLI::IsMember({"advisor", "admin"}));
    create_staff->add_option("--login", staff.login, "User name")->required();
    create_staff->add_option("--given", staff.given, "Given name");
    create_staff->add_option("--family", staff.family, "Family name");
    create_staff->add_option("--email", staff.email, "Contact e-mail (login codes go there)");

    StoreFlags mf;
    auto* migrate = app.add_subcommand("migrate", "Apply pending database migrations");
    AddStoreFlags(migrate, mf);

    // carnet audit verify|checkpoint: the access log's chains, checkpoints and witness file
    // (audit/audit.hpp). It runs from the subcommand's callback, so this block stands alone;
    // the callback ends the program (logging is set up here, main's own setup never runs).
    StoreFlags auf;
    std::string audit_witness;
    auto* audit_cmd = app.add_subcommand("audit", "The access log: verify it, or sign it now");
    audit_cmd->require_subcommand(1);
    auto* audit_verify = audit_cmd->add_subcommand(
        "verify", "Check every chain, checkpoint and the witness file; exit 1 when broken");
    auto* audit_checkpoint =
        audit_cmd->add_subcommand("checkpoint", "Write a signed checkpoint of the heads now");
    for (auto* c : {audit_verify, audit_checkpoint}) {
        AddStoreFlags(c, auf);
        c->add_option("--witness", audit_witness,
                      "Witness file of the checkpoints (default DATA/audit/checkpoints.jsonl)")
            ->envname("CARNET_AUDIT_WITNESS");
    }
    audit_cmd->callback([&] {
        carnet::InitLogging(log_level);
        const fs::path key = auf.key_file.empty() ? fs::path(auf.data) / "keys" / "master.key"
                                                  : fs::path(auf.key_file);
        auto master = crypto::MasterKey::LoadOrCreate(key);
        if (!master.ok())
            throw CLI::RuntimeError(Fail("cannot read the master key", master.error()));
        const audit::Signer signer(*master);
        const fs::path witness = audit_witness.empty()
                                     ? fs::path(auf.data) / "audit" / "checkpoints.jsonl"
                                     : fs::path(audit_witness);
        // Verification only reads: it applies no migration.
        auto store = OpenConfiguredStore(auf, /*migrate=*/static_cast<bool>(*audit_checkpoint));
        if (!store.ok()) throw CLI::RuntimeError(Fail("cannot open the store", store.error()));
        int rc = 0;
        if (*audit_checkpoint) {
            SystemClock clock;
            auto seq = audit::WriteCheckpoint(**store, signer, witness, clock, /*force=*/true);
            if (seq.ok()) {
                std::cout << "checkpoint " << *seq << " written (witness: " << witness.string()
                          << ")\n";
            } else {
                rc = Fail("checkpoint failed", seq.error());
            }
        } else {
            auto report = audit::Verify(**store, signer.PublicKeyHex(), witness);
            if (!report.ok()) {
                rc = Fail("verification failed", report.error());
            } else {
                std::cout << "access log: " << report->patients << " patients, " << report->entries
                          << " entries, " << report->checkpoints << " checkpoints ("
                          << report->witnessed << " in the witness file)\n";
                for (const auto& p : report->problems) {
                    std::cout << (p.patient_id.empty() ? "  checkpoint " + std::to_string(p.seq)
                                                       : "  patient " + p.patient_id + ", entry " +
                                                             std::to_string(p.seq))
                              << ": " << p.what << (p.detail.empty() ? "" : " — " + p.detail)
                              << "\n";
                }
                std::cout << (report->ok() ? "intact\n"
                                           : "BROKEN: " + std::to_string(report->problems.size()) +
                                                 " problem(s)\n");
                rc = report->ok() ? 0 : 1;
            }
        }
        (*store)->Close();
        throw CLI::RuntimeError(rc);  // ends main() with rc, quietly (even 0)
    });

    StoreFlags imf;
    std::vector<std::string> import_paths;
    int import_threads = static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
    auto* import =
        app.add_subcommand("import", "Load FHIR Bundles (files or folders), idempotently");
    AddStoreFlags(import, imf);
    import->add_option("paths", import_paths, "Bundle files or folders")->required();
    import->add_option("--threads", import_threads, "Parallel files")->capture_default_str();
    std::string import_feed;
    import
        ->add_option("--feed", import_feed,
                     "Load as this feed: 'insurer' (claims-derived MedicationDispense, Encounter, "
                     "Immunization, Procedure; read-only entries authored by the insurer)")
        ->check(CLI::IsMember({"insurer"}));

    CLI11_PARSE(app, argc, argv);
    carnet::InitLogging(log_level);

    if (*serve) return Serve(sf, svf);
    if (*admin_cmd) {
        std::string auth_key;
        auto store = OpenConfiguredStore(af, true, &auth_key);
        if (!store.ok()) return Fail("cannot open the store", store.error());
        carnet::SystemClock clock;
        carnet::auth::AuthService auth(**store, clock, auth_key);
        carnet::api::FhirService fhir(**store, clock);
        fhir.SetWriteGate(carnet::auth::CheckRecordWritable);
        int rc = 0;
        if (*imp_patients) {
            rc = PrintImport(carnet::admin::ImportPatients(auth, fhir, admin_file), codes_out);
        } else if (*imp_pros) {
            rc = PrintImport(carnet::admin::ImportProfessionals(auth, admin_file), codes_out);
        } else if (*create_staff) {
            auto c = auth.CreateStaff(staff, "cli");
            if (!c.ok()) {
                rc = Fail("cannot create the account", c.error());
            } else if (c->existed) {
                std::cout << "account " << c->account.login << " already exists\n";
            } else {
                std::cout << "account " << c->account.login
                          << " created; activation code: " << c->activation_code << "\n";
            }
        }
        (*store)->Close();
        return rc;
    }
    if (*migrate) {
        auto store = OpenConfiguredStore(mf, true);
        if (!store.ok()) return Fail("migration failed", store.error());
        (*store)->Close();
        std::cout << "migrations applied (" << (*store)->Engine() << ")\n";
        return 0;
    }
    if (*import) {
        auto store = OpenConfiguredStore(imf, true);
        if (!store.ok()) return Fail("cannot open the store", store.error());
        carnet::SystemClock clock;
        carnet::api::FhirService service(**store, clock);
        // The insurer's feed is refused for records whose holder opposed or closed them.
        service.SetWriteGate(carnet::auth::CheckRecordWritable);
        carnet::importer::ImportOptions io;
        io.threads = import_threads;
        if (import_feed == "insurer") io.feed = carnet::api::FeedSource{};
        io.progress = isatty(STDERR_FILENO) ? &std::cerr : nullptr;
        std::vector<fs::path> paths(import_paths.begin(), import_paths.end());
        auto summary = carnet::importer::ImportPaths(service, paths, io);
        (*store)->Close();
        std::cout << carnet::importer::FormatSummary(summary);
        return summary.files_failed == 0 && summary.entries_failed == 0 ? 0 : 1;
    }
    return 0;
}
