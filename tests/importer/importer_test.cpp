// `carnet import` over the Synthea sample: every entry loads whatever the order of the paths,
// a second run changes nothing, and a broken file is reported without stopping the rest.
// The full import runs once per process (it takes ~25 s under ASan).
#include "importer/importer.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <set>

#include "core/clock.hpp"
#include "core/ids.hpp"
#include "crypto/crypto.hpp"
#include "fhir/synthea.hpp"
#include "store/open.hpp"

namespace carnet::importer {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

/// A SQLite store in a temp dir and the FHIR service over it.
class StoreInTempDir {
  public:
    StoreInTempDir() {
        crypto::Init();
        dir_ = fs::temp_directory_path() /
               ("carnet-import-" + std::to_string(getpid()) + "-" + NewUuid());
        store::StoreOptions options;
        options.engine = "sqlite";
        options.data_dir = dir_ / "data";
        auto opened =
            store::OpenStore(options, crypto::MasterKey::FromKeyForTest(crypto::NewKey()));
        if (!opened.ok()) {
            error_ = opened.error().Summary();
            return;
        }
        store_ = std::move(opened).value();
        service_ = std::make_unique<api::FhirService>(*store_, clock_);
    }
    ~StoreInTempDir() {
        service_.reset();
        if (store_) store_->Close();
        store_.reset();
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
    StoreInTempDir(const StoreInTempDir&) = delete;
    StoreInTempDir& operator=(const StoreInTempDir&) = delete;

    [[nodiscard]] const std::string& error() const { return error_; }
    api::FhirService& service() { return *service_; }
    /// A folder for the test's own files.
    [[nodiscard]] fs::path Scratch(const std::string& name) const {
        fs::path p = dir_ / name;
        fs::create_directories(p);
        return p;
    }

    /// Number of current resources of `type` matching `query` (-1 on error).
    int64_t Count(const std::string& type, api::QueryParams query = {}) {
        query.emplace_back("_summary", "count");
        auto bundle = service_->Search(type, query, false, "http://localhost/fhir");
        if (!bundle.ok()) return -1;
        return json::parse(*bundle).at("total").to_number<int64_t>();
    }

  private:
    fs::path dir_;
    SystemClock clock_;
    std::unique_ptr<store::Store> store_;
    std::unique_ptr<api::FhirService> service_;
    std::string error_;
};

void WriteFile(const fs::path& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary);
    out << text;
}

size_t EntriesIn(const fs::path& file) {
    auto v = json::parse(fhir::testing::ReadFile(file));
    const auto* e = v.as_object().if_contains("entry");
    return e ? e->as_array().size() : 0;
}

bool IsReferenceFile(const fs::path& file) {
    const std::string name = file.filename().string();
    return name.rfind("hospitalInformation", 0) == 0 ||
           name.rfind("practitionerInformation", 0) == 0;
}

// ---- the full Synthea folder ------------------------------------------------------------

class SyntheaImportTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        files_ = fhir::testing::SyntheaFiles();
        if (files_.empty()) return;
        store_ = std::make_unique<StoreInTempDir>();
        if (!store_->error().empty()) return;
        // Patient files first, the files they point at last: the importer must cope.
        std::vector<fs::path> patients, references;
        for (const auto& f : files_) (IsReferenceFile(f) ? references : patients).push_back(f);
        paths_ = patients;
        paths_.insert(paths_.end(), references.begin(), references.end());
        ImportOptions options;
        options.threads = 2;
        first_ = ImportPaths(store_->service(), paths_, options);
    }
    static void TearDownTestSuite() { store_.reset(); }

    void SetUp() override {
        if (files_.empty()) GTEST_SKIP() << "no Synthea data at " << fhir::testing::SyntheaDir();
        ASSERT_EQ(store_->error(), "");
    }

    static std::vector<fs::path> files_;
    static std::vector<fs::path> paths_;
    static std::unique_ptr<StoreInTempDir> store_;
    static ImportSummary first_;
};

std::vector<fs::path> SyntheaImportTest::files_;
std::vector<fs::path> SyntheaImportTest::paths_;
std::unique_ptr<StoreInTempDir> SyntheaImportTest::store_;
ImportSummary SyntheaImportTest::first_;

TEST_F(SyntheaImportTest, LoadsEveryEntryWhateverTheOrderOfThePaths) {
    ASSERT_EQ(paths_.size(), files_.size());
    ASSERT_TRUE(IsReferenceFile(paths_.back()));
    int64_t total = 0, observations = 0, patients = 0;
    for (const auto& f : files_) {
        total += static_cast<int64_t>(EntriesIn(f));
        auto bundle = json::parse(fhir::testing::ReadFile(f));
        for (const auto& e : bundle.at("entry").as_array()) {
            const auto& type = e.at("resource").at("resourceType").as_string();
            observations += type == "Observation";
            patients += type == "Patient";
        }
    }
    EXPECT_EQ(first_.files, static_cast<int>(files_.size()));
    EXPECT_EQ(first_.files_failed, 0);
    EXPECT_EQ(first_.entries_failed, 0);
    EXPECT_TRUE(first_.errors.empty()) << FormatSummary(first_);
    EXPECT_EQ(first_.resources, total);
    EXPECT_EQ(first_.created, total);
    EXPECT_EQ(first_.updated + first_.unchanged, 0);
    // The store holds what the files hold, under the ids the files give.
    EXPECT_EQ(store_->Count("Patient"), patients);
    EXPECT_EQ(store_->Count("Observation"), observations);
    auto bob = fhir::testing::FirstResource("Bob965_", "Patient");
    ASSERT_TRUE(bob.is_object());
    const std::string bob_id(bob.at("id").as_string());
    EXPECT_EQ(store_->Count("Patient", {{"_id", bob_id}}), 1);
    // Conditional references were resolved to the ids of the reference files.
    auto encounter = fhir::testing::FirstResource("Bob965_", "Encounter");
    auto read = store_->service().Read("Encounter", std::string(encounter.at("id").as_string()));
    ASSERT_TRUE(read.ok());
    auto stored = json::parse(read->json);
    const std::string provider(stored.at("serviceProvider").at("reference").as_string());
    EXPECT_EQ(provider.rfind("Organization/", 0), 0U) << provider;
    EXPECT_TRUE(store_->service().Read("Organization", provider.substr(13)).ok());
    EXPECT_EQ(std::string(stored.at("subject").at("reference").as_string()), "Patient/" + bob_id);
    // The summary is printable and names the counts.
    const std::string text = FormatSummary(first_);
    EXPECT_NE(text.find(std::to_string(total) + " resources"), std::string::npos) << text;
}

TEST_F(SyntheaImportTest, SecondImportChangesNothing) {
    ImportOptions options;
    options.threads = 2;
    ImportSummary second = ImportPaths(store_->service(), paths_, options);
    EXPECT_EQ(second.files_failed, 0);
    EXPECT_EQ(second.entries_failed, 0);
    EXPECT_TRUE(second.errors.empty()) << FormatSummary(second);
    EXPECT_EQ(second.resources, first_.resources);
    EXPECT_EQ(second.created, 0);
    EXPECT_EQ(second.updated, 0);
    EXPECT_EQ(second.unchanged, first_.resources);
    // Still one version of each: a patient's history has a single entry.
    auto bob = fhir::testing::FirstResource("Bob965_", "Patient");
    auto history = store_->service().History("Patient", std::string(bob.at("id").as_string()), {},
                                             "http://localhost/fhir");
    ASSERT_TRUE(history.ok());
    EXPECT_EQ(json::parse(*history).at("entry").as_array().size(), 1U);
}

// ---- small folders --------------------------------------------------------------------------

class SmallImportTest : public ::testing::Test {
  protected:
    void SetUp() override { ASSERT_EQ(store_.error(), ""); }
    StoreInTempDir store_;
};

const char* kValidTransaction = R"({"resourceType":"Bundle","type":"transaction","entry":[
  {"fullUrl":"urn:uuid:5f0c7b52-8f3e-4a51-9c6b-2d7e1f0a9b31",
   "resource":{"resourceType":"Patient","id":"5f0c7b52-8f3e-4a51-9c6b-2d7e1f0a9b31",
               "name":[{"family":"Valide"}]},
   "request":{"method":"POST","url":"Patient"}},
  {"fullUrl":"urn:uuid:9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
   "resource":{"resourceType":"Observation","id":"9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
               "status":"final","code":{"text":"weight"},
               "subject":{"reference":"urn:uuid:5f0c7b52-8f3e-4a51-9c6b-2d7e1f0a9b31"}},
   "request":{"method":"POST","url":"Observation"}}]})";

TEST_F(SmallImportTest, BrokenFileIsReportedAndTheRestLoads) {
    const fs::path dir = store_.Scratch("mixed");
    const std::string valid = kValidTransaction;
    WriteFile(dir / "a_truncated.json", valid.substr(0, valid.size() / 2));
    WriteFile(dir / "b_valid.json", valid);
    WriteFile(dir / "c_notes.txt", "not json, and not *.json either");  // ignored
    const fs::path missing = store_.Scratch("elsewhere") / "missing.json";

    ImportSummary summary = ImportPaths(store_.service(), {dir, missing}, {});
    EXPECT_EQ(summary.files, 2);
    EXPECT_EQ(summary.files_failed, 2);  // the truncated file and the missing path
    EXPECT_EQ(summary.resources, 2);
    EXPECT_EQ(summary.created, 2);
    ASSERT_EQ(summary.errors.size(), 2U) << FormatSummary(summary);
    std::set<std::string> failed;
    for (const auto& e : summary.errors) {
        failed.insert(fs::path(e.file).filename().string());
        EXPECT_FALSE(e.reason.empty());
    }
    EXPECT_EQ(failed, (std::set<std::string>{"a_truncated.json", "missing.json"}));
    for (const auto& e : summary.errors) {
        if (fs::path(e.file).filename() == "a_truncated.json") {
            EXPECT_NE(e.reason.find("JSON"), std::string::npos) << e.reason;
        }
    }
    const std::string text = FormatSummary(summary);
    EXPECT_NE(text.find("a_truncated.json"), std::string::npos) << text;

    EXPECT_TRUE(store_.service().Read("Patient", "5f0c7b52-8f3e-4a51-9c6b-2d7e1f0a9b31").ok());
    auto obs = store_.service().Read("Observation", "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d");
    ASSERT_TRUE(obs.ok());
    EXPECT_NE(obs->json.find("\"Patient/5f0c7b52-8f3e-4a51-9c6b-2d7e1f0a9b31\""),
              std::string::npos);
}

TEST_F(SmallImportTest, InvalidEntriesOfABatchAreCountedAndNamed) {
    const fs::path dir = store_.Scratch("batch");
    WriteFile(dir / "batch.json", R"({"resourceType":"Bundle","type":"batch","entry":[
      {"resource":{"resourceType":"Patient","id":"ok-1"},"request":{"method":"POST","url":"Patient"}},
      {"resource":{"resourceType":"Observation","id":"bad-1","status":"final"},
       "request":{"method":"POST","url":"Observation"}}]})");
    // A file holding one bare resource is a one-entry batch.
    WriteFile(dir / "single.json", R"({"resourceType":"Patient","id":"single-1"})");
    // A transaction with an invalid entry fails whole.
    WriteFile(dir / "tx.json", R"({"resourceType":"Bundle","type":"transaction","entry":[
      {"resource":{"resourceType":"Patient","id":"tx-1"},"request":{"method":"POST","url":"Patient"}},
      {"resource":{"resourceType":"Observation","id":"tx-bad","status":"final"},
       "request":{"method":"POST","url":"Observation"}}]})");
    ImportSummary summary = ImportPaths(store_.service(), {dir}, {});
    EXPECT_EQ(summary.files, 3);
    EXPECT_EQ(summary.files_failed, 1);
    EXPECT_EQ(summary.entries_failed, 1);
    EXPECT_EQ(summary.created, 2);
    EXPECT_TRUE(store_.service().Read("Patient", "ok-1").ok());
    EXPECT_TRUE(store_.service().Read("Patient", "single-1").ok());
    EXPECT_FALSE(store_.service().Read("Patient", "tx-1").ok());
    EXPECT_FALSE(store_.service().Read("Observation", "bad-1").ok());
    std::set<std::string> named;
    for (const auto& e : summary.errors) named.insert(fs::path(e.file).filename().string());
    EXPECT_EQ(named, (std::set<std::string>{"batch.json", "tx.json"}));
}

TEST_F(SmallImportTest, ConditionalReferencesToALaterFileAreRetried) {
    // A patient bundle, and a batch of just the organisations, locations and practitioners it
    // points at, written with "entry" before "type" so that the importer cannot tell it is a
    // batch up front: the patient bundle runs first, fails on its references, and is retried.
    const fs::path patient_file = [] {
        for (const auto& f : fhir::testing::SyntheaFiles()) {
            if (f.filename().string().rfind("Bob965_", 0) == 0) return f;
        }
        return fs::path();
    }();
    if (patient_file.empty()) GTEST_SKIP() << "no Synthea data";
    const std::string patient_text = fhir::testing::ReadFile(patient_file);
    std::set<std::string> wanted;  // "Type?identifier=system|value"
    auto collect = [&](auto& self, const json::value& v) -> void {
        if (v.is_object()) {
            for (const auto& kv : v.as_object()) {
                if (kv.key() == "reference" && kv.value().is_string()) {
                    std::string ref(kv.value().as_string());
                    if (ref.find("?identifier=") != std::string::npos) wanted.insert(ref);
                } else {
                    self(self, kv.value());
                }
            }
        } else if (v.is_array()) {
            for (const auto& e : v.as_array()) self(self, e);
        }
    };
    collect(collect, json::parse(patient_text));
    ASSERT_FALSE(wanted.empty());

    json::array entries;
    for (const auto& f : fhir::testing::SyntheaFiles()) {
        if (!IsReferenceFile(f)) continue;
        auto bundle = json::parse(fhir::testing::ReadFile(f));
        for (const auto& e : bundle.at("entry").as_array()) {
            const auto& r = e.at("resource").as_object();
            const auto* identifiers = r.if_contains("identifier");
            if (!identifiers) continue;  // PractitionerRoles carry none
            for (const auto& id : identifiers->as_array()) {
                const std::string key = std::string(r.at("resourceType").as_string()) +
                                        "?identifier=" + std::string(id.at("system").as_string()) +
                                        "|" + std::string(id.at("value").as_string());
                if (wanted.count(key)) {
                    entries.push_back(e);
                    break;
                }
            }
        }
    }
    ASSERT_GE(entries.size(), wanted.size());
    json::object refs;
    refs["entry"] = std::move(entries);  // before "type" on purpose
    refs["resourceType"] = "Bundle";
    refs["type"] = "batch";
    const fs::path dir = store_.Scratch("order");
    WriteFile(dir / "a_patient.json", patient_text);
    WriteFile(dir / "z_references.json", json::serialize(refs));

    ImportOptions one_at_a_time;  // two threads could load the references first by chance
    one_at_a_time.threads = 1;
    ImportSummary summary = ImportPaths(store_.service(), {dir}, one_at_a_time);
    EXPECT_EQ(summary.files_failed, 0) << FormatSummary(summary);
    EXPECT_EQ(summary.entries_failed, 0);
    EXPECT_TRUE(summary.errors.empty()) << FormatSummary(summary);
    EXPECT_EQ(summary.resources, static_cast<int64_t>(EntriesIn(dir / "a_patient.json") +
                                                      EntriesIn(dir / "z_references.json")));
    auto bob = fhir::testing::FirstResource("Bob965_", "Patient");
    EXPECT_TRUE(store_.service().Read("Patient", std::string(bob.at("id").as_string())).ok());

    // Without the references the patient bundle cannot load, and says why.
    StoreInTempDir empty;
    ASSERT_EQ(empty.error(), "");
    ImportSummary alone = ImportPaths(empty.service(), {dir / "a_patient.json"}, {});
    EXPECT_EQ(alone.files_failed, 1);
    EXPECT_EQ(alone.resources, 0);
    ASSERT_EQ(alone.errors.size(), 1U);
    EXPECT_NE(alone.errors[0].reason.find("conditional reference"), std::string::npos)
        << alone.errors[0].reason;
    EXPECT_EQ(empty.Count("Patient"), 0);
}

}  // namespace
}  // namespace carnet::importer
