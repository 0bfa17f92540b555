#pragma once
/// Measurements over time and the body-mass index (docs/PROFILE.md, "bmi" and "series").
#include <boost/json/object.hpp>
#include <optional>
#include <string>
#include <vector>

namespace carnet::profile {

struct Point {
    std::string date;           // YYYY-MM-DD or a dateTime, as the Observation gives it
    double value = 0;           // weight in kg, height in cm (converted from g, m, [lb_av], [in_i])
    std::optional<double> bmi;  // weights: with the latest height measured at or before
};

struct BloodPressure {
    std::string date;
    double systolic = 0, diastolic = 0;  // mm[Hg]
};

struct Bmi {
    double value = 0;  // kg/m², one decimal
    std::string date;  // the weight's
    double height_cm = 0, weight_kg = 0;
};

struct Series {
    std::vector<Point> weight, height;  // oldest first
    std::vector<BloodPressure> blood_pressure;
    std::optional<Bmi> bmi;  // the latest weight with the latest height at or before it
};

/// Reads body height (LOINC 8302-2, 8306-3, 8308-9), body weight (29463-7, 3141-9) and blood
/// pressure (panel 85354-9 / 55284-4 with components 8480-6 and 8462-4) from these
/// Observations; others, and those with status entered-in-error, are skipped.
Series Measure(const std::vector<const boost::json::object*>& observations);

/// {"bmi": {...} | null, "series": {"weight": [...], "height": [...], "blood_pressure": [...]}}
boost::json::object ToJson(const Series& series);

}  // namespace carnet::profile
