#include "profile/measures.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <initializer_list>
#include <string_view>
#include <utility>

#include "profile/sections.hpp"

namespace carnet::profile {

namespace json = boost::json;

namespace {

constexpr std::string_view kLoinc = "http://loinc.org";

// Beyond these a value is a typing or unit mistake (the heaviest and tallest people on
// record stayed under them): plotting it would flatten every real point of the curve.
constexpr double kMaxWeightKg = 700;
constexpr double kMaxHeightCm = 300;

enum class Kind { kNone, kWeight, kHeight, kBloodPressure };

std::string_view Str(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    return v && v->is_string() ? std::string_view(v->as_string()) : std::string_view();
}

bool HasLoinc(const json::object& o, std::initializer_list<std::string_view> codes) {
    const auto* code = o.if_contains("code");
    if (!code || !code->is_object()) return false;
    const auto* codings = code->as_object().if_contains("coding");
    if (!codings || !codings->is_array()) return false;
    for (const auto& c : codings->as_array()) {
        if (!c.is_object() || Str(c.as_object(), "system") != kLoinc) continue;
        const std::string_view value = Str(c.as_object(), "code");
        for (std::string_view wanted : codes) {
            if (value == wanted) return true;
        }
    }
    return false;
}

Kind KindOf(const json::object& o) {
    if (HasLoinc(o, {"8302-2", "8306-3", "8308-9"})) return Kind::kHeight;
    if (HasLoinc(o, {"29463-7", "3141-9"})) return Kind::kWeight;
    if (HasLoinc(o, {"85354-9", "55284-4"})) return Kind::kBloodPressure;
    return Kind::kNone;
}

/// A quantity's value and its unit: the UCUM code, else the unit as written (the portal
/// writes both; some software writes only `unit`).
bool Quantity(const json::object& holder, double& value, std::string_view& unit) {
    const auto* q = holder.if_contains("valueQuantity");
    if (!q || !q->is_object()) return false;
    const auto& qo = q->as_object();
    const auto* v = qo.if_contains("value");
    if (!v || !v->is_number()) return false;
    value = v->to_number<double>();
    unit = Str(qo, "code");
    if (unit.empty()) unit = Str(qo, "unit");
    return std::isfinite(value);
}

// Conversions leave binary noise (1.72 m is 172.00000000000003 cm): two decimals are finer
// than any scale or gauge.
double Round2(double v) { return std::round(v * 100) / 100; }

std::optional<double> WeightKg(double value, std::string_view unit) {
    if (unit == "kg") return value;
    if (unit == "g") return Round2(value / 1000);
    if (unit == "[lb_av]") return Round2(value * 0.45359237);
    return std::nullopt;
}

std::optional<double> HeightCm(double value, std::string_view unit) {
    if (unit == "cm") return value;
    if (unit == "m") return Round2(value * 100);
    if (unit == "[in_i]") return Round2(value * 2.54);
    return std::nullopt;
}

std::optional<double> Pressure(const json::object& observation, std::string_view loinc) {
    const auto* components = observation.if_contains("component");
    if (!components || !components->is_array()) return std::nullopt;
    for (const auto& c : components->as_array()) {
        if (!c.is_object() || !HasLoinc(c.as_object(), {loinc})) continue;
        double value = 0;
        std::string_view unit;
        if (!Quantity(c.as_object(), value, unit) || unit != "mm[Hg]" || value <= 0)
            return std::nullopt;
        return value;
    }
    return std::nullopt;
}

/// The date as YYYY[-MM[-DD]] for ordering, or "" when it is not an ISO date: only ISO
/// dates compare correctly as strings, and the time part is dropped because zones would make
/// string order wrong within a day (a weight and a height of the same day pair up).
std::string OrderKey(std::string_view date) {
    const std::string_view key = date.substr(0, 10);
    if (key.size() != 4 && key.size() != 7 && key.size() != 10) return {};
    for (size_t i = 0; i < key.size(); ++i) {
        const bool dash = i == 4 || i == 7;
        if (dash ? key[i] != '-' : (key[i] < '0' || key[i] > '9')) return {};
    }
    return std::string(key);
}

template <typename T>
struct Keyed {
    std::string key;
    T item;
};

template <typename T>
std::vector<T> Sorted(std::vector<Keyed<T>> items) {
    // The original text breaks ties so that the same input always gives the same series.
    std::stable_sort(items.begin(), items.end(), [](const Keyed<T>& a, const Keyed<T>& b) {
        return a.key != b.key ? a.key < b.key : a.item.date < b.item.date;
    });
    std::vector<T> out;
    out.reserve(items.size());
    for (auto& k : items) out.push_back(std::move(k.item));
    return out;
}

}  // namespace

Series Measure(const std::vector<const json::object*>& observations) {
    std::vector<Keyed<Point>> weights, heights;
    std::vector<Keyed<BloodPressure>> pressures;
    for (const json::object* o : observations) {
        if (o == nullptr || Str(*o, "resourceType") != "Observation") continue;
        // Withdrawn values are not measures: entered-in-error was never true, cancelled was
        // never taken.
        const std::string_view status = Str(*o, "status");
        if (status == "entered-in-error" || status == "cancelled") continue;
        const Kind kind = KindOf(*o);
        if (kind == Kind::kNone) continue;
        std::string date = ClinicalDate(*o);
        std::string key = OrderKey(date);
        // A point with no usable date cannot be placed on a curve nor paired with a height.
        if (key.empty()) continue;
        if (kind == Kind::kBloodPressure) {
            auto systolic = Pressure(*o, "8480-6");
            auto diastolic = Pressure(*o, "8462-4");
            if (!systolic || !diastolic) continue;
            pressures.push_back({std::move(key), {std::move(date), *systolic, *diastolic}});
            continue;
        }
        double value = 0;
        std::string_view unit;
        if (!Quantity(*o, value, unit)) continue;
        auto converted = kind == Kind::kWeight ? WeightKg(value, unit) : HeightCm(value, unit);
        // Unknown units, zero or negative values, and absurd ones (see kMaxWeightKg) are
        // skipped rather than shown: a wrong point would also give a wrong BMI.
        if (!converted || *converted <= 0) continue;
        if (kind == Kind::kWeight ? *converted > kMaxWeightKg : *converted > kMaxHeightCm) continue;
        auto& list = kind == Kind::kWeight ? weights : heights;
        list.push_back({std::move(key), Point{std::move(date), *converted, std::nullopt}});
    }

    Series s;
    s.height = Sorted(std::move(heights));
    s.blood_pressure = Sorted(std::move(pressures));
    // Keys of the sorted heights, to find the latest one at or before each weight.
    std::vector<std::string> height_keys;
    for (const auto& h : s.height) height_keys.push_back(OrderKey(h.date));
    s.weight = Sorted(std::move(weights));
    for (auto& w : s.weight) {
        const std::string key = OrderKey(w.date);
        auto it = std::upper_bound(height_keys.begin(), height_keys.end(), key);
        if (it == height_keys.begin()) continue;  // every height was measured after
        const Point& h = s.height[static_cast<size_t>(it - height_keys.begin()) - 1];
        const double m = h.value / 100;
        w.bmi = std::round(w.value / (m * m) * 10) / 10;
        // Weights come oldest first, so the pair kept is the latest weight's. When that
        // weight has no height before it, no earlier one has either.
        s.bmi = Bmi{*w.bmi, w.date, h.value, w.value};
    }
    return s;
}

json::object ToJson(const Series& series) {
    json::array weight, height, pressure;
    for (const auto& p : series.weight) {
        json::value bmi = nullptr;
        if (p.bmi) bmi = *p.bmi;
        weight.push_back(json::object{{"date", p.date}, {"value", p.value}, {"bmi", bmi}});
    }
    for (const auto& p : series.height) {
        height.push_back(json::object{{"date", p.date}, {"value", p.value}});
    }
    for (const auto& p : series.blood_pressure) {
        pressure.push_back(
            json::object{{"date", p.date}, {"systolic", p.systolic}, {"diastolic", p.diastolic}});
    }
    json::value bmi = nullptr;
    if (series.bmi) {
        bmi = json::object{{"value", series.bmi->value},
                           {"date", series.bmi->date},
                           {"height_cm", series.bmi->height_cm},
                           {"weight_kg", series.bmi->weight_kg}};
    }
    return json::object{{"bmi", std::move(bmi)},
                        {"series", json::object{{"weight", std::move(weight)},
                                                {"height", std::move(height)},
                                                {"blood_pressure", std::move(pressure)}}}};
}

}  // namespace carnet::profile
