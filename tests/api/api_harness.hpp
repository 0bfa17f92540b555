#pragma once
/// Test harness for the FHIR REST API: a store in a temp dir (SQLite) or on the throwaway
/// PostgreSQL of CARNET_TEST_PG, the real router (ops + FHIR routes) behind http::Server on
/// 127.0.0.1:0, and a small HTTP client that speaks to it over a socket.
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "api/fhir_service.hpp"
#include "api/routes.hpp"
#include "core/clock.hpp"
#include "core/ids.hpp"
#include "crypto/crypto.hpp"
#include "fhir/synthea.hpp"
#include "http/ops_routes.hpp"
#include "http/router.hpp"
#include "http/server.hpp"
#include "http/test_client.hpp"
#include "store/open.hpp"

namespace carnet::api::testing {

namespace json = boost::json;

using Headers = std::vector<std::pair<std::string, std::string>>;

/// The Host header the client sends: links and Location headers start with kBase.
inline constexpr const char* kHost = "carnet.test";
inline const std::string kBase = std::string("http://") + kHost + "/fhir";

struct Reply {
    int status = 0;
    std::map<std::string, std::string> headers;  // lower-cased names
    std::string body;

    [[nodiscard]] std::string Header(const std::string& lower_name) const {
        auto it = headers.find(lower_name);
        return it == headers.end() ? std::string() : it->second;
    }
    /// The body as JSON; a null value when it is not JSON.
    [[nodiscard]] json::value Json() const {
        boost::system::error_code ec;
        json::value v = json::parse(body, ec);
        return ec ? json::value() : v;
    }
    [[nodiscard]] bool IsOperationOutcome() const {
        auto v = Json();
        return v.is_object() && v.as_object().if_contains("resourceType") &&
               v.at("resourceType") == "OperationOutcome" && v.as_object().if_contains("issue") &&
               v.at("issue").is_array() && !v.at("issue").as_array().empty();
    }
};

/// What a reply shows when an assertion on it fails.
inline std::string Describe(const Reply& r) {
    return std::to_string(r.status) + " " + r.body.substr(0, 600);
}

/// One request per connection, Content-Length framed. `target` may be an absolute URL of
/// this server (a link from a Bundle): its scheme and host are dropped.
class Client {
  public:
    explicit Client(uint16_t port) : port_(port) {}

    Reply Send(const std::string& method, std::string target, const Headers& headers = {},
               const std::string& body = {}) const {
        if (target.rfind("http://", 0) == 0) {
            auto slash = target.find('/', 7);
            target = slash == std::string::npos ? "/" : target.substr(slash);
        }
        std::string request = method + " " + target + " HTTP/1.1\r\nHost: " + kHost + "\r\n";
        for (const auto& [name, value] : headers) request += name + ": " + value + "\r\n";
        if (!body.empty() || method == "POST" || method == "PUT") {
            request += "Content-Length: " + std::to_string(body.size()) + "\r\n";
        }
        request += "\r\n" + body;
        http::testing::RawClient raw(port_, std::chrono::milliseconds(60000));
        Reply reply;
        if (!raw.connected() || !raw.Send(request)) return reply;
        auto read = raw.Read(method == "HEAD");
        if (!read) return reply;
        reply.status = read->status;
        reply.headers = std::move(read->headers);
        reply.body = std::move(read->body);
        return reply;
    }

    Reply Get(const std::string& target, const Headers& headers = {}) const {
        return Send("GET", target, headers);
    }
    /// POST/PUT with a FHIR JSON body.
    Reply Post(const std::string& target, const std::string& body, Headers headers = {}) const {
        headers.emplace_back("Content-Type", "application/fhir+json");
        return Send("POST", target, headers, body);
    }
    Reply Put(const std::string& target, const std::string& body, Headers headers = {}) const {
        headers.emplace_back("Content-Type", "application/fhir+json");
        return Send("PUT", target, headers, body);
    }
    Reply Delete(const std::string& target) const { return Send("DELETE", target); }

  private:
    uint16_t port_;
};

/// The engines the suites run on; PostgreSQL tests skip without CARNET_TEST_PG.
inline const char* PgDsn() {
    const char* dsn = std::getenv("CARNET_TEST_PG");
    return dsn && *dsn ? dsn : nullptr;
}

/// Runs one SQL command on its own connection; "" on success, else the server's message.
inline std::string PgAdmin(const std::string& dsn, const std::string& sql) {
    PGconn* conn = PQconnectdb(dsn.c_str());
    std::string error;
    if (PQstatus(conn) != CONNECTION_OK) {
        error = PQerrorMessage(conn);
    } else {
        PQsetNoticeProcessor(
            conn, [](void*, const char*) {}, nullptr);
        PGresult* r = PQexec(conn, sql.c_str());
        const auto st = PQresultStatus(r);
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) error = PQerrorMessage(conn);
        PQclear(r);
    }
    PQfinish(conn);
    return error;
}

/// A store, the FHIR service over it and a running server. Construct, then check Start().
class ApiServer {
  public:
    explicit ApiServer(std::string engine, int64_t clock_start_us)
        : engine_(std::move(engine)), clock_(clock_start_us) {}
    ~ApiServer() { Stop(); }
    ApiServer(const ApiServer&) = delete;
    ApiServer& operator=(const ApiServer&) = delete;

    /// Opens the store (PostgreSQL: emptied first) and starts the server. "" on success.
    std::string Start(http::ServerOptions server_options = DefaultServerOptions(),
                      ApiOptions api_options = {}) {
        crypto::Init();
        spdlog::set_level(spdlog::level::warn);  // no line per server start and migration
        dir_ = std::filesystem::temp_directory_path() /
               ("carnet-api-" + std::to_string(getpid()) + "-" + NewUuid());
        store::StoreOptions so;
        so.engine = engine_;
        so.data_dir = dir_;
        if (engine_ == "postgres") {
            if (!PgDsn()) return "CARNET_TEST_PG not set";
            so.pg_dsn = PgDsn();
        }
        auto opened = store::OpenStore(so, crypto::MasterKey::FromKeyForTest(crypto::NewKey()));
        if (!opened.ok()) return "cannot open the store: " + opened.error().Summary();
        store_ = std::move(opened).value();
        if (engine_ == "postgres") {
            // One database for every test: start from empty tables. The store was just opened,
            // so it caches no patient key that the TRUNCATE would orphan.
            if (!store_->Write([](store::WriteTxn&) { return Ok(); }).ok()) return "no write";
            auto err = PgAdmin(so.pg_dsn,
                               "TRUNCATE resources, versions, patient_keys, blobs, blob_chunks, "
                               "idx_token, idx_string, "
                               "idx_date, idx_ref, idx_quantity RESTART IDENTITY");
            if (!err.empty()) return "TRUNCATE failed: " + err;
        }
        service_ = std::make_unique<FhirService>(*store_, clock_);
        store::Store* store_ptr = store_.get();
        http::RegisterOpsRoutes(router_, [store_ptr] { return store_ptr->Ping(); });
        RegisterFhirRoutes(router_, *service_, api_options);
        server_ = std::make_unique<http::Server>(server_options, router_);
        if (auto s = server_->Start(); !s.ok()) return "cannot start: " + s.error().Summary();
        return "";
    }

    void Stop() {
        if (server_) server_->Stop();
        server_.reset();
        if (store_) store_->Close();
        store_.reset();
        if (!dir_.empty()) {
            std::error_code ec;
            std::filesystem::remove_all(dir_, ec);
        }
    }

    static http::ServerOptions DefaultServerOptions() {
        http::ServerOptions o;
        o.port = 0;
        o.threads = 2;
        o.access_log = false;
        o.read_timeout = std::chrono::seconds(60);
        o.shutdown_timeout = std::chrono::seconds(5);
        return o;
    }

    [[nodiscard]] Client client() const { return Client(server_->Port()); }
    [[nodiscard]] uint16_t port() const { return server_->Port(); }
    FhirService& service() { return *service_; }
    store::Store& store() { return *store_; }
    /// Only while no request is in flight (the server threads read it).
    FixedClock& clock() { return clock_; }

  private:
    std::string engine_;
    FixedClock clock_;
    std::filesystem::path dir_;
    std::unique_ptr<store::Store> store_;
    std::unique_ptr<FhirService> service_;
    http::Router router_;
    std::unique_ptr<http::Server> server_;
};

// ---- small JSON helpers ---------------------------------------------------------------

inline std::string Str(const json::value& v) {
    return v.is_string() ? std::string(v.as_string()) : std::string();
}

/// The entries of a Bundle whose search.mode is `mode` (empty: every entry).
inline std::vector<json::object> Entries(const json::value& bundle, const std::string& mode = {}) {
    std::vector<json::object> out;
    if (!bundle.is_object()) return out;
    const auto* entry = bundle.as_object().if_contains("entry");
    if (!entry || !entry->is_array()) return out;
    for (const auto& e : entry->as_array()) {
        if (!e.is_object()) continue;
        if (!mode.empty()) {
            const auto* search = e.as_object().if_contains("search");
            if (!search || !search->is_object() || Str(search->at("mode")) != mode) continue;
        }
        out.push_back(e.as_object());
    }
    return out;
}

/// The link of `relation` ("self", "next"); "" when absent.
inline std::string Link(const json::value& bundle, const std::string& relation) {
    if (!bundle.is_object()) return "";
    const auto* links = bundle.as_object().if_contains("link");
    if (!links || !links->is_array()) return "";
    for (const auto& l : links->as_array()) {
        if (Str(l.at("relation")) == relation) return Str(l.at("url"));
    }
    return "";
}

/// "Type/id" of each match entry of a searchset page.
inline std::vector<std::string> MatchKeys(const json::value& bundle) {
    std::vector<std::string> out;
    for (const auto& e : Entries(bundle, "match")) {
        const auto& r = e.at("resource").as_object();
        out.push_back(Str(r.at("resourceType")) + "/" + Str(r.at("id")));
    }
    return out;
}

/// Percent-encodes a query value (RFC 3986 unreserved kept).
inline std::string Encode(const std::string& s) {
    static const char* kHex = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            out.push_back(static_cast<char>(c));
        } else {
            out.push_back('%');
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 15]);
        }
    }
    return out;
}

/// Boost.URL (http/server.cpp) refuses a raw '|' in a request target, as RFC 3986 does:
/// clients send token searches as system%7Ccode.
inline std::string EncodePipes(std::string target) {
    for (size_t pos = 0; (pos = target.find('|', pos)) != std::string::npos;) {
        target.replace(pos, 1, "%7C");
    }
    return target;
}

}  // namespace carnet::api::testing
