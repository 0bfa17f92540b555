// FHIR search over real Synthea records (http://hl7.org/fhir/R4/search.html). The hospital and
// practitioner batches and three patient transactions are POSTed to /fhir once per engine;
// every expected count is computed from the bundle files themselves.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "api/api_harness.hpp"

namespace carnet::api {
namespace {

using testing::ApiServer;
using testing::Client;
using testing::Describe;
using testing::EncodePipes;
using testing::Entries;
using testing::Link;
using testing::MatchKeys;
using testing::Reply;
using testing::Str;
namespace json = boost::json;
namespace fs = std::filesystem;

constexpr int64_t kT0 = 1'893'456'000'000'000;  // 2030-01-01T00:00:00Z
const std::string kSyntheaSystem = "https://github.com/synthetichealth/synthea";
const std::string kNpiSystem = "http://hl7.org/fhir/sid/us-npi";

/// What one patient file holds, read with Boost.JSON (never through the code under test).
struct PatientFile {
    fs::path path;
    std::string full_url;  // urn:uuid:… of the Patient entry
    std::string file_id;   // the Patient's id in the file (also its Synthea identifier)
    json::object patient;
    std::vector<json::object> observations;  // whose subject is this patient
    std::vector<json::object> encounters;    // whose subject is this patient
};

fs::path FileStartingWith(const std::string& prefix) {
    for (const auto& f : fhir::testing::SyntheaFiles()) {
        if (f.filename().string().rfind(prefix, 0) == 0) return f;
    }
    return {};
}

PatientFile ReadPatientFile(const fs::path& path) {
    PatientFile out;
    out.path = path;
    auto bundle = json::parse(fhir::testing::ReadFile(path)).as_object();
    for (const auto& e : bundle.at("entry").as_array()) {
        const auto& resource = e.at("resource").as_object();
        if (Str(resource.at("resourceType")) == "Patient") {
            out.full_url = Str(e.at("fullUrl"));
            out.file_id = Str(resource.at("id"));
            out.patient = resource;
        }
    }
    for (const auto& e : bundle.at("entry").as_array()) {
        const auto& resource = e.at("resource").as_object();
        const auto* subject = resource.if_contains("subject");
        if (!subject || Str(subject->at("reference")) != out.full_url) continue;
        if (Str(resource.at("resourceType")) == "Observation") out.observations.push_back(resource);
        if (Str(resource.at("resourceType")) == "Encounter") out.encounters.push_back(resource);
    }
    return out;
}

/// The three patients: X has Observations before and during 2015.
const std::vector<std::string> kPatientPrefixes = {"Aurore252_", "Jerry654_", "Bob965_"};

const std::vector<PatientFile>& Files() {
    static const std::vector<PatientFile> files = [] {
        std::vector<PatientFile> out;
        for (const auto& prefix : kPatientPrefixes) {
            fs::path p = FileStartingWith(prefix);
            if (!p.empty()) out.push_back(ReadPatientFile(p));
        }
        return out;
    }();
    return files;
}

/// One loaded server per engine, shared by the whole suite.
struct LoadedServer {
    std::unique_ptr<ApiServer> server;
    std::string error;  // why loading failed; "" when loaded
    bool skipped = false;
    std::vector<std::string> patient_ids;  // server ids, in Files() order
};

std::string PostBundleFile(const Client& client, const fs::path& path) {
    Reply r = client.Post("/fhir", fhir::testing::ReadFile(path));
    if (r.status != 200) return path.filename().string() + ": " + Describe(r);
    for (const auto& e : Entries(r.Json())) {
        const std::string status = Str(e.at("response").at("status"));
        if (status.empty() || status[0] != '2') {
            return path.filename().string() + ": an entry failed: " + json::serialize(e);
        }
    }
    return "";
}

class SyntheaSearchTest : public ::testing::TestWithParam<std::string> {
  protected:
    static void TearDownTestSuite() { loaded_.clear(); }

    void SetUp() override {
        if (Files().size() != kPatientPrefixes.size()) GTEST_SKIP() << "Synthea data missing";
        auto& slot = loaded_[GetParam()];
        if (!slot) slot = Load(GetParam());
        if (slot->skipped) GTEST_SKIP() << slot->error;
        ASSERT_EQ(slot->error, "");
        env_ = slot.get();
        client_ = std::make_unique<Client>(env_->server->client());
    }

    static std::unique_ptr<LoadedServer> Load(const std::string& engine) {
        auto out = std::make_unique<LoadedServer>();
        out->server = std::make_unique<ApiServer>(engine, kT0);
        out->error = out->server->Start();
        if (out->error == "CARNET_TEST_PG not set") out->skipped = true;
        if (!out->error.empty()) return out;
        Client client = out->server->client();
        const fs::path dir = fhir::testing::SyntheaDir();
        std::vector<fs::path> order;
        for (const auto& f : fhir::testing::SyntheaFiles()) {
            const std::string name = f.filename().string();
            if (name.rfind("hospitalInformation", 0) == 0 ||
                name.rfind("practitionerInformation", 0) == 0) {
                order.push_back(f);
            }
        }
        if (order.size() != 2) {
            out->error = "hospital/practitioner bundles missing in " + dir.string();
            return out;
        }
        for (const auto& f : Files()) order.push_back(f.path);
        for (const auto& f : order) {
            out->error = PostBundleFile(client, f);
            if (!out->error.empty()) return out;
        }
        // The server assigned new ids: find each patient by its Synthea identifier.
        for (const auto& f : Files()) {
            Reply r = client.Get("/fhir/Patient?identifier=" + testing::Encode(kSyntheaSystem) +
                                 "%7C" + f.file_id);
            auto keys = MatchKeys(r.Json());
            if (keys.size() != 1) {
                out->error = "patient " + f.file_id + " found " + std::to_string(keys.size()) +
                             " times: " + Describe(r);
                return out;
            }
            out->patient_ids.push_back(keys[0].substr(8));
        }
        return out;
    }

    const PatientFile& X() const { return Files()[0]; }
    const std::string& XId() const { return env_->patient_ids[0]; }
    const PatientFile& Small() const { return Files()[2]; }
    const std::string& SmallId() const { return env_->patient_ids[2]; }

    Reply Get(const std::string& target, const testing::Headers& headers = {}) {
        return client_->Get(EncodePipes(target), headers);
    }

    /// Every match of a search, following next links; fails on a non-200 page.
    std::vector<std::string> AllMatches(const std::string& target, int* pages = nullptr) {
        std::vector<std::string> out;
        std::string next = EncodePipes(target);
        int n = 0;
        for (; !next.empty() && n < 2000; ++n) {
            Reply r = client_->Get(next);
            EXPECT_EQ(r.status, 200) << Describe(r);
            if (r.status != 200) break;
            auto bundle = r.Json();
            for (auto& key : MatchKeys(bundle)) out.push_back(key);
            next = Link(bundle, "next");
        }
        if (pages) *pages = n;
        return out;
    }

    int64_t Total(const std::string& target) {
        Reply r = Get(target + "&_summary=count");
        EXPECT_EQ(r.status, 200) << Describe(r);
        auto v = r.Json();
        if (!v.is_object() || !v.as_object().if_contains("total")) return -1;
        EXPECT_TRUE(Entries(v, "match").empty()) << r.body.substr(0, 300);
        return v.at("total").to_number<int64_t>();
    }

    static std::map<std::string, std::unique_ptr<LoadedServer>> loaded_;
    LoadedServer* env_ = nullptr;
    std::unique_ptr<Client> client_;
};

std::map<std::string, std::unique_ptr<LoadedServer>> SyntheaSearchTest::loaded_;

std::string Effective(const json::object& observation) {
    return Str(observation.at("effectiveDateTime"));
}

TEST_P(SyntheaSearchTest, ObservationsOfAPatientMatchTheFile) {
    for (size_t i = 0; i < Files().size(); ++i) {
        const auto& f = Files()[i];
        const std::string& id = env_->patient_ids[i];
        SCOPED_TRACE(f.path.filename().string());
        ASSERT_FALSE(f.observations.empty());
        const auto expected = static_cast<int64_t>(f.observations.size());
        EXPECT_EQ(Total("/fhir/Observation?patient=" + id), expected);
        // Every reference form names the same patient.
        EXPECT_EQ(Total("/fhir/Observation?patient=Patient/" + id), expected);
        EXPECT_EQ(Total("/fhir/Observation?subject=Patient/" + id), expected);
        EXPECT_EQ(Total("/fhir/Observation?subject:Patient=" + id), expected);
        EXPECT_EQ(Total("/fhir/Observation?subject=" + testing::kBase + "/Patient/" + id),
                  expected);
    }
    // The matches are this patient's Observations, each once.
    auto all = AllMatches("/fhir/Observation?patient=" + XId() + "&_count=1000");
    EXPECT_EQ(all.size(), X().observations.size());
    EXPECT_EQ(std::set<std::string>(all.begin(), all.end()).size(), all.size());
    EXPECT_EQ(Total("/fhir/Observation?patient=no-such-patient"), 0);
    EXPECT_EQ(Total("/fhir/Observation?subject:Group=" + XId()), 0);
}

TEST_P(SyntheaSearchTest, TokenCodeForms) {
    // The most frequent coding among X's Observations; expected counts over every loaded file.
    std::map<std::pair<std::string, std::string>, int> frequency;
    for (const auto& o : X().observations) {
        for (const auto& c : o.at("code").at("coding").as_array()) {
            ++frequency[{Str(c.at("system")), Str(c.at("code"))}];
        }
    }
    ASSERT_FALSE(frequency.empty());
    const auto [system, code] =
        std::max_element(frequency.begin(), frequency.end(), [](const auto& a, const auto& b) {
            return a.second < b.second;
        })->first;
    int64_t with_system = 0, any_system = 0, no_system = 0;
    for (const auto& f : Files()) {
        for (const auto& o : f.observations) {
            bool s = false, a = false, n = false;
            for (const auto& c : o.at("code").at("coding").as_array()) {
                if (Str(c.at("code")) != code) continue;
                a = true;
                const auto* sys = c.as_object().if_contains("system");
                if (!sys) n = true;
                if (sys && Str(*sys) == system) s = true;
            }
            with_system += s;
            any_system += a;
            no_system += n;
        }
    }
    ASSERT_GT(with_system, 1);
    EXPECT_EQ(Total("/fhir/Observation?code=" + system + "|" + code), with_system);
    EXPECT_EQ(Total("/fhir/Observation?code=" + code), any_system);
    EXPECT_EQ(Total("/fhir/Observation?code=|" + code), no_system);
    EXPECT_EQ(Total("/fhir/Observation?code=urn:not-loinc|" + code), 0);
    // The brief's example code (body height) is absent from this Synthea-HIV data set.
    EXPECT_EQ(Total("/fhir/Observation?code=http://loinc.org|8302-2"), 0);
    // Combined with the patient: only X's share.
    const int64_t x_share = frequency[std::make_pair(system, code)];
    EXPECT_EQ(Total("/fhir/Observation?patient=" + XId() + "&code=" + system + "|" + code),
              x_share);
}

TEST_P(SyntheaSearchTest, DatePrefixesMatchTheFile) {
    int64_t ge = 0, lt = 0, in_2015 = 0, in_2014_12 = 0;
    for (const auto& o : X().observations) {
        const std::string when = Effective(o);
        // The comparisons below read the text as UTC: Synthea writes +00:00.
        ASSERT_EQ(when.substr(19), "+00:00") << when;
        if (when >= "2015-01-01") ++ge;
        if (when < "2015-01-01") ++lt;
        if (when.rfind("2015", 0) == 0) ++in_2015;
        if (when.rfind("2014-12", 0) == 0) ++in_2014_12;
    }
    ASSERT_GT(ge, 0);
    ASSERT_GT(lt, 0);
    const std::string base = "/fhir/Observation?patient=" + XId();
    EXPECT_EQ(Total(base + "&date=ge2015-01-01"), ge);
    EXPECT_EQ(Total(base + "&date=lt2015-01-01"), lt);
    EXPECT_EQ(Total(base + "&date=eq2015"), in_2015);
    EXPECT_EQ(Total(base + "&date=2015"), in_2015);
    EXPECT_EQ(Total(base + "&date=2014-12"), in_2014_12);
    EXPECT_EQ(Total(base + "&date=ge2015-01-01&date=lt2016-01-01"), in_2015);
    EXPECT_EQ(Total(base + "&date=ge2015-01-01T00:00:00Z"), ge);
    EXPECT_EQ(Total(base + "&date=lt1900"), 0);
    EXPECT_EQ(Total(base + "&date=ge1900"), static_cast<int64_t>(X().observations.size()));
    Reply bad = Get(base + "&date=2015-13-01");
    EXPECT_EQ(bad.status, 400) << Describe(bad);
    EXPECT_TRUE(bad.IsOperationOutcome());
}

TEST_P(SyntheaSearchTest, SortByDateDescending) {
    int pages = 0;
    std::vector<std::string> dates;
    std::string next = "/fhir/Observation?patient=" + XId() + "&_sort=-date&_count=40";
    for (; !next.empty() && pages < 100; ++pages) {
        Reply r = Get(next);
        ASSERT_EQ(r.status, 200) << Describe(r);
        for (const auto& e : Entries(r.Json(), "match")) {
            dates.push_back(Str(e.at("resource").at("effectiveDateTime")));
        }
        next = Link(r.Json(), "next");
    }
    EXPECT_GT(pages, 1);
    ASSERT_EQ(dates.size(), X().observations.size());
    for (size_t i = 1; i < dates.size(); ++i) {
        EXPECT_GE(dates[i - 1], dates[i]) << "at " << i;
    }
    // Ascending is the mirror image.
    Reply asc = Get("/fhir/Observation?patient=" + XId() + "&_sort=date&_count=1");
    ASSERT_EQ(asc.status, 200);
    EXPECT_EQ(Str(Entries(asc.Json(), "match").at(0).at("resource").at("effectiveDateTime")),
              dates.back());
}

TEST_P(SyntheaSearchTest, PagingReturnsEveryMatchOnce) {
    int pages = 0;
    auto all = AllMatches("/fhir/Observation?patient=" + SmallId() + "&_count=5", &pages);
    const size_t expected = Small().observations.size();
    EXPECT_EQ(all.size(), expected);
    EXPECT_EQ(std::set<std::string>(all.begin(), all.end()).size(), expected);
    EXPECT_EQ(pages, static_cast<int>((expected + 4) / 5));
    // The first page of a multi-page search has a next link that keeps the parameters.
    Reply first = Get("/fhir/Observation?patient=" + SmallId() + "&_count=5");
    const std::string next = Link(first.Json(), "next");
    EXPECT_NE(next.find("_count=5"), std::string::npos) << next;
    EXPECT_NE(next.find("patient=" + SmallId()), std::string::npos) << next;
    EXPECT_EQ(MatchKeys(first.Json()).size(), 5U);
}

TEST_P(SyntheaSearchTest, PagingStaysCorrectWhenAResourceIsInsertedBetweenPages) {
    const std::string search = "/fhir/Observation?patient=" + SmallId() + "&_count=5";
    std::vector<std::string> seen;
    Reply first = Get(search);
    ASSERT_EQ(first.status, 200) << Describe(first);
    for (auto& k : MatchKeys(first.Json())) seen.push_back(k);
    std::string next = Link(first.Json(), "next");
    ASSERT_FALSE(next.empty());

    Reply created = client_->Post(
        "/fhir/Observation",
        R"({"resourceType":"Observation","status":"final","code":{"text":"inserted"},)"
        R"("subject":{"reference":"Patient/)" +
            SmallId() + R"("},"effectiveDateTime":"2015-06-01T00:00:00+00:00"})");
    ASSERT_EQ(created.status, 201) << Describe(created);
    const std::string inserted = "Observation/" + Str(created.Json().at("id"));

    for (int pages = 0; !next.empty() && pages < 100; ++pages) {
        Reply r = client_->Get(next);
        ASSERT_EQ(r.status, 200) << Describe(r);
        for (auto& k : MatchKeys(r.Json())) seen.push_back(k);
        next = Link(r.Json(), "next");
    }
    // Keep the shared data as loaded.
    EXPECT_EQ(client_->Delete("/fhir/" + inserted).status, 204);

    std::multiset<std::string> counted(seen.begin(), seen.end());
    EXPECT_LE(counted.count(inserted), 1U);
    counted.erase(inserted);
    EXPECT_EQ(counted.size(), Small().observations.size());
    EXPECT_EQ(std::set<std::string>(counted.begin(), counted.end()).size(), counted.size())
        << "a match came twice";
    EXPECT_EQ(Total("/fhir/Observation?patient=" + SmallId()),
              static_cast<int64_t>(Small().observations.size()));
}

TEST_P(SyntheaSearchTest, SummaryCountReturnsTheTotalOnly) {
    Reply r = Get("/fhir/Observation?patient=" + XId() + "&_summary=count");
    ASSERT_EQ(r.status, 200) << Describe(r);
    auto v = r.Json();
    EXPECT_EQ(Str(v.at("type")), "searchset");
    EXPECT_EQ(v.at("total").to_number<int64_t>(), static_cast<int64_t>(X().observations.size()));
    EXPECT_TRUE(Entries(v).empty()) << r.body.substr(0, 300);
    EXPECT_TRUE(Link(v, "next").empty());
}

TEST_P(SyntheaSearchTest, PatientNameSearches) {
    const std::string family = Str(X().patient.at("name").at(0).at("family"));  // "Jacobs452"
    ASSERT_GE(family.size(), 6U);
    const std::string x = "Patient/" + XId();
    using V = std::vector<std::string>;
    EXPECT_EQ(AllMatches("/fhir/Patient?family=" + family), V{x});
    // Prefix, case- and accent-insensitive: "JÄCO" finds "Jacobs452".
    std::string upper = family.substr(0, 4);
    for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    EXPECT_EQ(AllMatches("/fhir/Patient?family=" + upper), V{x});
    std::string accented = upper;
    if (accented[1] == 'A') accented.replace(1, 1, "\xC3\x84");  // Ä
    EXPECT_EQ(AllMatches("/fhir/Patient?family=" + testing::Encode(accented)), V{x});
    // Not a prefix: no match without :contains.
    const std::string middle = family.substr(2, 4);
    EXPECT_EQ(AllMatches("/fhir/Patient?family=" + middle), V{});
    EXPECT_EQ(AllMatches("/fhir/Patient?name:contains=" + middle), V{x});
    // :exact is case-sensitive and whole.
    EXPECT_EQ(AllMatches("/fhir/Patient?family:exact=" + family), V{x});
    std::string lower = family;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    EXPECT_EQ(AllMatches("/fhir/Patient?family:exact=" + lower), V{});
    EXPECT_EQ(AllMatches("/fhir/Patient?family:exact=" + family.substr(0, 4)), V{});
    // The given name is part of name.
    const std::string given = Str(X().patient.at("name").at(0).at("given").at(0));
    EXPECT_EQ(AllMatches("/fhir/Patient?name=" + given), V{x});
    // An unsupported modifier is refused.
    EXPECT_EQ(Get("/fhir/Patient?family:fuzzy=jac").status, 400);
}

TEST_P(SyntheaSearchTest, PatientBirthdateAndIdentifier) {
    std::set<std::string> expected_same_day, expected_after;
    const std::string birth = Str(X().patient.at("birthDate"));
    for (size_t i = 0; i < Files().size(); ++i) {
        const std::string b = Str(Files()[i].patient.at("birthDate"));
        if (b == birth) expected_same_day.insert("Patient/" + env_->patient_ids[i]);
        if (b > birth) expected_after.insert("Patient/" + env_->patient_ids[i]);
    }
    auto set_of = [&](const std::string& target) {
        auto v = AllMatches(target);
        return std::set<std::string>(v.begin(), v.end());
    };
    EXPECT_EQ(set_of("/fhir/Patient?birthdate=" + birth), expected_same_day);
    EXPECT_EQ(set_of("/fhir/Patient?birthdate=gt" + birth), expected_after);
    EXPECT_EQ(set_of("/fhir/Patient?birthdate=" + birth.substr(0, 4)).count("Patient/" + XId()),
              1U);

    using V = std::vector<std::string>;
    const std::string x = "Patient/" + XId();
    EXPECT_EQ(AllMatches("/fhir/Patient?identifier=" + kSyntheaSystem + "|" + X().file_id), V{x});
    EXPECT_EQ(AllMatches("/fhir/Patient?identifier=" + X().file_id).size(), 1U);
    EXPECT_EQ(AllMatches("/fhir/Patient?identifier=urn:other|" + X().file_id), V{});
    EXPECT_EQ(AllMatches("/fhir/Patient?_id=" + XId()), V{x});
}

TEST_P(SyntheaSearchTest, IncludeBringsTheParticipants) {
    // The practitioners X's encounters name, by NPI (their ids were assigned by the server).
    std::set<std::string> npis;
    for (const auto& e : X().encounters) {
        for (const auto& p : e.at("participant").as_array()) {
            const std::string ref = Str(p.at("individual").at("reference"));
            const std::string prefix = "Practitioner?identifier=" + kNpiSystem + "|";
            ASSERT_EQ(ref.rfind(prefix, 0), 0U) << ref;
            npis.insert(ref.substr(prefix.size()));
        }
    }
    ASSERT_FALSE(npis.empty());
    Reply r =
        Get("/fhir/Encounter?patient=" + XId() + "&_include=Encounter:participant&_count=1000");
    ASSERT_EQ(r.status, 200) << Describe(r);
    auto bundle = r.Json();
    EXPECT_EQ(Entries(bundle, "match").size(), X().encounters.size());
    std::set<std::string> included_npis;
    for (const auto& e : Entries(bundle, "include")) {
        const auto& resource = e.at("resource");
        EXPECT_EQ(Str(resource.at("resourceType")), "Practitioner");
        for (const auto& id : resource.at("identifier").as_array()) {
            if (Str(id.at("system")) == kNpiSystem) included_npis.insert(Str(id.at("value")));
        }
    }
    EXPECT_EQ(Entries(bundle, "include").size(), npis.size()) << "an include came twice";
    EXPECT_EQ(included_npis, npis);
    EXPECT_NE(Link(bundle, "self").find("_include=Encounter"), std::string::npos);
    // Without _include: matches only.
    Reply plain = Get("/fhir/Encounter?patient=" + XId() + "&_count=1000");
    EXPECT_TRUE(Entries(plain.Json(), "include").empty());
    // _include must name the searched type.
    EXPECT_EQ(Get("/fhir/Encounter?_include=Observation:subject").status, 400);
    EXPECT_EQ(Get("/fhir/Encounter?_include=Encounter:status").status, 400);
}

TEST_P(SyntheaSearchTest, RevincludeBringsThePatientsObservations) {
    Reply r = Get("/fhir/Patient?_id=" + XId() + "&_revinclude=Observation:patient");
    ASSERT_EQ(r.status, 200) << Describe(r);
    auto bundle = r.Json();
    EXPECT_EQ(MatchKeys(bundle), std::vector<std::string>{"Patient/" + XId()});
    auto included = Entries(bundle, "include");
    EXPECT_EQ(included.size(), X().observations.size());
    std::set<std::string> ids;
    for (const auto& e : included) {
        EXPECT_EQ(Str(e.at("resource").at("resourceType")), "Observation");
        EXPECT_EQ(Str(e.at("resource").at("subject").at("reference")), "Patient/" + XId());
        ids.insert(Str(e.at("resource").at("id")));
    }
    EXPECT_EQ(ids.size(), included.size());
}

TEST_P(SyntheaSearchTest, UnknownParametersStrictAndLenient) {
    Reply strict = Get("/fhir/Patient?shoe-size=42&_id=" + XId());
    EXPECT_EQ(strict.status, 400) << Describe(strict);
    EXPECT_TRUE(strict.IsOperationOutcome());

    Reply lenient =
        Get("/fhir/Patient?shoe-size=42&_id=" + XId(), {{"Prefer", "handling=lenient"}});
    ASSERT_EQ(lenient.status, 200) << Describe(lenient);
    auto bundle = lenient.Json();
    EXPECT_EQ(MatchKeys(bundle), std::vector<std::string>{"Patient/" + XId()});
    const std::string self = Link(bundle, "self");
    EXPECT_EQ(self.find("shoe-size"), std::string::npos) << self;
    EXPECT_NE(self.find("_id=" + XId()), std::string::npos) << self;
    // The ignored parameter is reported as a warning.
    auto outcome = Entries(bundle, "outcome");
    ASSERT_EQ(outcome.size(), 1U);
    EXPECT_EQ(Str(outcome[0].at("resource").at("issue").at(0).at("severity")), "warning");
}

TEST_P(SyntheaSearchTest, CountAndCursorLimits) {
    Reply too_many = Get("/fhir/Observation?_count=1001");
    EXPECT_EQ(too_many.status, 400) << Describe(too_many);
    EXPECT_TRUE(too_many.IsOperationOutcome());
    EXPECT_EQ(Get("/fhir/Observation?_count=-1").status, 400);
    EXPECT_EQ(Get("/fhir/Observation?_count=ten").status, 400);
    EXPECT_EQ(Get("/fhir/Observation?patient=" + XId() + "&_count=1000").status, 200);

    Reply zero = Get("/fhir/Observation?patient=" + XId() + "&_count=0");
    ASSERT_EQ(zero.status, 200) << Describe(zero);
    EXPECT_TRUE(Entries(zero.Json(), "match").empty());

    for (const char* cursor : {"garbage", "AAAA", "%00%01", "eyJyaWQiOi0xfQ", "-1"}) {
        SCOPED_TRACE(cursor);
        Reply r = Get(std::string("/fhir/Observation?patient=") + XId() + "&_cursor=" + cursor);
        EXPECT_EQ(r.status, 400) << Describe(r);
        EXPECT_TRUE(r.IsOperationOutcome());
    }
}

TEST_P(SyntheaSearchTest, LastUpdated) {
    // Everything was loaded at the fixed instant 2030-01-01T00:00:00Z.
    EXPECT_EQ(Total("/fhir/Patient?_lastUpdated=ge2030-01-01"),
              static_cast<int64_t>(Files().size()));
    EXPECT_EQ(Total("/fhir/Patient?_lastUpdated=eq2030-01-01"),
              static_cast<int64_t>(Files().size()));
    EXPECT_EQ(Total("/fhir/Patient?_lastUpdated=lt2030-01-01"), 0);
    EXPECT_EQ(Total("/fhir/Patient?_lastUpdated=gt2030-01-02"), 0);
    EXPECT_EQ(Total("/fhir/Observation?patient=" + XId() + "&_lastUpdated=ge2029"),
              static_cast<int64_t>(X().observations.size()));
}

INSTANTIATE_TEST_SUITE_P(Engines, SyntheaSearchTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& engine) { return engine.param; });

}  // namespace
}  // namespace carnet::api
