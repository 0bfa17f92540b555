/// The HTTP ceiling: a Server with only the ops routes, for wrk against /healthz.
///   http_ceiling [port] [threads] [log-level]     (defaults: 8080, 2, "warn")
///   wrk -t2 -c32 -d5s http://127.0.0.1:8080/healthz
/// Stops on SIGINT/SIGTERM.
#include <csignal>
#include <cstdlib>
#include <string>

#include "core/log.hpp"
#include "http/ops_routes.hpp"
#include "http/router.hpp"
#include "http/server.hpp"

int main(int argc, char** argv) {
    // A shell starts background jobs with SIGINT ignored, and an ignored signal is dropped
    // even while blocked: restore the defaults so that sigwait() sees it.
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // before the io threads start

    carnet::InitLogging(argc > 3 ? argv[3] : "warn");
    carnet::http::Router router;
    carnet::http::RegisterOpsRoutes(router, nullptr);
    carnet::http::ServerOptions options;
    options.port = static_cast<uint16_t>(argc > 1 ? std::atoi(argv[1]) : 8080);
    options.threads = argc > 2 ? std::atoi(argv[2]) : 2;
    carnet::http::Server server(options, router);
    if (auto status = server.Start(); !status.ok()) {
        spdlog::error("{}", status.error().Summary());
        return 1;
    }
    spdlog::warn("http_ceiling on port {}", server.Port());
    int received = 0;
    sigwait(&signals, &received);
    server.Stop();
    return 0;
}
