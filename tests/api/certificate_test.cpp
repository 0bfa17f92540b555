// Professionals signing in with their card: a TLS client certificate chained to the
// operator's CA, checked for dates and revocation, carrying an RPPS known to the directory.
// A throwaway PKI is made with openssl (tests/http/make-test-pki.sh) and libcurl presents
// each card to the real server: valid, expired, revoked, foreign CA, self-signed, no id,
// unknown id.
#include <curl/curl.h>

#include <cstdlib>

#include "api/auth_routes.hpp"
#include "api_harness.hpp"
#include "auth/service.hpp"

namespace carnet::api::testing {
namespace {

namespace fs = std::filesystem;
constexpr int64_t kT0 = 1'800'000'000'000'000;
const std::string kCardRpps = "10001234565";  // in the test PKI's cards (serialNumber 8 + id)

struct CurlReply {
    long status = 0;
    std::string body;
    std::string cookies;  // Set-Cookie lines
};

size_t Collect(char* data, size_t size, size_t n, void* out) {
    static_cast<std::string*>(out)->append(data, size * n);
    return size * n;
}

size_t CollectHeader(char* data, size_t size, size_t n, void* out) {
    std::string line(data, size * n);
    if (line.rfind("Set-Cookie:", 0) == 0 || line.rfind("set-cookie:", 0) == 0)
        static_cast<std::string*>(out)->append(line);
    return size * n;
}

class CertificateTest : public ::testing::Test {
  protected:
    void SetUp() override {
        crypto::Init();
        spdlog::set_level(spdlog::level::warn);
        dir_ = fs::temp_directory_path() / ("carnet-cert-" + NewUuid());
        fs::create_directories(dir_ / "pki");
        const char* src = std::getenv("CARNET_SOURCE_DIR");
        fs::path script = fs::path(src ? src : ".") / "tests" / "http" / "make-test-pki.sh";
        ASSERT_EQ(
            std::system(("sh '" + script.string() + "' '" + (dir_ / "pki").string() + "'").c_str()),
            0)
            << "cannot build the test PKI";
        store::StoreOptions so;
        so.engine = "sqlite";
        so.data_dir = dir_;
        auto opened = store::OpenStore(so, crypto::MasterKey::FromKeyForTest(crypto::NewKey()));
        ASSERT_TRUE(opened.ok());
        store_ = std::move(opened).value();
        service_ = std::make_unique<FhirService>(*store_, clock_);
        auth::AuthOptions ao;
        ao.password_cost = {1, 1024 * 1024};
        auth_ = std::make_unique<auth::AuthService>(*store_, clock_, std::string(32, 'c'), ao);
        authenticator_ = std::make_unique<Authenticator>(*auth_, AuthRouteOptions{});
        RegisterAuthRoutes(router_, *authenticator_, *store_, clock_);
        ApiOptions api;
        api.guard = [this](http::Request& req) { return GuardContent(*authenticator_, req); };
        RegisterFhirRoutes(router_, *service_, api);
        http::ServerOptions o = ApiServer::DefaultServerOptions();
        o.tls.cert_file = (dir_ / "pki" / "server.crt").string();
        o.tls.key_file = (dir_ / "pki" / "server.key").string();
        o.tls.client_ca_file = (dir_ / "pki" / "ca.crt").string();
        o.tls.crl_file = (dir_ / "pki" / "ca.crl").string();
        server_ = std::make_unique<http::Server>(o, router_);
        auto started = server_->Start();
        ASSERT_TRUE(started.ok()) << started.error().Summary();
    }
    void TearDown() override {
        if (server_) server_->Stop();
        if (store_) store_->Close();
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }

    /// A request over HTTPS presenting the card `name` ("" for none).
    CurlReply Call(const std::string& method, const std::string& path, const std::string& card,
                   const std::vector<std::string>& headers = {}, const std::string& body = "") {
        CurlReply r;
        CURL* c = curl_easy_init();
        const std::string url = "https://127.0.0.1:" + std::to_string(server_->Port()) + path;
        const std::string ca = (dir_ / "pki" / "ca.crt").string();
        const std::string cert = (dir_ / "pki" / ("client-" + card + ".crt")).string();
        const std::string key = (dir_ / "pki" / ("client-" + card + ".key")).string();
        curl_easy_setopt(c, CURLOPT_URL, url.c_str());
        curl_easy_setopt(c, CURLOPT_CAINFO, ca.c_str());
        if (!card.empty()) {
            curl_easy_setopt(c, CURLOPT_SSLCERT, cert.c_str());
            curl_easy_setopt(c, CURLOPT_SSLKEY, key.c_str());
        }
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
        curl_slist* list = nullptr;
        for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
        if (!body.empty() || method == "POST") {
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
        }
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, Collect);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, CollectHeader);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, &r.cookies);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
        if (curl_easy_perform(c) == CURLE_OK)
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
        curl_slist_free_all(list);
        curl_easy_cleanup(c);
        return r;
    }

    void ImportCardHolder() {
        auth::NewProfessional p;
        p.rpps = kCardRpps;
        p.given = "Hélène";
        p.family = "Martin";
        p.profession = "medecin";
        ASSERT_TRUE(auth_->CreateProfessional(p, "test").ok());
    }

    fs::path dir_;
    std::unique_ptr<store::Store> store_;
    FixedClock clock_{kT0};
    std::unique_ptr<FhirService> service_;
    std::unique_ptr<auth::AuthService> auth_;
    std::unique_ptr<Authenticator> authenticator_;
    http::Router router_;
    std::unique_ptr<http::Server> server_;
};

TEST_F(CertificateTest, OnlyAValidCardOfAKnownProfessionalOpensTheApi) {
    // Unknown id: a valid card whose RPPS is not (yet) in the directory.
    CurlReply unknown = Call("GET", "/fhir/Patient", "valid");
    EXPECT_EQ(unknown.status, 401) << unknown.body;
    EXPECT_NE(unknown.body.find("annuaire"), std::string::npos) << unknown.body;
    ImportCardHolder();
    CurlReply ok = Call("GET", "/fhir/Patient", "valid");
    EXPECT_EQ(ok.status, 200) << ok.body;
    for (const auto& [card, reason] : std::vector<std::pair<std::string, std::string>>{
             {"expired", "expired"},
             {"revoked", "revoked"},
             {"foreign", "issuer"},
             {"selfsigned", "self"},
             {"noid", "identifiant national"},
         }) {
        CurlReply r = Call("GET", "/fhir/Patient", card);
        EXPECT_EQ(r.status, 401) << card << " " << r.body;
        EXPECT_NE(r.body.find(reason), std::string::npos) << card << " " << r.body;
    }
    // No card at all: the same listener serves password users.
    EXPECT_EQ(Call("GET", "/fhir/Patient", "").status, 401);
    EXPECT_EQ(Call("GET", "/fhir/metadata", "").status, 200);
}

TEST_F(CertificateTest, TheCardOpensAPortalSessionWithASecureCookie) {
    ImportCardHolder();
    CurlReply refused = Call("POST", "/auth/certificate", "revoked");
    EXPECT_EQ(refused.status, 401);
    CurlReply none = Call("POST", "/auth/certificate", "");
    EXPECT_EQ(none.status, 401);
    CurlReply s = Call("POST", "/auth/certificate", "valid");
    ASSERT_EQ(s.status, 200) << s.body;
    EXPECT_NE(s.cookies.find("carnet_session="), std::string::npos);
    EXPECT_NE(s.cookies.find("Secure"), std::string::npos) << "TLS: the cookie is Secure";
    EXPECT_NE(s.cookies.find("HttpOnly"), std::string::npos);
    auto token = json::parse(s.body).at("access_token").as_string();
    CurlReply session =
        Call("GET", "/auth/session", "", {"Authorization: Bearer " + std::string(token)});
    ASSERT_EQ(session.status, 200) << session.body;
    EXPECT_NE(session.body.find("\"kind\":\"professional\""), std::string::npos);
    EXPECT_NE(session.body.find("\"method\":\"certificate\""), std::string::npos);
}

TEST_F(CertificateTest, CardWritesFromAnotherSiteAreRefused) {
    ImportCardHolder();
    const std::string obs =
        R"({"resourceType":"Observation","status":"final","code":{"text":"x"}})";
    CurlReply cross = Call("POST", "/fhir/Observation", "valid",
                           {"Content-Type: application/fhir+json", "Origin: https://evil.example",
                            "Sec-Fetch-Site: cross-site"},
                           obs);
    EXPECT_EQ(cross.status, 403) << cross.body;
    CurlReply software =
        Call("POST", "/fhir/Observation", "valid", {"Content-Type: application/fhir+json"}, obs);
    EXPECT_EQ(software.status, 201) << software.body;
}

}  // namespace
}  // namespace carnet::api::testing
