#include "api/search_params.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>

#include "core/clock.hpp"
#include "fhir/definitions.hpp"
#include "fhir/index.hpp"

namespace carnet::api {
namespace {

using store::Predicate;
using store::Prefix;

std::vector<std::string> SplitValues(const std::string& value) {
    // Commas separate OR values; "\," is a literal comma (R4 search 3.1.1.4.8? escaping).
    // The other escapes ("\|", "\$", "\\") are kept for ParseValue: a "\|" must not split
    // a token's system from its code (SplitPipe), so it is unescaped only after that split.
    std::vector<std::string> out(1);
    for (size_t i = 0; i < value.size(); ++i) {
        char c = value[i];
        if (c == '\\' && i + 1 < value.size() && value[i + 1] == ',') {
            out.back().push_back(value[++i]);
        } else if (c == '\\' && i + 1 < value.size() &&
                   (value[i + 1] == '|' || value[i + 1] == '$' || value[i + 1] == '\\')) {
            out.back().push_back(c);
            out.back().push_back(value[++i]);
        } else if (c == ',') {
            out.emplace_back();
        } else {
            out.back().push_back(c);
        }
    }
    return out;
}

// Removes the escapes SplitValues kept ("\|", "\$", "\\").
std::string Unescape(const std::string& v) {
    std::string out;
    out.reserve(v.size());
    for (size_t i = 0; i < v.size(); ++i) {
        if (v[i] == '\\' && i + 1 < v.size() &&
            (v[i + 1] == '|' || v[i + 1] == '$' || v[i + 1] == '\\')) {
            ++i;
        }
        out.push_back(v[i]);
    }
    return out;
}

// Splits at the first unescaped '|'.
bool SplitPipe(const std::string& v, std::string& left, std::string& right) {
    for (size_t i = 0; i < v.size(); ++i) {
        if (v[i] == '\\') {
            ++i;
            continue;
        }
        if (v[i] == '|') {
            left = v.substr(0, i);
            right = v.substr(i + 1);
            return true;
        }
    }
    return false;
}

Prefix TakePrefix(std::string& v) {
    static const std::pair<const char*, Prefix> kPrefixes[] = {
        {"eq", Prefix::kEq}, {"ne", Prefix::kNe}, {"gt", Prefix::kGt},
        {"lt", Prefix::kLt}, {"ge", Prefix::kGe}, {"le", Prefix::kLe},
        {"sa", Prefix::kSa}, {"eb", Prefix::kEb}, {"ap", Prefix::kAp}};
    if (v.size() >= 2 && std::isalpha(static_cast<unsigned char>(v[0]))) {
        for (const auto& [text, prefix] : kPrefixes) {
            if (v.compare(0, 2, text) == 0) {
                v.erase(0, 2);
                return prefix;
            }
        }
    }
    return Prefix::kEq;
}

Error BadValue(const std::string& param, const std::string& why) {
    return Error::Make(Code::kInvalid, "processing",
                       "invalid value for search parameter '" + param + "': " + why);
}

// Number with its implicit precision range (R4 search 3.1.1.4.1: "100" means [99.5, 100.5)).
bool ParseNumber(const std::string& text, double& value, double& low, double& high) {
    if (text.empty()) return false;
    const char* b = text.data();
    const char* e = b + text.size();
    auto r = std::from_chars(b, e, value);
    if (r.ec != std::errc() || r.ptr != e || !std::isfinite(value)) return false;
    int decimals = 0;
    auto dot = text.find('.');
    auto exp = text.find_first_of("eE");
    if (dot != std::string::npos) {
        decimals = static_cast<int>((exp == std::string::npos ? text.size() : exp) - dot - 1);
    }
    int exponent = 0;
    if (exp != std::string::npos) exponent = std::atoi(text.c_str() + exp + 1);
    const double half = 0.5 * std::pow(10.0, exponent - decimals);
    low = value - half;
    high = value + half;
    return true;
}

Result<Predicate> ParseValue(const std::string& type, const fhir::SearchParamDef& def,
                             const std::string& name, const std::string& modifier,
                             std::string value) {
    Predicate p;
    p.param = def.code;
    // Tokens and quantities unescape their parts after splitting them at '|'.
    const bool split_at_pipes =
        def.code != "_id" && (def.type == "token" || def.type == "quantity");
    if (!split_at_pipes) value = Unescape(value);
    if (def.code == "_id") {
        if (!modifier.empty()) return BadValue(name, "no modifier is supported on _id");
        p.kind = Predicate::Kind::kId;
        p.id = value;
        return p;
    }
    if (def.code == "_lastUpdated" || def.type == "date") {
        if (!modifier.empty()) return BadValue(name, "date parameters take no modifier");
        p.kind =
            def.code == "_lastUpdated" ? Predicate::Kind::kLastUpdated : Predicate::Kind::kDate;
        p.prefix = TakePrefix(value);
        if (!ParseFhirDateRange(value, p.low_us, p.high_us)) {
            return BadValue(name, "expected a FHIR date such as 2024-05-01 or ge2024-05");
        }
        return p;
    }
    if (def.type == "token" || def.type == "uri") {
        p.kind = Predicate::Kind::kToken;
        if (modifier == "not") {
            p.negate = true;
        } else if (!modifier.empty()) {
            return BadValue(name, "modifier :" + modifier + " is not supported");
        }
        std::string system, code;
        if (def.type == "token" && SplitPipe(value, system, code)) {
            p.system = Unescape(system);  // "|code": explicitly no system
            if (!code.empty()) p.code = Unescape(code);
            if (system.empty() && code.empty()) return BadValue(name, "empty token");
        } else {
            if (value.empty()) return BadValue(name, "empty value");
            p.code = Unescape(value);
        }
        return p;
    }
    if (def.type == "string") {
        p.kind = Predicate::Kind::kString;
        if (modifier.empty()) {
            p.match = store::StringMatch::kStartsWith;
            p.text = fhir::NormalizeString(value);
        } else if (modifier == "contains") {
            p.match = store::StringMatch::kContains;
            p.text = fhir::NormalizeString(value);
        } else if (modifier == "exact") {
            p.match = store::StringMatch::kExact;
            p.text = value;
        } else {
            return BadValue(name, "modifier :" + modifier + " is not supported");
        }
        if (value.empty()) return BadValue(name, "empty value");
        return p;
    }
    if (def.type == "reference") {
        p.kind = Predicate::Kind::kReference;
        if (value.empty()) return BadValue(name, "empty value");
        // Absolute URLs keep only their last two segments (Type/id): references to this
        // server are stored relative.
        auto slash = value.rfind('/');
        if (slash != std::string::npos) {
            auto prev = value.rfind('/', slash - 1);
            std::string t = value.substr(prev == std::string::npos ? 0 : prev + 1,
                                         slash - (prev == std::string::npos ? 0 : prev + 1));
            p.target_type = t;
            p.target_id = value.substr(slash + 1);
            if (!fhir::Definitions::R4().IsResourceType(t)) {
                return BadValue(name, "unknown resource type in reference");
            }
        } else {
            p.target_id = value;
        }
        if (!modifier.empty()) {
            if (!fhir::Definitions::R4().IsResourceType(modifier)) {
                return BadValue(name, "modifier :" + modifier + " is not supported");
            }
            if (!p.target_type.empty() && p.target_type != modifier) {
                return BadValue(name, "the type modifier contradicts the reference");
            }
            p.target_type = modifier;
        } else if (p.target_type.empty() && def.targets.size() == 1) {
            p.target_type = def.targets.front();
        }
        return p;
    }
    if (def.type == "quantity" || def.type == "number") {
        if (!modifier.empty()) return BadValue(name, "modifier :" + modifier + " is not supported");
        p.kind = Predicate::Kind::kQuantity;
        p.prefix = TakePrefix(value);
        std::string number = value, rest;
        if (def.type == "quantity") {
            std::string system, code;
            if (SplitPipe(value, number, rest)) {
                if (!SplitPipe(rest, system, code))
                    return BadValue(name, "expected number|system|code");
                if (!system.empty()) p.system = Unescape(system);
                if (!code.empty()) p.code = Unescape(code);
            }
        }
        if (!ParseNumber(number, p.number, p.number_low, p.number_high)) {
            return BadValue(name, "expected a number");
        }
        return p;
    }
    (void)type;
    return Error::Make(Code::kInvalid, "not-supported",
                       "search parameter '" + name + "' (" + def.type + ") is not supported");
}

Result<IncludeSpec> ParseInclude(const std::string& name, const std::string& value) {
    IncludeSpec spec;
    std::vector<std::string> parts;
    size_t start = 0;
    for (;;) {
        auto colon = value.find(':', start);
        parts.push_back(value.substr(start, colon - start));
        if (colon == std::string::npos) break;
        start = colon + 1;
    }
    const auto& defs = fhir::Definitions::R4();
    if (parts.size() < 2 || parts.size() > 3 || !defs.IsResourceType(parts[0])) {
        return Error::Make(Code::kInvalid, "processing",
                           name + " expects Type:parameter[:targetType]");
    }
    const auto* def = defs.FindSearchParam(parts[0], parts[1]);
    if (!def || def->type != "reference") {
        return Error::Make(
            Code::kInvalid, "processing",
            name + ": '" + parts[1] + "' is not a reference parameter of " + parts[0]);
    }
    spec.source_type = parts[0];
    spec.param = parts[1];
    if (parts.size() == 3) {
        if (!defs.IsResourceType(parts[2])) {
            return Error::Make(Code::kInvalid, "processing", name + ": unknown target type");
        }
        spec.target_type = parts[2];
    }
    return spec;
}

}  // namespace

Result<ParsedSearch> ParseSearch(const std::string& type,
                                 const std::vector<std::pair<std::string, std::string>>& params,
                                 bool lenient, const SearchLimits& limits) {
    const auto& defs = fhir::Definitions::R4();
    ParsedSearch out;
    out.query.type = type;
    out.query.count = limits.default_count;
    if (params.size() > limits.max_params) {
        return Error::Make(
            Code::kInvalid, "too-costly",
            "too many search parameters (at most " + std::to_string(limits.max_params) + ")");
    }
    auto skip_or_fail = [&](const std::string& name, Error e) -> Status {
        if (!lenient) return e;
        Issue issue = e.issues.front();
        issue.severity = "warning";
        out.ignored.push_back(issue);
        (void)name;
        return Ok();
    };
    for (const auto& [raw_name, value] : params) {
        std::string name = raw_name, modifier;
        auto colon = raw_name.find(':');
        if (colon != std::string::npos) {
            name = raw_name.substr(0, colon);
            modifier = raw_name.substr(colon + 1);
        }
        if (name == "_count") {
            int n = -1;
            auto r = std::from_chars(value.data(), value.data() + value.size(), n);
            if (r.ec != std::errc() || r.ptr != value.data() + value.size() || n < 0) {
                return Error::Make(Code::kInvalid, "processing", "_count must be a whole number");
            }
            if (n > limits.max_count) {
                return Error::Make(Code::kInvalid, "too-costly",
                                   "_count may not exceed " + std::to_string(limits.max_count));
            }
            out.query.count = n;
            out.echoed.emplace_back(raw_name, value);
            continue;
        }
        if (name == "_cursor") {
            out.query.cursor = value;  // validated by the store; not echoed (next link sets it)
            continue;
        }
        if (name == "_summary") {
            if (value == "count") {
                out.summary_count = true;
            } else if (value != "false") {
                CARNET_CHECK(skip_or_fail(name, Error::Make(Code::kInvalid, "not-supported",
                                                            "_summary supports count and false")));
                continue;
            }
            out.echoed.emplace_back(raw_name, value);
            continue;
        }
        if (name == "_total") {
            if (value == "accurate" || value == "estimate") out.query.want_total = true;
            out.echoed.emplace_back(raw_name, value);
            continue;
        }
        if (name == "_format" || name == "_pretty") {
            // JSON is the only format; _format values other than JSON are refused earlier.
            continue;
        }
        if (name == "_sort") {
            std::string field = value;
            bool desc = !field.empty() && field[0] == '-';
            if (desc) field.erase(0, 1);
            store::SortKey key;
            key.descending = desc;
            if (field == "_lastUpdated") {
                key.field = store::SortKey::Field::kLastUpdated;
            } else if (field == "_id") {
                key.field = store::SortKey::Field::kId;
            } else {
                const auto* def = defs.FindSearchParam(type, field);
                if (!def || def->type != "date") {
                    CARNET_CHECK(skip_or_fail(
                        name, Error::Make(Code::kInvalid, "not-supported",
                                          "_sort supports _lastUpdated, _id and date parameters")));
                    continue;
                }
                key.field = store::SortKey::Field::kDateParam;
                key.param = field;
            }
            out.query.sort = key;
            out.echoed.emplace_back(raw_name, value);
            continue;
        }
        if (name == "_include" || name == "_revinclude") {
            if (!modifier.empty()) {
                CARNET_CHECK(
                    skip_or_fail(name, Error::Make(Code::kInvalid, "not-supported",
                                                   name + ":" + modifier + " is not supported")));
                continue;
            }
            CARNET_TRY(IncludeSpec spec, ParseInclude(name, value));
            if (name == "_include" && spec.source_type != type) {
                return Error::Make(Code::kInvalid, "processing",
                                   "_include must name the searched type (" + type + ")");
            }
            (name == "_include" ? out.includes : out.revincludes).push_back(std::move(spec));
            out.echoed.emplace_back(raw_name, value);
            continue;
        }
        const auto* def = defs.FindSearchParam(type, name);
        if (!def) {
            CARNET_CHECK(skip_or_fail(
                name, Error::Make(Code::kInvalid, "not-supported",
                                  "unknown search parameter '" + name + "' for " + type)));
            continue;
        }
        if (name.find('.') != std::string::npos || modifier == "missing" || modifier == "text" ||
            modifier == "in" || modifier == "below" || modifier == "above" ||
            modifier == "not-in" || modifier == "of-type" || modifier == "identifier") {
            CARNET_CHECK(skip_or_fail(name, Error::Make(Code::kInvalid, "not-supported",
                                                        "modifier :" + modifier + " on '" + name +
                                                            "' is not supported")));
            continue;
        }
        auto values = SplitValues(value);
        if (values.size() > limits.max_values_per_param) {
            return Error::Make(Code::kInvalid, "too-costly", "too many values for '" + name + "'");
        }
        store::Clause clause;
        bool skipped = false;
        for (auto& v : values) {
            auto p = ParseValue(type, *def, raw_name, modifier, v);
            if (!p.ok()) {
                CARNET_CHECK(skip_or_fail(name, std::move(p).error()));
                skipped = true;
                break;
            }
            clause.any_of.push_back(std::move(p).value());
        }
        if (skipped) continue;
        // :not with several values means "none of them": AND of negations.
        if (modifier == "not") {
            for (auto& p : clause.any_of) out.query.all_of.push_back(store::Clause{{p}});
        } else {
            out.query.all_of.push_back(std::move(clause));
        }
        out.echoed.emplace_back(raw_name, value);
    }
    if (out.summary_count) {
        out.query.count = 0;
        out.query.want_total = true;
    }
    return out;
}

}  // namespace carnet::api
