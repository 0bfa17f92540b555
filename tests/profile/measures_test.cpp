#include "profile/measures.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>

#include "fhir/json.hpp"

namespace carnet::profile {
namespace {

namespace json = boost::json;

constexpr const char* kHeight = "8302-2";
constexpr const char* kWeight = "29463-7";

/// Holds the Observations a test measures (Measure takes pointers).
class Record {
  public:
    Record& Add(std::string_view text) {
        auto parsed = fhir::ParseJson(text);
        EXPECT_TRUE(parsed.ok() && parsed->is_object()) << "test JSON is malformed: " << text;
        if (parsed.ok() && parsed->is_object()) observations_.push_back(parsed->as_object());
        return *this;
    }

    /// A single-value Observation as the portal writes it; `quantity` is the JSON of
    /// valueQuantity.
    Record& Quantity(std::string_view loinc, std::string_view date, std::string_view quantity,
                     std::string_view status = "final") {
        std::string text = R"({"resourceType": "Observation", "status": ")";
        text.append(status).append(R"(", "code": {"coding": [{"system": "http://loinc.org", )");
        text.append(R"("code": ")").append(loinc).append(R"("}]}, "effectiveDateTime": ")");
        text.append(date).append(R"(", "valueQuantity": )").append(quantity).append("}");
        return Add(text);
    }

    Record& Weight(std::string_view date, double kg) { return Quantity(kWeight, date, Kg(kg)); }
    Record& Height(std::string_view date, double cm) { return Quantity(kHeight, date, Cm(cm)); }

    static std::string Kg(double v) {
        return R"({"value": )" + json::serialize(json::value(v)) +
               R"(, "unit": "kg", "code": "kg"})";
    }
    static std::string Cm(double v) {
        return R"({"value": )" + json::serialize(json::value(v)) +
               R"(, "unit": "cm", "code": "cm"})";
    }

    Series Measure() const {
        std::vector<const json::object*> ptrs;
        for (const auto& o : observations_) ptrs.push_back(&o);
        return profile::Measure(ptrs);
    }

  private:
    std::vector<json::object> observations_;
};

std::string BloodPressure(std::string_view panel, std::string_view date,
                          std::string_view components) {
    std::string text = R"({"resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": ")";
    text.append(panel).append(R"("}]}, "effectiveDateTime": ")").append(date);
    text.append(R"(", "component": [)").append(components).append("]}");
    return text;
}

std::string Component(std::string_view loinc, double value, std::string_view unit = "mm[Hg]") {
    std::string text = R"({"code": {"coding": [{"system": "http://loinc.org", "code": ")";
    text.append(loinc).append(R"("}]}, "valueQuantity": {"value": )");
    text.append(json::serialize(json::value(value)));
    text.append(R"(, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": ")");
    text.append(unit).append(R"("}})");
    return text;
}

TEST(MeasuresTest, BmiFrom70KgAnd175Cm) {
    Record r;
    r.Height("2026-01-10", 175).Weight("2026-03-01", 70);
    const Series s = r.Measure();
    ASSERT_EQ(s.weight.size(), 1u);
    ASSERT_EQ(s.height.size(), 1u);
    ASSERT_TRUE(s.weight[0].bmi.has_value());
    EXPECT_DOUBLE_EQ(*s.weight[0].bmi, 22.9);  // 70 / 1.75² = 22.857…
    EXPECT_FALSE(s.height[0].bmi.has_value());
    ASSERT_TRUE(s.bmi.has_value());
    EXPECT_DOUBLE_EQ(s.bmi->value, 22.9);
    EXPECT_EQ(s.bmi->date, "2026-03-01");
    EXPECT_DOUBLE_EQ(s.bmi->height_cm, 175);
    EXPECT_DOUBLE_EQ(s.bmi->weight_kg, 70);
}

TEST(MeasuresTest, UnitConversions) {
    Record r;
    r.Quantity(kWeight, "2026-01-01", R"({"value": 70500, "unit": "g", "code": "g"})")
        .Quantity(kWeight, "2026-01-02", R"({"value": 150, "unit": "lb", "code": "[lb_av]"})")
        // No UCUM code: the unit as written, when it is one.
        .Quantity(kWeight, "2026-01-03", R"({"value": 71, "unit": "kg"})")
        .Quantity(kHeight, "2026-01-01", R"({"value": 1.72, "unit": "m", "code": "m"})")
        .Quantity(kHeight, "2026-01-02", R"({"value": 69, "unit": "in", "code": "[in_i]"})")
        .Quantity(kHeight, "2026-01-03", R"({"value": 172, "code": "cm"})")
        // Other body height and weight codes.
        .Quantity("3141-9", "2026-01-04", Record::Kg(72))
        .Quantity("8306-3", "2026-01-04", Record::Cm(173))
        .Quantity("8308-9", "2026-01-05", Record::Cm(174));
    const Series s = r.Measure();
    ASSERT_EQ(s.weight.size(), 4u);
    EXPECT_DOUBLE_EQ(s.weight[0].value, 70.5);
    EXPECT_DOUBLE_EQ(s.weight[1].value, 68.04);  // 150 × 0.45359237 = 68.0388…
    EXPECT_DOUBLE_EQ(s.weight[2].value, 71);
    EXPECT_DOUBLE_EQ(s.weight[3].value, 72);
    ASSERT_EQ(s.height.size(), 5u);
    EXPECT_DOUBLE_EQ(s.height[0].value, 172);  // not 172.00000000000003
    EXPECT_DOUBLE_EQ(s.height[1].value, 175.26);
    EXPECT_DOUBLE_EQ(s.height[2].value, 172);
    EXPECT_DOUBLE_EQ(s.height[3].value, 173);
    EXPECT_DOUBLE_EQ(s.height[4].value, 174);
}

TEST(MeasuresTest, LatestHeightAtOrBeforeTheWeight) {
    Record r;
    r.Height("2020-01-01", 150)
        .Height("2022-01-01", 175)
        .Height("2024-01-01", 190)  // measured after the 2023 weight: not used for it
        .Weight("2023-06-01", 70)
        .Weight("2019-06-01", 40);  // before every height: no BMI
    const Series s = r.Measure();
    ASSERT_EQ(s.weight.size(), 2u);
    EXPECT_EQ(s.weight[0].date, "2019-06-01");  // oldest first
    EXPECT_FALSE(s.weight[0].bmi.has_value());
    EXPECT_EQ(s.weight[1].date, "2023-06-01");
    ASSERT_TRUE(s.weight[1].bmi.has_value());
    EXPECT_DOUBLE_EQ(*s.weight[1].bmi, 22.9);  // with 175 cm, not 190
    ASSERT_TRUE(s.bmi.has_value());
    EXPECT_DOUBLE_EQ(s.bmi->height_cm, 175);
    EXPECT_EQ(s.bmi->date, "2023-06-01");
}

TEST(MeasuresTest, OnlyHeightAfterTheWeightGivesNoBmi) {
    Record r;
    r.Weight("2025-01-01", 70).Height("2025-01-02", 175);
    const Series s = r.Measure();
    ASSERT_EQ(s.weight.size(), 1u);
    EXPECT_FALSE(s.weight[0].bmi.has_value());
    EXPECT_FALSE(s.bmi.has_value());
    EXPECT_TRUE(ToJson(s).at("bmi").is_null());
}

TEST(MeasuresTest, SameDayPairsWhateverTheTimeOrZone) {
    // Ordering is on the day: the height taken in the evening (later in UTC too) counts for
    // the weight of that morning.
    Record r;
    r.Weight("2025-05-05T08:00:00+02:00", 70).Height("2025-05-05T19:00:00+02:00", 175);
    const Series s = r.Measure();
    ASSERT_EQ(s.weight.size(), 1u);
    EXPECT_EQ(s.weight[0].date, "2025-05-05T08:00:00+02:00");  // kept as written
    ASSERT_TRUE(s.bmi.has_value());
    EXPECT_DOUBLE_EQ(s.bmi->value, 22.9);
}

TEST(MeasuresTest, LatestWeightGivesTheBmi) {
    Record r;
    r.Height("2020-01-01", 180).Weight("2024-01-01", 81).Weight("2021-01-01", 72.9);
    const Series s = r.Measure();
    ASSERT_TRUE(s.bmi.has_value());
    EXPECT_EQ(s.bmi->date, "2024-01-01");
    EXPECT_DOUBLE_EQ(s.bmi->value, 25);
    EXPECT_DOUBLE_EQ(s.bmi->weight_kg, 81);
    EXPECT_DOUBLE_EQ(*s.weight[0].bmi, 22.5);
}

TEST(MeasuresTest, SkipsInvalidValues) {
    Record r;
    r.Quantity(kWeight, "2025-01-01", Record::Kg(70), "entered-in-error")
        .Quantity(kWeight, "2025-01-02", Record::Kg(70), "cancelled")
        .Weight("2025-01-03", 0)
        .Weight("2025-01-04", -5)
        .Weight("2025-01-05", 750)                                             // absurd
        .Quantity(kWeight, "2025-01-06", R"({"value": 900000, "code": "g"})")  // 900 kg
        .Quantity(kWeight, "2025-01-07", R"({"value": 11, "unit": "stone"})")  // unknown unit
        .Quantity(kWeight, "2025-01-08", R"({"value": 70})")                   // no unit
        .Quantity(kWeight, "2025-01-09", R"({"value": "70", "code": "kg"})")   // not a number
        .Height("2025-01-01", 350)                                             // absurd
        .Quantity(kHeight, "2025-01-02", R"({"value": 3.2, "code": "m"})")     // 320 cm
        .Height("2025-01-03", 0)
        .Quantity(kHeight, "2025-01-04", R"({"value": 175, "code": "mm"})")
        .Quantity(kHeight, "2025-01-05", Record::Cm(175), "preliminary")  // kept
        // No date cannot be placed on a curve; a non-ISO one cannot be ordered.
        .Add(R"({"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
            "valueQuantity": {"value": 70, "code": "kg"}})")
        .Quantity(kWeight, "hier", Record::Kg(70))
        // Not a body weight: another code, another system, or a laboratory value.
        .Quantity("2345-7", "2025-01-10", R"({"value": 5.4, "code": "mmol/L"})")
        .Add(R"({"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "29463-7"}]},
            "effectiveDateTime": "2025-01-11", "valueQuantity": {"value": 70, "code": "kg"}})")
        .Add(R"({"resourceType": "Condition", "code": {"coding": [{"system":
            "http://loinc.org", "code": "29463-7"}]}, "recordedDate": "2025-01-12"})");
    const Series s = r.Measure();
    EXPECT_TRUE(s.weight.empty());
    ASSERT_EQ(s.height.size(), 1u);
    EXPECT_EQ(s.height[0].date, "2025-01-05");
    EXPECT_TRUE(s.blood_pressure.empty());
    EXPECT_FALSE(s.bmi.has_value());

    // Measure tolerates a null pointer in the list.
    EXPECT_TRUE(profile::Measure({nullptr}).height.empty());
}

TEST(MeasuresTest, BloodPressureComponents) {
    Record r;
    r.Add(BloodPressure("85354-9", "2025-06-01",
                        Component("8480-6", 125) + "," + Component("8462-4", 80)))
        // The other panel code; components in any order.
        .Add(BloodPressure("55284-4", "2025-01-01",
                           Component("8462-4", 85) + "," + Component("8480-6", 140)))
        // Missing diastolic, wrong unit, zero: skipped.
        .Add(BloodPressure("85354-9", "2025-02-01", Component("8480-6", 125)))
        .Add(BloodPressure("85354-9", "2025-03-01",
                           Component("8480-6", 16, "cm[Hg]") + "," + Component("8462-4", 9)))
        .Add(BloodPressure("85354-9", "2025-04-01",
                           Component("8480-6", 120) + "," + Component("8462-4", 0)));
    const Series s = r.Measure();
    ASSERT_EQ(s.blood_pressure.size(), 2u);
    EXPECT_EQ(s.blood_pressure[0].date, "2025-01-01");
    EXPECT_DOUBLE_EQ(s.blood_pressure[0].systolic, 140);
    EXPECT_DOUBLE_EQ(s.blood_pressure[0].diastolic, 85);
    EXPECT_EQ(s.blood_pressure[1].date, "2025-06-01");
    EXPECT_DOUBLE_EQ(s.blood_pressure[1].systolic, 125);
    EXPECT_DOUBLE_EQ(s.blood_pressure[1].diastolic, 80);
    EXPECT_TRUE(s.weight.empty());
}

TEST(MeasuresTest, ToJsonFieldNames) {
    Record r;
    r.Height("2026-01-10", 175)
        .Weight("2026-03-01", 70)
        .Weight("2020-01-01", 60)
        .Add(BloodPressure("85354-9", "2026-03-01",
                           Component("8480-6", 125) + "," + Component("8462-4", 80)));
    const json::object j = ToJson(r.Measure());
    EXPECT_EQ(j.size(), 2u);
    const auto& bmi = j.at("bmi").as_object();
    EXPECT_EQ(bmi.size(), 4u);
    EXPECT_DOUBLE_EQ(bmi.at("value").to_number<double>(), 22.9);
    EXPECT_EQ(bmi.at("date").as_string(), "2026-03-01");
    EXPECT_DOUBLE_EQ(bmi.at("height_cm").to_number<double>(), 175);
    EXPECT_DOUBLE_EQ(bmi.at("weight_kg").to_number<double>(), 70);

    const auto& series = j.at("series").as_object();
    EXPECT_EQ(series.size(), 3u);
    const auto& weight = series.at("weight").as_array();
    ASSERT_EQ(weight.size(), 2u);
    EXPECT_EQ(weight[0].as_object().size(), 3u);
    EXPECT_EQ(weight[0].at("date").as_string(), "2020-01-01");
    EXPECT_DOUBLE_EQ(weight[0].at("value").to_number<double>(), 60);
    EXPECT_TRUE(weight[0].at("bmi").is_null());  // no height before it
    EXPECT_DOUBLE_EQ(weight[1].at("bmi").to_number<double>(), 22.9);
    const auto& height = series.at("height").as_array();
    ASSERT_EQ(height.size(), 1u);
    EXPECT_EQ(height[0].as_object().size(), 2u);
    EXPECT_DOUBLE_EQ(height[0].at("value").to_number<double>(), 175);
    const auto& bp = series.at("blood_pressure").as_array();
    ASSERT_EQ(bp.size(), 1u);
    EXPECT_EQ(bp[0].as_object().size(), 3u);
    EXPECT_EQ(bp[0].at("date").as_string(), "2026-03-01");
    EXPECT_DOUBLE_EQ(bp[0].at("systolic").to_number<double>(), 125);
    EXPECT_DOUBLE_EQ(bp[0].at("diastolic").to_number<double>(), 80);
}

TEST(MeasuresTest, ToJsonEmpty) {
    const json::object j = ToJson(Series{});
    EXPECT_EQ(json::serialize(j),
              R"({"bmi":null,"series":{"weight":[],"height":[],"blood_pressure":[]}})");
}

}  // namespace
}  // namespace carnet::profile
