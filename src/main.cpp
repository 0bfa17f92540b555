// carnet: one executable, subcommands. Wiring only: configuration -> modules -> run.
#include <malloc.h>
#include <unistd.h>
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <thread>

#include "api/fhir_service.hpp"
#include "api/routes.hpp"
#include "core/clock.hpp"
#include "core/log.hpp"
#include "crypto/crypto.hpp"
#include "fhir/definitions.hpp"
#include "http/ops_routes.hpp"
#include "http/router.hpp"
#include "http/server.hpp"
#include "http/static_files.hpp"
#include "importer/importer.hpp"
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

Result<std::unique_ptr<store::Store>> OpenConfiguredStore(const StoreFlags& f, bool migrate) {
    if (f.engine == "postgres" && f.pg.empty()) {
        return Error::Invalid("--engine postgres needs --pg DSN (or CARNET_PG)");
    }
    fs::path key =
        f.key_file.empty() ? fs::path(f.data) / "keys" / "master.key" : fs::path(f.key_file);
    CARNET_TRY(crypto::MasterKey master, crypto::MasterKey::LoadOrCreate(key));
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

bool IsLoopback(const std::string& host) {
    return host == "localhost" || host == "::1" || host == "[::1]" || host.rfind("127.", 0) == 0;
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

int Serve(const StoreFlags& sf, const std::string& listen, bool demo, bool insecure_dev,
          int threads, int workers, const std::string& web_dir, const std::string& public_url,
          uint64_t max_body_mb, int read_timeout_s) {
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
    if (!SplitListen(listen, so.host, so.port)) {
        std::cerr << "carnet: --listen must be HOST:PORT\n";
        return 2;
    }
    // Until authentication exists (identity issue), patient data must not be reachable
    // from another machine by accident.
    if (!IsLoopback(so.host) && !insecure_dev) {
        std::cerr << "carnet: refusing to listen on " << so.host
                  << ": authentication is not built yet, so only loopback is allowed.\n"
                     "         Pass --insecure-dev to override on a development machine.\n";
        return 2;
    }
    if (threads > 0) so.threads = threads;
    // glibc gives each of the many worker threads its own malloc arena, and arenas keep what
    // they freed: resident memory then grows with the worker count. A few arenas shared by
    // all threads keep it flat (MALLOC_ARENA_MAX, when set, wins).
    if (std::getenv("MALLOC_ARENA_MAX") == nullptr) mallopt(M_ARENA_MAX, 4);
    if (workers > 0) so.workers = workers;
    so.max_body_bytes = max_body_mb * 1024 * 1024;
    so.read_timeout = std::chrono::seconds(read_timeout_s);

    (void)fhir::Definitions::R4();  // parse the embedded table before serving
    auto store = OpenConfiguredStore(sf, true);
    if (!store.ok()) return Fail("cannot open the store", store.error());
    SystemClock clock;
    api::FhirService service(**store, clock);

    if (demo && StoreIsEmpty(**store)) {
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

    http::Router router;
    store::Store* store_ptr = store->get();
    http::RegisterOpsRoutes(router, [store_ptr] { return store_ptr->Ping(); });
    api::ApiOptions ao;
    ao.public_base_url = public_url;
    ao.fallback_host = listen;
    ao.software_version = CARNET_VERSION;
    ao.inline_reads = (*store)->Engine() == "sqlite";
    api::RegisterFhirRoutes(router, service, ao);
    fs::path web = web_dir.empty() ? DefaultWebDir() : fs::path(web_dir);
    if (!web.empty()) {
        if (auto s = http::AddStatic(router, "/", web); !s.ok())
            return Fail("cannot load the portal", s.error());
    } else {
        spdlog::warn("portal not built (web/dist missing): serving the API only");
    }

    http::Server server(so, router);
    if (auto s = server.Start(); !s.ok()) return Fail("cannot listen on " + listen, s.error());
    auto ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    std::string url = "http://" +
                      (so.host.find(':') != std::string::npos ? "[" + so.host + "]" : so.host) +
                      ":" + std::to_string(server.Port());
    std::cout << "Carnet " << CARNET_VERSION << " is ready (" << static_cast<int>(ms)
              << " ms, engine " << (*store)->Engine() << ", " << so.threads << " I/O threads, "
              << so.workers << " workers)\n"
              << "  Portal:   " << url << "/\n"
              << "  FHIR API: " << url << "/fhir/metadata\n";
    if (demo) {
        std::cout << "  Demo:     patient records loaded from Synthea; open the portal, "
                     "\"Patients de démonstration\" (sign-in arrives with the identity issue)\n";
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
    (*store)->Close();
    spdlog::info("stopped cleanly");
    return 0;
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
    auto* serve = app.add_subcommand("serve", "Run the server");
    AddStoreFlags(serve, sf);
    std::string listen = "127.0.0.1:8080", web_dir, public_url;
    bool demo = false, insecure_dev = false;
    int threads = 0, workers = 32, read_timeout = 10;
    uint64_t max_body_mb = 10;
    serve->add_option("--listen", listen, "HOST:PORT to listen on")
        ->envname("CARNET_LISTEN")
        ->capture_default_str();
    serve->add_flag("--demo", demo, "Load demo data into an empty store")->envname("CARNET_DEMO");
    serve->add_flag("--insecure-dev", insecure_dev,
                    "Allow a non-loopback address before authentication exists");
    serve->add_option("--threads", threads, "I/O threads (default: cores)")
        ->envname("CARNET_THREADS");
    serve
        ->add_option("--workers", workers,
                     "Threads running request handlers; many requests can then share one "
                     "durable commit")
        ->envname("CARNET_WORKERS")
        ->check(CLI::Range(1, 1024))
        ->capture_default_str();
    serve->add_option("--web", web_dir, "Built portal folder (default: web/dist)")
        ->envname("CARNET_WEB");
    serve
        ->add_option("--public-url", public_url,
                     "Public base of the FHIR API, e.g. https://carnet.example/fhir")
        ->envname("CARNET_PUBLIC_URL");
    serve->add_option("--max-body-mb", max_body_mb, "Default request body limit (MiB)")
        ->envname("CARNET_MAX_BODY_MB")
        ->check(CLI::Range(1, 1024))
        ->capture_default_str();
    serve
        ->add_option("--read-timeout", read_timeout, "Seconds a client has to send a whole request")
        ->envname("CARNET_READ_TIMEOUT")
        ->check(CLI::Range(1, 3600))
        ->capture_default_str();

    StoreFlags mf;
    auto* migrate = app.add_subcommand("migrate", "Apply pending database migrations");
    AddStoreFlags(migrate, mf);

    StoreFlags imf;
    std::vector<std::string> import_paths;
    int import_threads = static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
    auto* import =
        app.add_subcommand("import", "Load FHIR Bundles (files or folders), idempotently");
    AddStoreFlags(import, imf);
    import->add_option("paths", import_paths, "Bundle files or folders")->required();
    import->add_option("--threads", import_threads, "Parallel files")->capture_default_str();

    CLI11_PARSE(app, argc, argv);
    carnet::InitLogging(log_level);

    if (*serve) {
        return Serve(sf, listen, demo, insecure_dev, threads, workers, web_dir, public_url,
                     max_body_mb, read_timeout);
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
        carnet::importer::ImportOptions io;
        io.threads = import_threads;
        io.progress = isatty(STDERR_FILENO) ? &std::cerr : nullptr;
        std::vector<fs::path> paths(import_paths.begin(), import_paths.end());
        auto summary = carnet::importer::ImportPaths(service, paths, io);
        (*store)->Close();
        std::cout << carnet::importer::FormatSummary(summary);
        return summary.files_failed == 0 && summary.entries_failed == 0 ? 0 : 1;
    }
    return 0;
}
