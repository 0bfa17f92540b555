// carnet admin imports: the insurer's registry and the professional directory, from CSV and
// FHIR, idempotent, each bad row refused with its place and the rest imported.
#include "admin/admin.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "core/ids.hpp"
#include "crypto/crypto.hpp"
#include "store/open.hpp"

namespace carnet::admin {
namespace {

namespace fs = std::filesystem;

std::string Ins(const std::string& first13) {
    unsigned long long n = std::stoull(first13);
    return first13 + (97 - n % 97 < 10 ? "0" : "") + std::to_string(97 - n % 97);
}

class AdminTest : public ::testing::Test {
  protected:
    void SetUp() override {
        crypto::Init();
        dir_ = fs::temp_directory_path() / ("carnet-admin-" + NewUuid());
        store::StoreOptions so;
        so.data_dir = dir_;
        auto s = store::OpenStore(so, crypto::MasterKey::FromKeyForTest(crypto::NewKey()));
        ASSERT_TRUE(s.ok());
        store_ = std::move(s).value();
        auth::AuthOptions ao;
        ao.password_cost = {1, 1024 * 1024};
        auth_ = std::make_unique<auth::AuthService>(*store_, clock_, std::string(32, 'a'), ao);
        fhir_ = std::make_unique<api::FhirService>(*store_, clock_);
    }
    void TearDown() override {
        store_->Close();
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
    fs::path Write(const std::string& name, const std::string& text) {
        fs::path p = dir_ / name;
        std::ofstream(p, std::ios::binary) << text;
        return p;
    }
    int64_t Outbox(const std::string& to) {
        auto r = store_->OpenReader();
        auto rows = (*r)->Query("SELECT COUNT(*) FROM outbox WHERE recipient = ?", {to});
        return rows.ok() && !rows->empty() ? store::AsInt((*rows)[0][0]) : -1;
    }

    fs::path dir_;
    std::unique_ptr<store::Store> store_;
    FixedClock clock_{1'800'000'000'000'000};
    std::unique_ptr<auth::AuthService> auth_;
    std::unique_ptr<api::FhirService> fhir_;
};

TEST(Csv, QuotesSeparatorsLineEndsAndByteOrderMark) {
    auto rows = ParseCsv("\xEF\xBB\xBFins;family\r\n\"1 2\";\"Le \"\"Grand\"\"\"\n\nx,\"a,b\"\n");
    ASSERT_EQ(rows.size(), 3U);
    EXPECT_EQ(rows[0][0], "ins");
    EXPECT_EQ(rows[1][0], "1 2");
    EXPECT_EQ(rows[1][1], "Le \"Grand\"");
    EXPECT_EQ(rows[2][1], "a,b");
}

TEST(Csv, ProfessionsByCodeLabelOrNationalCode) {
    EXPECT_EQ(ProfessionCode("10"), "medecin");
    EXPECT_EQ(ProfessionCode("Médecin"), "medecin");
    EXPECT_EQ(ProfessionCode("60"), "infirmier");
    EXPECT_EQ(ProfessionCode("Masseur-kinésithérapeute"), "masseur-kinesitherapeute");
    EXPECT_EQ(ProfessionCode("pharmacien"), "pharmacien");
    EXPECT_EQ(ProfessionCode("astrologue"), "");
}

TEST_F(AdminTest, PatientsFromCsvAreCreatedOnceWithTheirRecordAndLetter) {
    auto file =
        Write("registry.csv", "ins,given,family,birth_date,email,phone\n" + Ins("2850575123456") +
                                  ",Marie,Martin,1985-05-12,marie@example.fr,\n" +
                                  "1234,Paul,Faux,1980-01-01,,\n" + Ins("1750275123456") +
                                  ",Paul,Durand,19750201,,\n" + Ins("1750275123457") +
                                  ",Luc,Petit,1975-02-01,,06 12 34 56 78\n");
    auto r = ImportPatients(*auth_, *fhir_, file);
    ASSERT_TRUE(r.ok()) << r.error().Summary();
    EXPECT_EQ(r->created, 2);
    EXPECT_EQ(r->failed, 2);
    ASSERT_EQ(r->errors.size(), 2U);
    EXPECT_EQ(r->errors[0].rfind("line 3: ", 0), 0U) << r->errors[0];
    EXPECT_EQ(r->errors[1].rfind("line 4: ", 0), 0U) << r->errors[1];
    ASSERT_EQ(r->codes.size(), 2U);
    EXPECT_EQ(r->codes[0].first, Ins("2850575123456"));
    EXPECT_EQ(Outbox("marie@example.fr"), 1) << "activation letter by e-mail";
    EXPECT_EQ(Outbox("+33612345678"), 1) << "or by SMS";
    // The record exists, with the INS as identifier.
    auto acc = auth_->FindByLogin(Ins("2850575123456"));
    ASSERT_TRUE(acc.ok() && acc->has_value());
    auto patient = fhir_->Read("Patient", (*acc)->patient_id);
    ASSERT_TRUE(patient.ok());
    EXPECT_NE(patient->json.find(Ins("2850575123456")), std::string::npos);
    EXPECT_NE(patient->json.find("urn:oid:1.2.250.1.213.1.4.8"), std::string::npos);
    // Again: nothing new, no second letter.
    auto again = ImportPatients(*auth_, *fhir_, file);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->created, 0);
    EXPECT_EQ(again->existed, 2);
    EXPECT_EQ(Outbox("marie@example.fr"), 1);
}

TEST_F(AdminTest, PatientsFromAFhirBundle) {
    const std::string ins = Ins("2600375123456");
    auto file = Write("patients.json", R"({"resourceType":"Bundle","type":"collection","entry":[
        {"resource":{"resourceType":"Patient","id":"ignored","identifier":[{"system":"urn:oid:1.2.250.1.213.1.4.8","value":")" +
                                           ins + R"("}],
          "name":[{"use":"official","family":"Leroy","given":["Anne"]}],"birthDate":"1960-03-01",
          "telecom":[{"system":"email","value":"anne@example.fr"}]}},
        {"resource":{"resourceType":"Observation","status":"final","code":{"text":"x"}}},
        {"resource":{"resourceType":"Patient","name":[{"family":"SansIns"}],"birthDate":"1960-03-01"}}
    ]})");
    auto r = ImportPatients(*auth_, *fhir_, file);
    ASSERT_TRUE(r.ok()) << r.error().Summary();
    EXPECT_EQ(r->created, 1);
    EXPECT_EQ(r->failed, 2);
    auto acc = auth_->FindByLogin(ins);
    ASSERT_TRUE(acc.ok() && acc->has_value());
    EXPECT_EQ((*acc)->family, "Leroy");
    EXPECT_EQ((*acc)->email, "anne@example.fr");
    EXPECT_NE((*acc)->patient_id, "ignored") << "the record id is Carnet's";
    EXPECT_FALSE(ImportPatients(*auth_, *fhir_, Write("bad.json", "{not json")).ok());
}

TEST_F(AdminTest, ProfessionalsFromCsvAndFhirPractitionerRoles) {
    auto csv = Write("rpps.csv",
                     "rpps,given,family,profession,specialty,organisation,email,phone\n"
                     "10000000116,Claire,Bernard,10,Médecine générale,Cabinet A,,\n"
                     "10000000117,Faux,Numéro,10,,,,\n"
                     "10000000223,Karim,Haddad,astrologue,,,,\n");
    auto r = ImportProfessionals(*auth_, csv);
    ASSERT_TRUE(r.ok()) << r.error().Summary();
    EXPECT_EQ(r->created, 1);
    EXPECT_EQ(r->failed, 2);
    auto found = auth_->SearchDirectory("bernard", "medecin");
    ASSERT_TRUE(found.ok());
    ASSERT_EQ(found->size(), 1U);
    EXPECT_EQ(found->front().specialty, "Médecine générale");
    EXPECT_EQ(found->front().organisation, "Cabinet A");

    auto json = Write("pros.json", R"({"resourceType":"Bundle","type":"collection","entry":[
      {"resource":{"resourceType":"Practitioner","id":"p1","identifier":[{"system":"urn:oid:1.2.250.1.71.4.2.1","value":"10000000223"}],
        "name":[{"family":"Haddad","given":["Karim"]}]}},
      {"resource":{"resourceType":"PractitionerRole","practitioner":{"reference":"Practitioner/p1"},
        "code":[{"coding":[{"system":"https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante","code":"21","display":"Pharmacien"}]}],
        "specialty":[{"text":"Officine"}],"organization":{"display":"Pharmacie du Centre"}}}
    ]})");
    auto j = ImportProfessionals(*auth_, json);
    ASSERT_TRUE(j.ok()) << j.error().Summary();
    EXPECT_EQ(j->created, 1) << (j->errors.empty() ? "" : j->errors[0]);
    auto pharma = auth_->SearchDirectory("haddad", "pharmacien");
    ASSERT_TRUE(pharma.ok());
    ASSERT_EQ(pharma->size(), 1U);
    EXPECT_EQ(pharma->front().organisation, "Pharmacie du Centre");
    EXPECT_EQ(pharma->front().specialty, "Officine");
    // The directory follows the national one: a second import updates, never duplicates.
    auto again = ImportProfessionals(*auth_, csv);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->existed, 1);
}

}  // namespace
}  // namespace carnet::admin
