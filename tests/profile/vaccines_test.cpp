// The vaccination booklet (docs/PROFILE.md, "BOOKLET_LINE"): the French schedule of 2025
// compared with a record's immunizations. Dates are fixed in each test so that a line's status
// follows from the dates written next to it; the schedule ages are those of schedule_fr.json.
#include "profile/vaccines.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "fhir/json.hpp"

namespace carnet::profile {

namespace embedded {
extern const std::string_view kScheduleFr;
}  // namespace embedded

namespace {

namespace json = boost::json;

constexpr const char* kCarnet = "https://carnet.health/fhir/CodeSystem/vaccine";
constexpr const char* kCvx = "http://hl7.org/fhir/sid/cvx";
constexpr const char* kAtc = "http://www.whocc.no/atc";

const std::vector<std::string> kHexavalent = {"D", "T", "aP", "IPV", "Hib", "HepB"};

json::object Parse(std::string_view text) {
    auto v = fhir::ParseJson(text);
    EXPECT_TRUE(v.ok() && v->is_object()) << "test JSON is malformed: " << text;
    return v.ok() && v->is_object() ? v->as_object() : json::object();
}

/// An Immunization with one coding per (system, code) pair.
json::object Immunization(const std::vector<std::pair<std::string, std::string>>& codings,
                          std::string_view date, std::string_view status = "completed") {
    json::array coding;
    for (const auto& [system, code] : codings) {
        coding.push_back(json::object{{"system", system}, {"code", code}});
    }
    return json::object{{"resourceType", "Immunization"},
                        {"status", status},
                        {"vaccineCode", json::object{{"coding", std::move(coding)}}},
                        {"patient", json::object{{"reference", "Patient/p1"}}},
                        {"occurrenceDateTime", date}};
}

/// The dose of an Immunization coded with one Carnet or CVX code; fails the test if none.
Dose Shot(const std::string& id, const std::string& system, const std::string& code,
          const std::string& date) {
    auto d = DoseOf(Immunization({{system, code}}, date), id);
    EXPECT_TRUE(d.has_value()) << id << ": " << system << "|" << code << " gave no dose";
    return d.value_or(Dose{id, date, {}});
}

Dose Carnet(const std::string& id, const std::string& code, const std::string& date) {
    return Shot(id, kCarnet, code, date);
}

Dose Cvx(const std::string& id, const std::string& code, const std::string& date) {
    return Shot(id, kCvx, code, date);
}

const BookletLine* Find(const std::vector<BookletLine>& lines, std::string_view item) {
    for (const auto& l : lines) {
        if (l.item == item) return &l;
    }
    return nullptr;
}

/// The line `item`, or a line with status "absent" so that EXPECTs on it fail readably.
BookletLine Line(const std::vector<BookletLine>& lines, std::string_view item) {
    const BookletLine* l = Find(lines, item);
    if (l) return *l;
    BookletLine absent;
    absent.item = std::string(item);
    absent.status = "absent";
    return absent;
}

using Ids = std::vector<std::string>;

// ---------------------------------------------------------------------------------------------
// A baby.

TEST(Booklet, BabyOfThreeMonthsWithTheTwoMonthDoses) {
    // Born 10 January 2025: 2 months on 10 March, 3 months on 10 April.
    const std::vector<Dose> doses = {Carnet("h1", "hexavalent", "2025-03-10"),
                                     Carnet("p1", "pcv", "2025-03-10")};
    const auto lines = Booklet("2025-01-10", "2025-04-12", doses);

    const auto hex1 = Line(lines, "hexavalent-1");
    EXPECT_EQ(hex1.status, "done");
    EXPECT_EQ(hex1.given, "2025-03-10");
    EXPECT_EQ(hex1.due, "2025-03-10");
    EXPECT_EQ(hex1.overdue, "2025-04-10");
    EXPECT_EQ(hex1.immunizations, Ids{"h1"});
    EXPECT_TRUE(hex1.missing.empty());
    EXPECT_EQ(hex1.vaccine, "hexavalent");
    EXPECT_EQ(hex1.dose, 1);

    const auto pcv1 = Line(lines, "pcv-1");
    EXPECT_EQ(pcv1.status, "done");
    EXPECT_EQ(pcv1.immunizations, Ids{"p1"});

    // MenB-1 was due at 3 months (10 April) and is overdue a month later.
    const auto menb1 = Line(lines, "menb-1");
    EXPECT_EQ(menb1.status, "due");
    EXPECT_EQ(menb1.due, "2025-04-10");
    EXPECT_EQ(menb1.overdue, "2025-05-10");
    EXPECT_EQ(Line(Booklet("2025-01-10", "2025-05-10", doses), "menb-1").status, "overdue");
    EXPECT_EQ(Line(Booklet("2025-01-10", "2025-04-09", doses), "menb-1").status, "upcoming");

    const auto hex2 = Line(lines, "hexavalent-2");
    EXPECT_EQ(hex2.status, "upcoming");
    EXPECT_EQ(hex2.due, "2025-05-10");
    EXPECT_TRUE(hex2.immunizations.empty());
    EXPECT_EQ(Line(lines, "pcv-2").status, "upcoming");

    // In order of due date, and nothing due more than two years ahead (the 6-year booster).
    for (size_t i = 1; i < lines.size(); ++i) EXPECT_LE(lines[i - 1].due, lines[i].due);
    for (const auto& l : lines) EXPECT_LE(l.due, "2027-04-12") << l.item;
    EXPECT_NE(Find(lines, "ror-2"), nullptr);
    EXPECT_EQ(Find(lines, "dtcapolio-6y"), nullptr);
}

TEST(Booklet, SeparateShotsCompleteTheHexavalentLine) {
    // Synthea (US schedule) records DTaP, IPV, Hib and HepB as four shots on the same day.
    std::vector<Dose> doses = {Cvx("dtap", "20", "2025-03-10"), Cvx("ipv", "10", "2025-03-10"),
                               Cvx("hib", "49", "2025-03-10"), Cvx("hepb", "08", "2025-03-10")};
    const auto hex1 = Line(Booklet("2025-01-10", "2025-04-12", doses), "hexavalent-1");
    EXPECT_EQ(hex1.status, "done");
    EXPECT_EQ(hex1.given, "2025-03-10");
    EXPECT_EQ(std::set<std::string>(hex1.immunizations.begin(), hex1.immunizations.end()),
              (std::set<std::string>{"dtap", "ipv", "hib", "hepb"}));

    // Without the Hib shot the line is partly covered: it says which antigen is missing and
    // keeps the status its dates give (due on 10 March, overdue from 10 April).
    doses.erase(doses.begin() + 2);
    const auto partial = Booklet("2025-01-10", "2025-04-12", doses);
    const auto part = Line(partial, "hexavalent-1");
    EXPECT_EQ(part.status, "overdue");
    EXPECT_EQ(part.missing, Ids{"Hib"});
    EXPECT_EQ(part.immunizations.size(), 3u);
    EXPECT_TRUE(part.given.empty());
    EXPECT_EQ(Line(Booklet("2025-01-10", "2025-03-20", doses), "hexavalent-1").status, "due");

    // The Hib shot given later completes it, and that later date is the line's "given".
    doses.push_back(Cvx("hib-late", "49", "2025-04-20"));
    const auto late = Line(Booklet("2025-01-10", "2025-04-25", doses), "hexavalent-1");
    EXPECT_EQ(late.status, "done");
    EXPECT_EQ(late.given, "2025-04-20");
    EXPECT_TRUE(late.missing.empty());
}

TEST(Booklet, EachDoseServesOneLine) {
    // Three hexavalent doses fill the three lines in order; a fourth has nowhere to go.
    const std::vector<Dose> doses = {
        Carnet("a", "hexavalent", "2025-03-10"), Carnet("b", "hexavalent", "2025-05-12"),
        Carnet("c", "hexavalent", "2025-12-10"), Carnet("d", "hexavalent", "2026-01-05")};
    const auto lines = Booklet("2025-01-10", "2026-02-01", doses);
    EXPECT_EQ(Line(lines, "hexavalent-1").immunizations, Ids{"a"});
    EXPECT_EQ(Line(lines, "hexavalent-2").immunizations, Ids{"b"});
    EXPECT_EQ(Line(lines, "hexavalent-3").immunizations, Ids{"c"});
    for (const auto& l : lines) {
        for (const auto& id : l.immunizations) EXPECT_NE(id, "d") << l.item;
    }
}

TEST(Booklet, ADoseGivenTooYoungDoesNotCount) {
    // A pneumococcal dose at 4 weeks is before the 6-week minimum: no line takes it.
    const auto lines = Booklet("2025-01-10", "2025-03-15", {Carnet("early", "pcv", "2025-02-07")});
    const auto pcv1 = Line(lines, "pcv-1");
    EXPECT_EQ(pcv1.status, "due");
    EXPECT_TRUE(pcv1.immunizations.empty());
    EXPECT_TRUE(Line(lines, "pcv-2").immunizations.empty());

    // A hexavalent at 4 weeks counts only for its hepatitis B (a hepatitis B vaccine is valid
    // from birth): the other five antigens are still missing.
    const auto hex =
        Line(Booklet("2025-01-10", "2025-03-15", {Carnet("early", "hexavalent", "2025-02-07")}),
             "hexavalent-1");
    EXPECT_EQ(hex.status, "due");
    EXPECT_EQ(hex.missing, (Ids{"D", "T", "aP", "IPV", "Hib"}));

    // At 6 weeks exactly it counts.
    const auto on_time =
        Booklet("2025-01-10", "2025-03-15", {Carnet("six-weeks", "hexavalent", "2025-02-21")});
    EXPECT_EQ(Line(on_time, "hexavalent-1").status, "done");
}

TEST(Booklet, SyntheaInfantSeriesWithAHepatitisBBirthDose) {
    // The US schedule of the demo data: HepB at birth, 5 weeks and 8 months; DTaP, IPV, Hib at
    // 2 and 4 months, then DTaP at 15 months, Hib at 12 months, IPV at 8 months and 4 years.
    const std::vector<Dose> doses = {
        Cvx("hb0", "08", "1998-12-12"),   Cvx("hb1", "08", "1999-01-16"),
        Cvx("dtap2", "20", "1999-02-12"), Cvx("ipv2", "10", "1999-02-12"),
        Cvx("hib2", "49", "1999-02-12"),  Cvx("dtap4", "20", "1999-04-12"),
        Cvx("ipv4", "10", "1999-04-12"),  Cvx("hib4", "49", "1999-04-12"),
        Cvx("hb8", "08", "1999-08-21"),   Cvx("ipv8", "10", "1999-08-21"),
        Cvx("hib12", "49", "1999-12-12"), Cvx("dtap15", "20", "2000-03-12"),
        Cvx("ipv4y", "10", "2002-12-12")};
    const auto lines = Booklet("1998-12-12", "2003-06-01", doses);
    EXPECT_EQ(Line(lines, "hexavalent-1").status, "done");
    EXPECT_EQ(Line(lines, "hexavalent-2").status, "done");
    const auto hex3 = Line(lines, "hexavalent-3");
    EXPECT_EQ(hex3.status, "done");
    EXPECT_EQ(hex3.given, "2002-12-12");  // the IPV dose given at 4 years completes it
}

TEST(Booklet, AgesAddedAsCalendarMonthsClampToTheMonthEnd) {
    // Born 31 December 2024: 2 months is 28 February 2025, 3 months 31 March, 4 months 30 April.
    const auto lines = Booklet("2024-12-31", "2025-01-15", {});
    EXPECT_EQ(Line(lines, "hexavalent-1").due, "2025-02-28");
    EXPECT_EQ(Line(lines, "hexavalent-1").overdue, "2025-03-31");
    EXPECT_EQ(Line(lines, "menb-1").due, "2025-03-31");
    EXPECT_EQ(Line(lines, "hexavalent-2").due, "2025-04-30");
    // A leap year's February.
    EXPECT_EQ(Line(Booklet("2023-12-31", "2024-01-15", {}), "hexavalent-1").due, "2024-02-29");
    // Born on 29 February: 12 months is 28 February of the next year.
    EXPECT_EQ(Line(Booklet("2024-02-29", "2024-03-01", {}), "ror-1").due, "2025-02-28");
}

// ---------------------------------------------------------------------------------------------
// Adults.

TEST(Booklet, FortyYearOldWithNoRecordsHasPastLinesNotRecorded) {
    const auto lines = Booklet("1985-06-15", "2025-09-01", {});
    ASSERT_FALSE(lines.empty());
    for (const char* item : {"hexavalent-1", "hexavalent-2", "hexavalent-3", "pcv-1", "pcv-2",
                             "pcv-3", "menb-1", "menb-2", "menb-3", "menacwy-1", "menacwy-2",
                             "dtcapolio-6y", "dtcapolio-11y", "hpv-1", "hpv-2", "menacwy-11y"}) {
        const auto l = Line(lines, item);
        EXPECT_EQ(l.status, "not-recorded") << item;
        EXPECT_TRUE(l.immunizations.empty()) << item;
    }
    // The 25-year booster may still be caught up until the next one (45): it is overdue.
    EXPECT_EQ(Line(lines, "dtcapolio-25y").status, "overdue");
    // ROR has no catch-up limit for people born from 1980.
    EXPECT_EQ(Line(lines, "ror-1").status, "overdue");
    EXPECT_EQ(Line(lines, "ror-2").status, "overdue");
    // The 45-year booster is more than two years ahead.
    EXPECT_EQ(Find(lines, "dtpolio-45y"), nullptr);

    // Born before 1980: no ROR line at all.
    const auto older = Booklet("1975-06-15", "2025-09-01", {});
    EXPECT_EQ(Find(older, "ror-1"), nullptr);
    EXPECT_EQ(Find(older, "ror-2"), nullptr);
    EXPECT_EQ(Line(older, "dtpolio-45y").status, "overdue");
}

TEST(Booklet, TwentyFiveYearBoosterIsOverdueAtTwentySeven) {
    const std::string birth = "1998-03-01";
    EXPECT_EQ(Line(Booklet(birth, "2022-06-01", {}), "dtcapolio-25y").status, "upcoming");
    EXPECT_EQ(Line(Booklet(birth, "2023-09-01", {}), "dtcapolio-25y").status, "due");
    const auto at27 = Line(Booklet(birth, "2025-06-01", {}), "dtcapolio-25y");
    EXPECT_EQ(at27.status, "overdue");
    EXPECT_EQ(at27.due, "2023-03-01");

    // Given at 25 with dTcaPolio: done.
    const auto done =
        Booklet(birth, "2025-06-01", {Carnet("boost", "dtcapolio-adulte", "2023-04-01")});
    EXPECT_EQ(Line(done, "dtcapolio-25y").status, "done");
    EXPECT_EQ(Line(done, "dtcapolio-25y").immunizations, Ids{"boost"});

    // A US Tdap has no polio: the line stays open and says so.
    const auto tdap = Booklet(birth, "2025-06-01", {Cvx("tdap", "115", "2023-04-01")});
    EXPECT_EQ(Line(tdap, "dtcapolio-25y").status, "overdue");
    EXPECT_EQ(Line(tdap, "dtcapolio-25y").missing, Ids{"IPV"});
}

TEST(Booklet, ADoseAfterTheCatchUpLimitDoesNotFillAChildhoodLine) {
    // A 70-year-old's pneumococcal dose at 66 is the adult dose, not the infant series; their
    // dT boosters are the adult boosters, not the hexavalent series.
    const std::vector<Dose> doses = {Cvx("pcv20", "216", "2021-05-01"),
                                     Carnet("dtp65", "dtpolio", "2020-03-01")};
    const auto lines = Booklet("1955-01-20", "2025-11-10", doses);
    EXPECT_EQ(Line(lines, "pcv-1").status, "not-recorded");
    EXPECT_TRUE(Line(lines, "pcv-1").immunizations.empty());
    EXPECT_EQ(Line(lines, "pcv-65y").status, "done");
    EXPECT_EQ(Line(lines, "pcv-65y").immunizations, Ids{"pcv20"});
    EXPECT_TRUE(Line(lines, "hexavalent-1").immunizations.empty());
    EXPECT_EQ(Line(lines, "dtpolio-65y").status, "done");
    EXPECT_EQ(Line(lines, "zoster-1").status, "overdue");
    EXPECT_EQ(Line(lines, "zoster-2").status, "overdue");
    EXPECT_EQ(Line(lines, "covid").status, "due");
}

TEST(Booklet, FluIsYearlyFromSixtyFiveAndTheSeasonStartsInOctober) {
    const std::string birth = "1950-03-10";
    // A dose on 15 September counts for the season that starts on 1 October.
    const auto september = Booklet(birth, "2025-11-10", {Carnet("f", "grippe", "2025-09-15")});
    const auto flu = Line(september, "flu");
    EXPECT_EQ(flu.status, "done");
    EXPECT_EQ(flu.given, "2025-09-15");
    EXPECT_EQ(flu.due, "2025-10-01");
    EXPECT_TRUE(flu.overdue.empty());
    EXPECT_NE(flu.label.find("2025-2026"), std::string::npos) << flu.label;

    // One from last March was last season's: due again, never overdue.
    const auto march = Booklet(birth, "2025-11-10", {Carnet("f", "grippe", "2025-03-01")});
    EXPECT_EQ(Line(march, "flu").status, "due");
    EXPECT_TRUE(Line(march, "flu").immunizations.empty());
    EXPECT_EQ(Line(Booklet(birth, "2026-08-30", {}), "flu").status, "due");

    // 31 August is before the season's first counting day.
    EXPECT_EQ(
        Line(Booklet(birth, "2025-10-15", {Carnet("f", "grippe", "2025-08-31")}), "flu").status,
        "due");
    // In September, before 1 October, the coming season is upcoming.
    const auto early = Line(Booklet(birth, "2025-09-20", {}), "flu");
    EXPECT_EQ(early.status, "upcoming");
    EXPECT_EQ(early.due, "2025-10-01");
    // In February the dose of October still counts (same season).
    EXPECT_EQ(Line(Booklet(birth, "2026-02-01", {Cvx("f", "140", "2025-10-20")}), "flu").status,
              "done");
}

TEST(Booklet, YearlyLinesBeginAtSixtyFive) {
    // 65 on 1 May 2026: the first flu line is due then, and a 40-year-old has none.
    const auto lines = Booklet("1961-05-01", "2025-11-10", {});
    EXPECT_EQ(Line(lines, "flu").status, "upcoming");
    EXPECT_EQ(Line(lines, "flu").due, "2026-05-01");
    EXPECT_EQ(Find(Booklet("1985-05-01", "2025-11-10", {}), "flu"), nullptr);
}

TEST(Booklet, GarbageGivesNoLines) {
    EXPECT_TRUE(Booklet("", "2025-01-01", {}).empty());
    EXPECT_TRUE(Booklet("2020-13-45", "2025-01-01", {}).empty());
    EXPECT_TRUE(Booklet("2021-02-29", "2025-01-01", {}).empty());
    EXPECT_TRUE(Booklet("20200101", "2025-01-01", {}).empty());
    EXPECT_TRUE(Booklet("2020-01-01", "", {}).empty());
    EXPECT_TRUE(Booklet("2020-01-01", "yesterday", {}).empty());
    EXPECT_TRUE(Booklet("2030-01-01", "2025-01-01", {}).empty());  // born in the future
    // Bad doses are skipped, not fatal.
    const std::vector<Dose> bad = {{"x", "2020-13-45", {"D"}},
                                   {"y", "", {"PCV"}},
                                   {"z", "2019-01-01", {"Hib"}},
                                   {"w", "2021-05-01", {}}};
    const auto lines = Booklet("2020-01-01", "2021-06-01", bad);
    EXPECT_FALSE(lines.empty());
    for (const auto& l : lines) EXPECT_TRUE(l.immunizations.empty()) << l.item;
}

TEST(Booklet, ToJsonHasTheContractFields) {
    const auto lines =
        Booklet("2025-01-10", "2025-04-12",
                {Carnet("h1", "hexavalent", "2025-03-10"), Cvx("dtap", "20", "2025-05-10")});
    const json::array a = ToJson(lines);
    ASSERT_EQ(a.size(), lines.size());
    const std::set<std::string> fields = {"item",          "vaccine", "label",  "dose",
                                          "due",           "overdue", "status", "given",
                                          "immunizations", "missing"};
    for (const auto& v : a) {
        ASSERT_TRUE(v.is_object());
        std::set<std::string> keys;
        for (const auto& kv : v.as_object()) keys.insert(std::string(kv.key()));
        EXPECT_EQ(keys, fields);
    }
    const auto& first = a[0].as_object();
    EXPECT_EQ(first.at("item"), "hexavalent-1");
    EXPECT_EQ(first.at("dose"), 1);
    EXPECT_EQ(first.at("status"), "done");
    EXPECT_EQ(first.at("given"), "2025-03-10");
    EXPECT_EQ(first.at("immunizations"), (json::array{"h1"}));
    // Nothing given yet: given is null.
    for (const auto& v : a) {
        if (v.as_object().at("item") == "hexavalent-2") {
            EXPECT_TRUE(v.as_object().at("given").is_null());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// DoseOf.

TEST(DoseOf, ReadsCompletedImmunizationsByCarnetCvxOrAtcCode) {
    auto d = DoseOf(Immunization({{kCarnet, "hexavalent"}}, "2025-03-10"), "i1");
    ASSERT_TRUE(d.has_value());
    EXPECT_EQ(d->immunization_id, "i1");
    EXPECT_EQ(d->date, "2025-03-10");
    EXPECT_EQ(d->antigens, kHexavalent);

    // CVX with or without its leading zero; a dateTime gives its date.
    d = DoseOf(Immunization({{kCvx, "3"}}, "2016-07-05T10:30:00+02:00"), "i2");
    ASSERT_TRUE(d.has_value());
    EXPECT_EQ(d->date, "2016-07-05");
    EXPECT_EQ(d->antigens, Ids{"MMR"});
    d = DoseOf(Immunization({{kCvx, "03"}}, "2016-07-05"), "i2");
    ASSERT_TRUE(d.has_value());
    EXPECT_EQ(d->antigens, Ids{"MMR"});

    d = DoseOf(Immunization({{kAtc, "J07AL02"}}, "2025-03-10"), "i3");
    ASSERT_TRUE(d.has_value());
    EXPECT_EQ(d->antigens, Ids{"PCV"});

    // Every known coding adds its antigens; unknown ones are passed over.
    d = DoseOf(
        Immunization({{"http://snomed.info/sct", "871751006"}, {kCarnet, "ror"}, {kCvx, "21"}},
                     "2025-03-10"),
        "i4");
    ASSERT_TRUE(d.has_value());
    EXPECT_EQ(d->antigens, (Ids{"MMR", "VZV"}));

    // occurrenceString, when it is a date.
    auto imm = Immunization({{kCvx, "140"}}, "");
    imm.erase("occurrenceDateTime");
    imm["occurrenceString"] = "2024-10-15";
    d = DoseOf(imm, "i5");
    ASSERT_TRUE(d.has_value());
    EXPECT_EQ(d->date, "2024-10-15");
    EXPECT_EQ(d->antigens, Ids{"Flu"});
}

TEST(DoseOf, IgnoresNotDoneErrorsUnknownVaccinesAndBadDates) {
    EXPECT_FALSE(DoseOf(Immunization({{kCvx, "146"}}, "2025-03-10", "not-done"), "x"));
    EXPECT_FALSE(DoseOf(Immunization({{kCvx, "146"}}, "2025-03-10", "entered-in-error"), "x"));
    auto no_status = Immunization({{kCvx, "146"}}, "2025-03-10");
    no_status.erase("status");
    EXPECT_FALSE(DoseOf(no_status, "x"));
    auto subpotent = Immunization({{kCvx, "146"}}, "2025-03-10");
    subpotent["isSubpotent"] = true;
    EXPECT_FALSE(DoseOf(subpotent, "x"));

    EXPECT_FALSE(DoseOf(Immunization({{kCvx, "999"}}, "2025-03-10"), "x"));  // CVX "unknown"
    EXPECT_FALSE(DoseOf(Immunization({{kCarnet, "no-such-vaccine"}}, "2025-03-10"), "x"));
    EXPECT_FALSE(DoseOf(Immunization({{"http://example.org/codes", "146"}}, "2025-03-10"), "x"));
    EXPECT_FALSE(DoseOf(Immunization({}, "2025-03-10"), "x"));

    EXPECT_FALSE(DoseOf(Immunization({{kCvx, "146"}}, "2020-13-45"), "x"));
    EXPECT_FALSE(DoseOf(Immunization({{kCvx, "146"}}, "2025-03"), "x"));
    EXPECT_FALSE(DoseOf(Immunization({{kCvx, "146"}}, "last spring"), "x"));
    auto no_date = Immunization({{kCvx, "146"}}, "");
    no_date.erase("occurrenceDateTime");
    EXPECT_FALSE(DoseOf(no_date, "x"));
    EXPECT_FALSE(DoseOf(Parse(R"({"resourceType": "Immunization", "status": "completed",
        "vaccineCode": "146", "occurrenceDateTime": "2025-03-10"})"),
                        "x"));
}

// ---------------------------------------------------------------------------------------------
// The data: schedule_fr.json as it is embedded in the library.

/// An ISO 8601 age ("P1Y6M", "P6W") in days, close enough to order ages.
double AgeDays(const std::string& s) {
    EXPECT_TRUE(s.size() >= 3 && s[0] == 'P') << s;
    double days = 0;
    int n = 0;
    for (size_t i = 1; i < s.size(); ++i) {
        const char c = s[i];
        if (std::isdigit(static_cast<unsigned char>(c))) {
            n = n * 10 + (c - '0');
            continue;
        }
        EXPECT_TRUE(c == 'Y' || c == 'M' || c == 'W' || c == 'D') << s;
        days += n * (c == 'Y' ? 365.25 : c == 'M' ? 30.44 : c == 'W' ? 7 : 1);
        n = 0;
    }
    return days;
}

TEST(VaccineSchedule, EveryEntryIsConsistent) {
    auto parsed = fhir::ParseJson(embedded::kScheduleFr);
    ASSERT_TRUE(parsed.ok() && parsed->is_object());
    const auto& root = parsed->as_object();
    std::string comment(root.at("comment").as_string());
    for (char& c : comment) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    EXPECT_NE(comment.find("calendrier des vaccinations 2025"), std::string::npos);

    const std::set<std::string> known = {"D",      "T",    "aP",      "IPV", "Hib", "HepB", "PCV",
                                         "MenB",   "MenC", "MenACWY", "MMR", "HPV", "Flu",  "Covid",
                                         "Zoster", "Rota", "BCG",     "VZV", "HepA"};
    std::map<std::string, std::set<std::string>> antigens_of;
    std::map<std::string, std::string> cvx_of, atc_of;
    for (const auto& v : root.at("vaccines").as_array()) {
        const auto& e = v.as_object();
        const std::string code(e.at("code").as_string());
        EXPECT_FALSE(e.at("label").as_string().empty()) << code;
        EXPECT_FALSE(antigens_of.contains(code)) << "duplicate vaccine " << code;
        auto& antigens = antigens_of[code];
        for (const auto& a : e.at("antigens").as_array()) {
            EXPECT_TRUE(known.contains(std::string(a.as_string()))) << code << ": " << a;
            antigens.insert(std::string(a.as_string()));
        }
        EXPECT_FALSE(antigens.empty()) << code;
        for (const auto& c : e.at("cvx").as_array()) {
            EXPECT_TRUE(cvx_of.emplace(std::string(c.as_string()), code).second)
                << "CVX " << c << " mapped twice";
        }
        for (const auto& c : e.at("atc").as_array()) {
            EXPECT_TRUE(atc_of.emplace(std::string(c.as_string()), code).second)
                << "ATC " << c << " mapped twice";
        }
        // Recorded with its Carnet code, the entry gives its own antigens.
        const auto dose = DoseOf(Immunization({{kCarnet, code}}, "2020-01-01"), "x");
        ASSERT_TRUE(dose.has_value()) << code;
        EXPECT_EQ(std::set<std::string>(dose->antigens.begin(), dose->antigens.end()), antigens)
            << code;
    }
    // Every CVX and ATC code reads back as its entry.
    for (const auto& [cvx, code] : cvx_of) {
        const auto dose = DoseOf(Immunization({{kCvx, cvx}}, "2020-01-01"), "x");
        ASSERT_TRUE(dose.has_value()) << "CVX " << cvx;
        EXPECT_EQ(std::set<std::string>(dose->antigens.begin(), dose->antigens.end()),
                  antigens_of[code])
            << "CVX " << cvx;
    }
    for (const auto& [atc, code] : atc_of) {
        const auto dose = DoseOf(Immunization({{kAtc, atc}}, "2020-01-01"), "x");
        ASSERT_TRUE(dose.has_value()) << "ATC " << atc;
    }

    // The codes the brief and the Synthea demo data rely on.
    const std::map<std::string, std::string> expected = {
        {"146", "hexavalent"}, {"120", "pentavalent"}, {"130", "dtcapolio"}, {"115", "dtca-adulte"},
        {"113", "dt"},         {"09", "dt"},           {"133", "pcv"},       {"215", "pcv"},
        {"216", "pcv"},        {"163", "menb"},        {"162", "menb"},      {"103", "menc"},
        {"114", "menacwy"},    {"136", "menacwy"},     {"203", "menacwy"},   {"03", "ror"},
        {"165", "hpv"},        {"62", "hpv"},          {"08", "hepb"},       {"43", "hepb"},
        {"45", "hepb"},        {"119", "rotavirus"},   {"116", "rotavirus"}, {"122", "rotavirus"},
        {"140", "grippe"},     {"141", "grippe"},      {"150", "grippe"},    {"155", "grippe"},
        {"158", "grippe"},     {"161", "grippe"},      {"88", "grippe"},     {"208", "covid"},
        {"207", "covid"},      {"213", "covid"},       {"300", "covid"},     {"301", "covid"},
        {"302", "covid"},      {"309", "covid"},       {"310", "covid"},     {"311", "covid"},
        {"187", "zona"},       {"121", "zona"},        {"19", "bcg"},        {"21", "varicelle"},
        {"83", "hepa"},        {"52", "hepa"},         {"85", "hepa"},       {"10", "polio"},
        {"20", "dtca"},        {"49", "hib"}};
    for (const auto& [cvx, code] : expected) EXPECT_EQ(cvx_of[cvx], code) << "CVX " << cvx;

    std::set<std::string> ids;
    for (const auto& v : root.at("schedule").as_array()) {
        const auto& line = v.as_object();
        const std::string id(line.at("id").as_string());
        EXPECT_TRUE(ids.insert(id).second) << "duplicate line " << id;
        const std::string vaccine(line.at("vaccine").as_string());
        ASSERT_TRUE(antigens_of.contains(vaccine)) << id << ": " << vaccine;
        EXPECT_FALSE(line.at("label").as_string().empty()) << id;
        EXPECT_GE(line.at("dose").as_int64(), 1) << id;
        const auto& required = line.at("antigens").as_array();
        EXPECT_FALSE(required.empty()) << id;
        for (const auto& a : required) {
            const std::string antigen(a.as_string());
            EXPECT_TRUE(known.contains(antigen)) << id << ": " << antigen;
            // The line's own vaccine can complete it.
            EXPECT_TRUE(antigens_of[vaccine].contains(antigen)) << id << ": " << antigen;
        }
        const double due = AgeDays(std::string(line.at("due").as_string()));
        const double min = AgeDays(std::string(line.at("min").as_string()));
        EXPECT_LE(min, due) << id;
        if (line.contains("min_by_antigen")) {
            for (const auto& kv : line.at("min_by_antigen").as_object()) {
                EXPECT_NE(std::find(required.begin(), required.end(), json::value(kv.key())),
                          required.end())
                    << id << ": " << kv.key();
                EXPECT_LE(AgeDays(std::string(kv.value().as_string())), due) << id;
            }
        }
        const bool yearly = line.contains("yearly") && line.at("yearly").as_bool();
        if (yearly) {
            EXPECT_FALSE(line.contains("overdue")) << id;
            EXPECT_FALSE(line.contains("limit")) << id;
            continue;
        }
        const double overdue = AgeDays(std::string(line.at("overdue").as_string()));
        EXPECT_LT(due, overdue) << id;
        if (line.contains("limit")) {
            EXPECT_LE(overdue, AgeDays(std::string(line.at("limit").as_string()))) << id;
        }
    }
    for (const char* id :
         {"hexavalent-1", "hexavalent-2", "hexavalent-3", "pcv-1",         "pcv-2",
          "pcv-3",        "menb-1",       "menb-2",       "menb-3",        "menacwy-1",
          "menacwy-2",    "ror-1",        "ror-2",        "dtcapolio-6y",  "dtcapolio-11y",
          "hpv-1",        "hpv-2",        "menacwy-11y",  "dtcapolio-25y", "dtpolio-45y",
          "dtpolio-65y",  "dtpolio-75y",  "dtpolio-85y",  "dtpolio-95y",   "flu",
          "covid",        "zoster-1",     "zoster-2",     "pcv-65y"}) {
        EXPECT_TRUE(ids.contains(id)) << id;
    }

    // The catalogue the portal offers is the file's list.
    const json::array catalogue = VaccineCatalogue();
    ASSERT_EQ(catalogue.size(), root.at("vaccines").as_array().size());
    for (size_t i = 0; i < catalogue.size(); ++i) {
        const auto& c = catalogue[i].as_object();
        const auto& e = root.at("vaccines").as_array()[i].as_object();
        EXPECT_EQ(c.size(), 3u);
        EXPECT_EQ(c.at("code"), e.at("code"));
        EXPECT_EQ(c.at("label"), e.at("label"));
        EXPECT_EQ(c.at("antigens"), e.at("antigens"));
    }
}

}  // namespace
}  // namespace carnet::profile
