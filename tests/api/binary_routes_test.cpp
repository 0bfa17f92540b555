// Issue 5, documents' content over FHIR: POST /fhir/Binary with raw bytes (X-Security-Context)
// or a Binary resource (base64), GET /fhir/Binary/{id} as raw bytes streamed from the sealed
// blob, or as JSON. With the stack `carnet serve` builds (access decision, write gate, the
// identity routes), on both engines. The upload abuse cases of the issue: wrong magic bytes,
// limit−1 / limit / limit+1 sizes, path tricks in the record reference, polyglots, zero
// bytes — each refused or handled as specified, with nothing half-stored.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "access/context.hpp"
#include "api/auth_routes.hpp"
#include "api_harness.hpp"
#include "auth/service.hpp"
#include "crypto/crypto.hpp"
#include "people.hpp"

namespace carnet::api::testing {
namespace {

constexpr int64_t kT0 = 1'800'000'000'000'000;  // 2027-01-15
constexpr const char* kPortal = "http://portal/";
constexpr int64_t kProLimit = 2 * 1024 * 1024;  // configured below the 20 MiB default

/// A PDF of exactly `size` bytes (a comment pads it), with `marker` inside.
std::string Pdf(size_t size, const std::string& marker = "MARKER-PDF") {
    std::string head = "%PDF-1.4\n% " + marker + "\n1 0 obj\n<<>>\nendobj\n%";
    const std::string tail = "\ntrailer\n<<>>\n%%EOF\n";
    if (size < head.size() + tail.size()) return head + tail;
    return head + std::string(size - head.size() - tail.size(), 'x') + tail;
}

/// A JPEG skeleton with an EXIF segment holding a GPS position and a comment.
std::string JpegWithExif() {
    auto seg = [](unsigned char marker, const std::string& payload) {
        const size_t n = payload.size() + 2;
        return std::string{'\xFF', static_cast<char>(marker), static_cast<char>(n >> 8),
                           static_cast<char>(n & 0xFF)} +
               payload;
    };
    return std::string("\xFF\xD8", 2) + seg(0xE0, std::string("JFIF\0\1\1\0\0\1\0\1\0\0", 14)) +
           seg(0xE1, std::string("Exif\0\0", 6) + "GPS-48.8566N-2.3522E") +
           seg(0xFE, "Comment Dr Martin") + seg(0xDB, std::string(65, '\x01')) +
           seg(0xDA, std::string("\x01\x01\x00\x00\x3F\x00", 6)) + "\x12\x34\xFF\x00\x56" +
           std::string("\xFF\xD9", 2) + "TRAILING";
}

class BinaryRoutesTest : public ::testing::TestWithParam<std::string>, protected PeopleFixture {
  protected:
    void SetUp() override {
        crypto::Init();
        spdlog::set_level(spdlog::level::warn);
        if (GetParam() == "postgres" && !PgDsn()) GTEST_SKIP() << "CARNET_TEST_PG not set";
        ASSERT_NO_FATAL_FAILURE(
            OpenCleanStore(GetParam(), "carnet-binary-", kIdentityAndAccessTables));
        service_ = std::make_unique<FhirService>(*store_, clock_);
        service_->SetWriteGate(auth::CheckRecordWritable);
        service_->SetAccess(AccessConfig{&grids_, kPortal});
        ContentPolicy policy;  // patients: the default 5 MiB
        policy.limits.professional_bytes = kProLimit;
        service_->SetContentPolicy(policy);
        StartAuth(clock_);
        authenticator_ = std::make_unique<Authenticator>(*auth_, AuthRouteOptions{});
        RegisterAuthRoutes(router_, *authenticator_, *store_, clock_, service_.get());
        ApiOptions api;
        api.identify = [this](http::Request& req) { return IdentifyContent(*authenticator_, req); };
        RegisterFhirRoutes(router_, *service_, api);
        server_ = std::make_unique<http::Server>(ApiServer::DefaultServerOptions(), router_);
        ASSERT_TRUE(server_->Start().ok());
        client_ = std::make_unique<Client>(server_->Port());

        marie_ = NewPatient("2850575123456", "Marie", "Martin", "1985-05-12", "marie@example.fr");
        paul_ = NewPatient("1790175123456", "Paul", "Durand", "1979-01-20", "paul@example.fr");
        gp_ = NewPro("1000000001", "Grégoire", "Lebon", "medecin", "Médecine générale",
                     "gp@example.fr");
        pharma_ = NewPro("1000000004", "Luc", "Petit", "pharmacien", "", "pharma@example.fr");
        // Marie authorised her GP; the pharmacist has no relation with her.
        Exec(
            "INSERT INTO access_relations(patient_id, professional_account, status, via_code, "
            "roles, created_at, updated_at, updated_by) VALUES (?, ?, 'authorised', 0, '', ?, ?, "
            "'test')",
            {marie_.patient_id, gp_.account_id, kT0, kT0});
    }

    void TearDown() override {
        if (server_) server_->Stop();
        server_.reset();
        CloseStore();
    }

    Reply Upload(const Person& who, const std::string& type, const std::string& bytes,
                 const std::string& context) {
        Headers h = {{"Authorization", "Bearer " + who.token}, {"Content-Type", type}};
        if (!context.empty()) h.emplace_back("X-Security-Context", context);
        return client_->Send("POST", "/fhir/Binary", h, bytes);
    }
    Reply UploadJson(const Person& who, const std::string& type, const std::string& bytes,
                     const std::string& context) {
        json::object b{{"resourceType", "Binary"},
                       {"contentType", type},
                       {"securityContext", json::object{{"reference", context}}},
                       {"data", crypto::Base64Encode(bytes)}};
        return client_->Send(
            "POST", "/fhir/Binary",
            {{"Authorization", "Bearer " + who.token}, {"Content-Type", "application/fhir+json"}},
            json::serialize(b));
    }
    Reply Download(const Person& who, const std::string& id, const std::string& accept = {}) {
        Headers h = {{"Authorization", "Bearer " + who.token}};
        if (!accept.empty()) h.emplace_back("Accept", accept);
        return client_->Send("GET", "/fhir/Binary/" + id, h);
    }
    /// What is stored: blobs, chunks, Binary resources.
    std::vector<int64_t> Stored() {
        return {Count("SELECT COUNT(*) FROM blobs"), Count("SELECT COUNT(*) FROM blob_chunks"),
                Count("SELECT COUNT(*) FROM resources WHERE type = 'Binary'")};
    }
    std::string Patient(const Person& p) const { return "Patient/" + p.patient_id; }

    FixedClock clock_{kT0};
    std::unique_ptr<FhirService> service_;
    std::unique_ptr<Authenticator> authenticator_;
    access::GridStore grids_;
    http::Router router_;
    std::unique_ptr<http::Server> server_;
    std::unique_ptr<Client> client_;
    Person marie_, paul_, gp_, pharma_;
};

TEST_P(BinaryRoutesTest, RawBytesGoInAndComeBackTheSameWithSafeHeaders) {
    const std::string pdf = Pdf(700 * 1000, "MARKER-CR-MARIE");
    Reply up = Upload(gp_, "application/pdf", pdf, Patient(marie_));
    ASSERT_EQ(up.status, 201) << Describe(up);
    const std::string id = std::string(up.Json().at("id").as_string());
    EXPECT_NE(up.Header("location").find("/fhir/Binary/" + id), std::string::npos);
    EXPECT_EQ(up.Json().as_object().if_contains("data"), nullptr) << "no content in the answer";
    EXPECT_EQ(up.Json().at("contentType"), "application/pdf");

    for (const Person* who : {&marie_, &gp_}) {
        Reply raw = Download(*who, id);
        ASSERT_EQ(raw.status, 200) << Describe(raw);
        EXPECT_TRUE(raw.body == pdf) << "the same bytes";
        EXPECT_EQ(raw.Header("content-type"), "application/pdf");
        EXPECT_EQ(raw.Header("content-length"), std::to_string(pdf.size()));
        EXPECT_EQ(raw.Header("content-disposition"),
                  "attachment; filename=\"document-" + id.substr(0, 8) + ".pdf\"");
        EXPECT_EQ(raw.Header("x-content-type-options"), "nosniff");
        EXPECT_EQ(raw.Header("content-security-policy"), "sandbox; default-src 'none'");
        EXPECT_EQ(raw.Header("cache-control"), "no-store");
    }
    // As JSON: the resource with its content in base64.
    Reply js = Download(marie_, id, "application/fhir+json");
    ASSERT_EQ(js.status, 200) << Describe(js);
    EXPECT_EQ(js.Json().at("data"), json::value(crypto::Base64Encode(pdf)));
    Reply fmt = client_->Send("GET", "/fhir/Binary/" + id + "?_format=json",
                              {{"Authorization", "Bearer " + marie_.token}});
    EXPECT_EQ(fmt.Json().at("data"), json::value(crypto::Base64Encode(pdf)));
    // Each read is in Marie's access log, the upload too.
    EXPECT_EQ(Count("SELECT COUNT(*) FROM audit_log WHERE patient_id = ? AND resource_type = "
                    "'Binary' AND resource_id = ? AND action = 'read' AND outcome = 'allow'",
                    {marie_.patient_id, id}),
              4);
    EXPECT_EQ(Count("SELECT COUNT(*) FROM audit_log WHERE patient_id = ? AND resource_id = ? AND "
                    "action = 'create'",
                    {marie_.patient_id, id}),
              1);
    // Sealed at rest: the marker is nowhere in the database files.
    if (GetParam() == "sqlite") {
        for (const char* f : {"carnet.db", "carnet.db-wal"}) {
            std::ifstream in(dir_ / f, std::ios::binary);
            const std::string bytes((std::istreambuf_iterator<char>(in)), {});
            EXPECT_EQ(bytes.find("MARKER-CR-MARIE"), std::string::npos) << f;
        }
    }
}

TEST_P(BinaryRoutesTest, APhotoLosesItsPositionAndWhatFollowsIt) {
    const std::string jpeg = JpegWithExif();
    Reply up = Upload(marie_, "image/jpeg", jpeg, Patient(marie_));
    ASSERT_EQ(up.status, 201) << Describe(up);
    Reply raw = Download(marie_, std::string(up.Json().at("id").as_string()));
    ASSERT_EQ(raw.status, 200);
    EXPECT_EQ(raw.body.find("GPS-48.8566N"), std::string::npos);
    EXPECT_EQ(raw.body.find("Comment Dr Martin"), std::string::npos);
    EXPECT_EQ(raw.body.find("TRAILING"), std::string::npos);
    EXPECT_EQ(raw.body.substr(0, 2), "\xFF\xD8");
    EXPECT_EQ(raw.body.substr(raw.body.size() - 2), "\xFF\xD9");
    EXPECT_NE(raw.body.find("JFIF"), std::string::npos) << "the other segments stay";
    // Through JSON too.
    Reply js = UploadJson(marie_, "image/jpeg", jpeg, Patient(marie_));
    ASSERT_EQ(js.status, 201) << Describe(js);
    Reply back = Download(marie_, std::string(js.Json().at("id").as_string()));
    EXPECT_EQ(back.body, raw.body);
}

TEST_P(BinaryRoutesTest, BadContentIsRefusedAndNothingIsHalfStored) {
    const std::string png(
        "\x89PNG\r\n\x1A\n\0\0\0\x0DIHDR\0\0\0\1\0\0\0\1\x08\x02\0\0\0\x90\x77\x53\xDE\0\0\0\0"
        "IEND\xAE\x42\x60\x82",
        45);
    Reply first = Upload(gp_, "application/pdf", Pdf(1000), Patient(marie_));
    ASSERT_EQ(first.status, 201);
    const auto before = Stored();
    struct Case {
        std::string what, type, bytes, context;
        int status;
    };
    const std::string html = "<html><script>alert(document.cookie)</script></html>";
    const std::vector<Case> cases = {
        {"PNG bytes declared as PDF", "application/pdf", png, Patient(marie_), 415},
        {"PDF bytes declared as PNG", "image/png", Pdf(1000), Patient(marie_), 415},
        {"an HTML page", "text/html", html, Patient(marie_), 415},
        {"HTML declared as text", "text/plain", html, Patient(marie_), 415},
        {"an SVG with script", "image/svg+xml",
         "<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>",
         Patient(marie_), 415},
        {"a PDF after an HTML page (polyglot)", "application/pdf", html + "\n" + Pdf(1000),
         Patient(marie_), 415},
        {"an executable", "application/octet-stream",
         "\x7F"
         "ELF\x02\x01\x01",
         Patient(marie_), 415},
        {"zero bytes", "application/pdf", "", Patient(marie_), 400},
        {"a JPEG cut before its end", "image/jpeg", JpegWithExif().substr(0, 30), Patient(marie_),
         415},
        {"no record named", "application/pdf", Pdf(1000), "", 400},
        {"a path in the record reference", "application/pdf", Pdf(1000),
         "Patient/../" + paul_.patient_id, 422},
        {"a reference with two ids", "application/pdf", Pdf(1000),
         Patient(marie_) + "/" + paul_.patient_id, 422},
        {"a record of another type", "application/pdf", Pdf(1000), "Observation/nothing", 422},
        {"the limit + 1 for a professional", "application/pdf", Pdf(kProLimit + 1), Patient(marie_),
         413},
    };
    for (const auto& c : cases) {
        Reply r = Upload(gp_, c.type, c.bytes, c.context);
        EXPECT_EQ(r.status, c.status) << c.what << ": " << Describe(r);
        EXPECT_TRUE(r.IsOperationOutcome()) << c.what;
        EXPECT_EQ(Stored(), before) << c.what << ": nothing stored";
        if (c.context == Patient(marie_) && c.status != 400) {
            Reply j = UploadJson(gp_, c.type, c.bytes, c.context);
            EXPECT_EQ(j.status, c.status) << c.what << " (JSON): " << Describe(j);
            EXPECT_EQ(Stored(), before) << c.what << " (JSON): nothing stored";
        }
    }
    // Base64 that is not: refused as invalid.
    Reply bad = client_->Send(
        "POST", "/fhir/Binary",
        {{"Authorization", "Bearer " + gp_.token}, {"Content-Type", "application/fhir+json"}},
        R"({"resourceType":"Binary","contentType":"application/pdf","securityContext":)"
        R"({"reference":")" +
            Patient(marie_) + R"("},"data":"JVBERi0x!!"})");
    EXPECT_EQ(bad.status, 400) << Describe(bad);
    EXPECT_EQ(Stored(), before);
}

TEST_P(BinaryRoutesTest, EachUploaderHasItsLimitToTheByte) {
    const int64_t patient_limit = 5 * 1024 * 1024;  // the default, as the reference service
    for (const auto& [who, limit] : std::vector<std::pair<const Person*, int64_t>>{
             {&marie_, patient_limit}, {&gp_, kProLimit}}) {
        for (int64_t delta : {-1, 0, 1}) {
            const auto size = static_cast<size_t>(limit + delta);
            const auto before = Stored();
            Reply r = Upload(*who, "application/pdf", Pdf(size), Patient(marie_));
            if (delta <= 0) {
                ASSERT_EQ(r.status, 201) << who->login << " " << size << ": " << Describe(r);
                Reply back = Download(marie_, std::string(r.Json().at("id").as_string()));
                EXPECT_EQ(back.body.size(), size);
            } else {
                EXPECT_EQ(r.status, 413) << who->login << " " << size << ": " << Describe(r);
                EXPECT_EQ(Stored(), before);
            }
        }
    }
}

TEST_P(BinaryRoutesTest, WhoMayNotOpenTheRecordCanNeitherDepositNorRead) {
    Reply up = Upload(gp_, "application/pdf", Pdf(5000, "MARKER-SECRET"), Patient(marie_));
    ASSERT_EQ(up.status, 201);
    const std::string id = std::string(up.Json().at("id").as_string());
    const auto before = Stored();
    // The pharmacist has no basis: reading answers as for an id that does not exist.
    Reply read = Download(pharma_, id);
    Reply missing = Download(pharma_, NewUuid());
    EXPECT_EQ(read.status, 404);
    EXPECT_EQ(read.body, missing.body);
    EXPECT_EQ(read.body.find("MARKER-SECRET"), std::string::npos);
    Reply js = Download(pharma_, id, "application/fhir+json");
    EXPECT_EQ(js.status, 404);
    // Paul reads nothing of Marie's, deposits nothing in her record.
    EXPECT_EQ(Download(paul_, id).status, 404);
    Reply dep = Upload(pharma_, "application/pdf", Pdf(1000), Patient(marie_));
    EXPECT_EQ(dep.status, 404) << Describe(dep);
    Reply dep2 = Upload(paul_, "application/pdf", Pdf(1000), Patient(marie_));
    EXPECT_EQ(dep2.status, 404) << Describe(dep2);
    EXPECT_EQ(Stored(), before);
    // Without a session: 401.
    EXPECT_EQ(client_->Send("GET", "/fhir/Binary/" + id).status, 401);
    EXPECT_EQ(Count("SELECT COUNT(*) FROM audit_log WHERE patient_id = ? AND outcome = 'deny'",
                    {marie_.patient_id}),
              5)
        << "each refusal is in Marie's log: the pharmacist's two reads and deposit, Paul's "
           "read and deposit";
}

TEST_P(BinaryRoutesTest, ContentDoesNotChangeAndGoesWithItsDeletion) {
    const std::string pdf = Pdf(3000);
    Reply up = UploadJson(gp_, "application/pdf", pdf, Patient(marie_));
    ASSERT_EQ(up.status, 201) << Describe(up);
    const std::string id = std::string(up.Json().at("id").as_string());
    auto put = [&](const std::string& bytes) {
        json::object b{{"resourceType", "Binary"},
                       {"id", id},
                       {"contentType", "application/pdf"},
                       {"securityContext", json::object{{"reference", Patient(marie_)}}},
                       {"data", crypto::Base64Encode(bytes)}};
        return client_->Send(
            "PUT", "/fhir/Binary/" + id,
            {{"Authorization", "Bearer " + gp_.token}, {"Content-Type", "application/fhir+json"}},
            json::serialize(b));
    };
    Reply same = put(pdf);
    EXPECT_EQ(same.status, 200) << Describe(same);
    EXPECT_EQ(same.Header("etag"), "W/\"1\"") << "the same content again is no new version";
    Reply other = put(Pdf(3000, "OTHER"));
    EXPECT_EQ(other.status, 422) << Describe(other);
    EXPECT_EQ(Download(marie_, id).body, pdf);
    // Deleted by its author: the content goes, the JSON history stays.
    Reply del =
        client_->Send("DELETE", "/fhir/Binary/" + id, {{"Authorization", "Bearer " + gp_.token}});
    EXPECT_EQ(del.status, 204) << Describe(del);
    EXPECT_EQ(Count("SELECT COUNT(*) FROM blobs WHERE id = ?", {id}), 0);
    EXPECT_EQ(Count("SELECT COUNT(*) FROM blob_chunks WHERE blob_id = ?", {id}), 0);
    EXPECT_EQ(Download(marie_, id).status, 410);
}

TEST_P(BinaryRoutesTest, ATransactionAsClinicalSoftwareSendsItFilesTheDocumentAndItsContent) {
    // The Binary first, its securityContext and the attachment both pointing at entries of
    // the same Bundle by urn:uuid, as a practice's software sends a lab report.
    const std::string pdf = Pdf(40 * 1000, "MARKER-LAB");
    const std::string doc_urn = "urn:uuid:" + NewUuid();
    const std::string bin_urn = "urn:uuid:" + NewUuid();
    json::object bundle{
        {"resourceType", "Bundle"},
        {"type", "transaction"},
        {"entry",
         json::array{
             json::object{{"fullUrl", bin_urn},
                          {"resource",
                           json::object{{"resourceType", "Binary"},
                                        {"contentType", "application/pdf"},
                                        {"securityContext", json::object{{"reference", doc_urn}}},
                                        {"data", crypto::Base64Encode(pdf)}}},
                          {"request", json::object{{"method", "POST"}, {"url", "Binary"}}}},
             json::object{
                 {"fullUrl", doc_urn},
                 {"resource",
                  json::object{{"resourceType", "DocumentReference"},
                               {"status", "current"},
                               {"type", json::object{{"coding", json::array{json::object{
                                                                    {"system", "http://loinc.org"},
                                                                    {"code", "11502-2"}}}}}},
                               {"subject", json::object{{"reference", Patient(marie_)}}},
                               {"description", "Bilan sanguin"},
                               {"content",
                                json::array{json::object{
                                    {"attachment", json::object{{"contentType", "application/pdf"},
                                                                {"url", bin_urn}}}}}}}},
                 {"request", json::object{{"method", "POST"}, {"url", "DocumentReference"}}}}}}};
    Reply r = client_->Send(
        "POST", "/fhir",
        {{"Authorization", "Bearer " + gp_.token}, {"Content-Type", "application/fhir+json"}},
        json::serialize(bundle));
    ASSERT_EQ(r.status, 200) << Describe(r);
    std::string bin_id, doc_id;
    const json::value out = r.Json();
    for (const auto& e : out.at("entry").as_array()) {
        const std::string loc = std::string(e.at("response").at("location").as_string());
        if (loc.rfind("Binary/", 0) == 0) bin_id = loc.substr(7, loc.find('/', 7) - 7);
        if (loc.rfind("DocumentReference/", 0) == 0)
            doc_id = loc.substr(18, loc.find('/', 18) - 18);
    }
    ASSERT_FALSE(bin_id.empty());
    ASSERT_FALSE(doc_id.empty());
    EXPECT_EQ(Count("SELECT COUNT(*) FROM blobs WHERE id = ?", {bin_id}), 1) << "sealed as a blob";
    Reply doc = client_->Send("GET", "/fhir/DocumentReference/" + doc_id,
                              {{"Authorization", "Bearer " + marie_.token}});
    ASSERT_EQ(doc.status, 200);
    EXPECT_EQ(doc.Json().at("content").at(0).at("attachment").at("url"),
              json::value("Binary/" + bin_id))
        << "the urn:uuid in the attachment became the Binary's id";
    Reply raw = Download(marie_, bin_id);
    ASSERT_EQ(raw.status, 200);
    EXPECT_TRUE(raw.body == pdf);
    // Masking the document masks its content: the Binary is decided as its document.
    Exec("UPDATE access_flags SET masked = 1 WHERE patient_id = ? AND id = ?",
         {marie_.patient_id, doc_id});
    Exec(
        "INSERT INTO access_relations(patient_id, professional_account, status, via_code, roles, "
        "created_at, updated_at, updated_by) VALUES (?, ?, 'authorised', 0, '', ?, ?, 'test')",
        {marie_.patient_id, pharma_.account_id, kT0, kT0});
    EXPECT_EQ(Download(pharma_, bin_id).status, 404) << "masked from the pharmacist";
    EXPECT_EQ(Download(gp_, bin_id).status, 200) << "its author still sees it";
}

TEST_P(BinaryRoutesTest, ThePortalsDepositIsOneTransactionThatStoresBothOrNothing) {
    // What the portal sends (web/src/api/documents.ts): the document first, then its bytes,
    // tied by urn:uuid, by the patient with her session. Refused bytes leave nothing.
    auto deposit = [&](const std::string& type, const std::string& bytes) {
        const std::string doc_urn = "urn:uuid:" + NewUuid();
        const std::string bin_urn = "urn:uuid:" + NewUuid();
        json::object bundle{
            {"resourceType", "Bundle"},
            {"type", "transaction"},
            {"entry",
             json::array{
                 json::object{
                     {"fullUrl", doc_urn},
                     {"resource",
                      json::object{
                          {"resourceType", "DocumentReference"},
                          {"status", "current"},
                          {"subject", json::object{{"reference", Patient(marie_)}}},
                          {"description", "Ordonnance"},
                          {"content", json::array{json::object{
                                          {"attachment", json::object{{"contentType", type},
                                                                      {"url", bin_urn}}}}}}}},
                     {"request", json::object{{"method", "POST"}, {"url", "DocumentReference"}}}},
                 json::object{{"fullUrl", bin_urn},
                              {"resource", json::object{{"resourceType", "Binary"},
                                                        {"contentType", type},
                                                        {"securityContext",
                                                         json::object{{"reference", doc_urn}}},
                                                        {"data", crypto::Base64Encode(bytes)}}},
                              {"request", json::object{{"method", "POST"}, {"url", "Binary"}}}}}}};
        return client_->Send("POST", "/fhir",
                             {{"Authorization", "Bearer " + marie_.token},
                              {"Content-Type", "application/fhir+json"}},
                             json::serialize(bundle));
    };
    const auto before = Stored();
    const int64_t docs = Count("SELECT COUNT(*) FROM resources WHERE type = 'DocumentReference'");
    Reply html = deposit("application/pdf", "<html><script>alert(1)</script></html>");
    EXPECT_EQ(html.status, 415) << Describe(html);
    Reply big = deposit("application/pdf", Pdf(5 * 1024 * 1024 + 1));
    EXPECT_EQ(big.status, 413) << Describe(big);
    EXPECT_EQ(Stored(), before) << "no blob, no chunk, no Binary";
    EXPECT_EQ(Count("SELECT COUNT(*) FROM resources WHERE type = 'DocumentReference'"), docs)
        << "and no document without its content";
    Reply ok = deposit("application/pdf", Pdf(5 * 1024 * 1024));
    ASSERT_EQ(ok.status, 200) << Describe(ok);
    EXPECT_EQ(Count("SELECT COUNT(*) FROM resources WHERE type = 'DocumentReference'"), docs + 1);
    EXPECT_EQ(Stored()[0], before[0] + 1);
}

INSTANTIATE_TEST_SUITE_P(Engines, BinaryRoutesTest, ::testing::Values("sqlite", "postgres"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

}  // namespace
}  // namespace carnet::api::testing
