#include "fhir/validate.hpp"

#include <array>
#include <boost/json.hpp>
#include <charconv>
#include <cstdint>
#include <limits>
#include <string>

#include "core/clock.hpp"
#include "core/ids.hpp"
#include "fhir/definitions.hpp"

namespace carnet::fhir {

namespace json = boost::json;

namespace {

// ---------------------------------------------------------------------------------------
// Primitive formats: the regexes of http://hl7.org/fhir/R4/datatypes.html, hand-written so
// validation stays allocation-free.

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool IsSpace(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

bool TwoDigits(std::string_view s, size_t pos, int& out) {
    if (pos + 2 > s.size() || !IsDigit(s[pos]) || !IsDigit(s[pos + 1])) return false;
    out = (s[pos] - '0') * 10 + (s[pos + 1] - '0');
    return true;
}

// YYYY, YYYY-MM or YYYY-MM-DD at the start of s (year 0001-9999); `pos` is set past it and
// `parts` to 1, 2 or 3. The calendar (day in month) is checked with ParseFhirDateRange.
bool ParseDatePrefix(std::string_view s, size_t& pos, int& parts) {
    if (s.size() < 4) return false;
    for (size_t i = 0; i < 4; ++i) {
        if (!IsDigit(s[i])) return false;
    }
    if (s.substr(0, 4) == "0000") return false;
    pos = 4;
    parts = 1;
    int month = 0;
    if (pos < s.size() && s[pos] == '-') {
        if (!TwoDigits(s, pos + 1, month) || month < 1 || month > 12) return false;
        pos += 3;
        parts = 2;
        int day = 0;
        if (pos < s.size() && s[pos] == '-') {
            if (!TwoDigits(s, pos + 1, day) || day < 1 || day > 31) return false;
            pos += 3;
            parts = 3;
        }
    }
    int64_t low = 0;
    int64_t high = 0;
    return ParseFhirDateRange(s.substr(0, pos), low, high);
}

// hh:mm:ss(.f+)? starting at pos.
bool ParseTime(std::string_view s, size_t& pos) {
    int hh = 0;
    int mm = 0;
    int ss = 0;
    if (!TwoDigits(s, pos, hh) || hh > 23) return false;
    if (pos + 2 >= s.size() || s[pos + 2] != ':' || !TwoDigits(s, pos + 3, mm) || mm > 59)
        return false;
    if (pos + 5 >= s.size() || s[pos + 5] != ':' || !TwoDigits(s, pos + 6, ss) || ss > 60)
        return false;
    pos += 8;
    if (pos < s.size() && s[pos] == '.') {
        const size_t start = ++pos;
        while (pos < s.size() && IsDigit(s[pos])) ++pos;
        if (pos == start) return false;
    }
    return true;
}

// Z | (+|-)hh:mm with hh:mm <= 14:00, ending the string.
bool ParseZoneToEnd(std::string_view s, size_t pos) {
    if (pos >= s.size()) return false;
    if (s[pos] == 'Z') return pos + 1 == s.size();
    if (s[pos] != '+' && s[pos] != '-') return false;
    int hh = 0;
    int mm = 0;
    if (!TwoDigits(s, pos + 1, hh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !TwoDigits(s, pos + 4, mm) || mm > 59 || hh > 14 || (hh == 14 && mm != 0))
        return false;
    return pos + 6 == s.size();
}

bool IsDate(std::string_view s) {
    size_t pos = 0;
    int parts = 0;
    return ParseDatePrefix(s, pos, parts) && pos == s.size();
}

bool IsDateTime(std::string_view s) {
    size_t pos = 0;
    int parts = 0;
    if (!ParseDatePrefix(s, pos, parts)) return false;
    if (pos == s.size()) return true;
    // A time needs the full date and a zone.
    if (parts != 3 || s[pos] != 'T') return false;
    ++pos;
    return ParseTime(s, pos) && ParseZoneToEnd(s, pos);
}

bool IsInstant(std::string_view s) {
    size_t pos = 0;
    int parts = 0;
    if (!ParseDatePrefix(s, pos, parts) || parts != 3 || pos >= s.size() || s[pos] != 'T')
        return false;
    ++pos;
    return ParseTime(s, pos) && ParseZoneToEnd(s, pos);
}

bool IsTime(std::string_view s) {
    size_t pos = 0;
    return ParseTime(s, pos) && pos == s.size();
}

// [^\s]+(\s[^\s]+)*
bool IsCode(std::string_view s) {
    if (s.empty() || IsSpace(s.front()) || IsSpace(s.back())) return false;
    for (size_t i = 1; i < s.size(); ++i) {
        if (IsSpace(s[i]) && (s[i] != ' ' || IsSpace(s[i - 1]))) return false;
    }
    return true;
}

// \S* (and non-empty: FHIR strings are never empty).
bool IsUri(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s) {
        if (IsSpace(c)) return false;
    }
    return true;
}

// [ \r\n\t\S]+
bool IsFhirString(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s) {
        if (c == '\f' || c == '\v') return false;
    }
    return true;
}

// urn:oid:[0-2](\.(0|[1-9][0-9]*))+
bool IsOid(std::string_view s) {
    constexpr std::string_view kPrefix = "urn:oid:";
    if (s.substr(0, kPrefix.size()) != kPrefix) return false;
    s.remove_prefix(kPrefix.size());
    if (s.size() < 3 || s[0] < '0' || s[0] > '2') return false;
    size_t pos = 1;
    int arcs = 0;
    while (pos < s.size()) {
        if (s[pos] != '.' || pos + 1 >= s.size() || !IsDigit(s[pos + 1])) return false;
        ++pos;
        if (s[pos] == '0' && pos + 1 < s.size() && IsDigit(s[pos + 1])) return false;
        while (pos < s.size() && IsDigit(s[pos])) ++pos;
        ++arcs;
    }
    return arcs >= 1;
}

bool IsLowerHex(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f'); }

// urn:uuid:8-4-4-4-12 lower-case hex
bool IsUuid(std::string_view s) {
    constexpr std::string_view kPrefix = "urn:uuid:";
    if (s.size() != kPrefix.size() + 36 || s.substr(0, kPrefix.size()) != kPrefix) return false;
    s.remove_prefix(kPrefix.size());
    for (size_t i = 0; i < s.size(); ++i) {
        const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !IsLowerHex(s[i])) return false;
    }
    return true;
}

// (\s*([0-9a-zA-Z\+\=]){4}\s*)+ : base64 alphabet, whitespace allowed, groups of 4.
bool IsBase64(std::string_view s) {
    size_t significant = 0;
    for (char c : s) {
        if (IsSpace(c)) continue;
        const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || IsDigit(c) ||
                        c == '+' || c == '/' || c == '=';
        if (!ok) return false;
        ++significant;
    }
    return significant > 0 && significant % 4 == 0;
}

// The narrative is an XHTML <div> (http://hl7.org/fhir/R4/narrative.html#xhtml).
bool IsXhtml(std::string_view s) {
    size_t pos = 0;
    while (pos < s.size() && IsSpace(s[pos])) ++pos;
    return s.substr(pos, 4) == "<div";
}

std::string_view KindName(Kind kind) {
    switch (kind) {
        case Kind::kBoolean:
            return "boolean";
        case Kind::kInteger:
            return "integer";
        case Kind::kPositiveInt:
            return "positiveInt";
        case Kind::kUnsignedInt:
            return "unsignedInt";
        case Kind::kDecimal:
            return "decimal";
        case Kind::kString:
            return "string";
        case Kind::kMarkdown:
            return "markdown";
        case Kind::kCode:
            return "code";
        case Kind::kId:
            return "id";
        case Kind::kUri:
            return "uri";
        case Kind::kUrl:
            return "url";
        case Kind::kCanonical:
            return "canonical";
        case Kind::kOid:
            return "oid";
        case Kind::kUuid:
            return "uuid";
        case Kind::kDate:
            return "date";
        case Kind::kDateTime:
            return "dateTime";
        case Kind::kInstant:
            return "instant";
        case Kind::kTime:
            return "time";
        case Kind::kBase64Binary:
            return "base64Binary";
        case Kind::kXhtml:
            return "xhtml";
        case Kind::kComplex:
            return "complex type";
        case Kind::kResource:
            return "resource";
    }
    return "value";
}

// Walks one resource, appending to a shared path buffer (no allocation per element in the
// steady state) and collecting issues.
class Validator {
  public:
    explicit Validator(const Definitions& defs)
        : defs_(defs),
          element_type_(defs.FindType("Element")),
          extension_type_(defs.FindType("Extension")) {
        path_.reserve(128);
    }

    void ValidateRoot(const json::object& resource) { ValidateResource(resource, false); }

    std::vector<Issue> TakeIssues() { return std::move(issues_); }

  private:
    // FHIR resources nest ~15 levels; this only guards the stack against crafted objects.
    static constexpr int kMaxDepth = 200;

    void Add(std::string_view code, std::string_view diagnostics, std::string_view suffix = {}) {
        if (truncated_) return;
        if (issues_.size() + 1 >= kMaxValidationIssues) {
            issues_.push_back(Issue{"error", "too-costly",
                                    "too many validation issues; the rest are not reported", ""});
            truncated_ = true;
            return;
        }
        std::string expression = path_;
        expression += suffix;
        issues_.push_back(
            Issue{"error", std::string(code), std::string(diagnostics), std::move(expression)});
    }

    void PushKey(std::string_view key) {
        if (!path_.empty()) path_ += '.';
        path_ += key;
    }
    void PushIndex(size_t i) {
        char digits[24];
        const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, i);
        (void)ec;  // 24 chars always hold a size_t
        path_ += '[';
        path_.append(digits, end);
        path_ += ']';
    }

    void ValidateResource(const json::object& obj, bool in_contained) {
        const json::value* type_value = obj.if_contains("resourceType");
        const size_t mark = path_.size();
        if (type_value == nullptr) {
            Add("required", "resourceType is missing",
                path_.empty() ? "resourceType" : ".resourceType");
            return;
        }
        if (!type_value->is_string()) {
            Add("structure", "resourceType must be a string",
                path_.empty() ? "resourceType" : ".resourceType");
            return;
        }
        const std::string_view type_name = type_value->get_string();
        const TypeDef* type = defs_.IsResourceType(type_name) ? defs_.FindType(type_name) : nullptr;
        if (type == nullptr) {
            Add("value", "resourceType is not a known FHIR R4 resource type",
                path_.empty() ? "resourceType" : ".resourceType");
            return;
        }
        // The root is named by its type; nested resources by where they sit.
        if (path_.empty()) path_ = type_name;
        if (in_contained && obj.contains("contained")) {
            Add("invariant", "a contained resource must not contain resources (dom-2)",
                ".contained");
        }
        ValidateObject(obj, *type, true, in_contained);
        path_.resize(mark);
    }

    void ValidateObject(const json::object& obj, const TypeDef& type, bool is_resource,
                        bool in_contained) {
        if (++depth_ > kMaxDepth) {
            Add("too-costly", "element nesting is too deep");
            --depth_;
            return;
        }
        if (obj.empty()) Add("structure", "objects must not be empty (ele-1)");
        // Choice groups seen, to enforce "at most one variant" without a lookup per group.
        std::array<std::string_view, 8> choices_seen{};
        size_t choices_count = 0;
        bool has_value_choice = false;
        for (const auto& [key_raw, value] : obj) {
            const std::string_view key(key_raw.data(), key_raw.size());
            if (is_resource && key == "resourceType") continue;
            const bool is_primitive_ext = key.size() > 1 && key.front() == '_';
            const ElementDef* el = type.Find(is_primitive_ext ? key.substr(1) : key);
            if (el == nullptr || (is_primitive_ext && !el->IsPrimitive())) {
                const size_t mark = path_.size();
                PushKey(key);
                Add("structure", "unknown element");
                path_.resize(mark);
                continue;
            }
            if (!el->choice.empty()) {
                if (el->choice == "value") has_value_choice = true;
                bool duplicate = false;
                for (size_t i = 0; i < choices_count; ++i) {
                    if (choices_seen[i] == el->choice) duplicate = true;
                }
                // valueString + _valueString is one variant, not two.
                const bool same_variant = is_primitive_ext
                                              ? obj.contains(el->name)
                                              : obj.contains(std::string("_") + el->name);
                if (duplicate && !same_variant) {
                    const size_t mark = path_.size();
                    PushKey(el->choice);
                    Add("structure", "only one type of a choice element may be present");
                    path_.resize(mark);
                } else if (!duplicate && choices_count < choices_seen.size()) {
                    choices_seen[choices_count++] = el->choice;
                }
            }
            if (is_primitive_ext) {
                ValidatePrimitiveExtension(value, *el, key);
            } else {
                ValidateProperty(obj, key, value, *el, is_resource && key == "contained",
                                 in_contained);
            }
        }
        for (const ElementDef* required : type.required) {
            if (obj.contains(required->name)) continue;
            if (required->IsPrimitive() && obj.contains(std::string("_") + required->name))
                continue;
            const size_t mark = path_.size();
            PushKey(required->name);
            Add("required", "required element is missing (minimum cardinality)");
            path_.resize(mark);
        }
        for (const ChoiceGroupDef& group : type.choice_groups) {
            if (group.min == 0) continue;
            bool found = false;
            for (size_t i = 0; i < choices_count; ++i) {
                if (choices_seen[i] == group.name) found = true;
            }
            if (!found) {
                const size_t mark = path_.size();
                PushKey(group.name);
                Add("required", "required choice element is missing (minimum cardinality)");
                path_.resize(mark);
            }
        }
        // ext-1: an extension has either nested extensions or a value, not both / neither.
        if (&type == extension_type_) {
            const bool has_nested = obj.contains("extension");
            if (has_nested == has_value_choice) {
                Add("invariant",
                    "an extension must have either extensions or a value, not both (ext-1)");
            }
        }
        --depth_;
    }

    void ValidateProperty(const json::object& parent, std::string_view key,
                          const json::value& value, const ElementDef& el, bool is_contained,
                          bool in_contained) {
        const size_t mark = path_.size();
        PushKey(key);
        if (el.Repeats()) {
            if (!value.is_array()) {
                Add("structure", "element repeats: an array is expected");
            } else if (value.get_array().empty()) {
                Add("structure", "arrays must not be empty");
            } else {
                const json::array& items = value.get_array();
                if (el.max > 0 && items.size() > static_cast<size_t>(el.max)) {
                    Add("structure", "too many items (maximum cardinality)");
                }
                const size_t item_mark = path_.size();
                for (size_t i = 0; i < items.size(); ++i) {
                    PushIndex(i);
                    if (items[i].is_null() && el.IsPrimitive()) {
                        // null keeps positions aligned with a _element array (json.html#primitive).
                        if (!parent.contains(std::string("_") + el.name)) {
                            Add("structure", "null is only allowed alongside a _element array");
                        }
                    } else {
                        ValidateValue(items[i], el, is_contained || in_contained);
                    }
                    path_.resize(item_mark);
                }
            }
        } else if (value.is_array()) {
            Add("structure", "element does not repeat: a single value is expected, not an array");
        } else {
            ValidateValue(value, el, in_contained);
        }
        path_.resize(mark);
    }

    void ValidatePrimitiveExtension(const json::value& value, const ElementDef& el,
                                    std::string_view key) {
        const size_t mark = path_.size();
        PushKey(key);
        auto check_one = [&](const json::value& item) {
            if (item.is_null()) return;
            if (!item.is_object()) {
                Add("structure", "a primitive extension (_element) must be an object");
                return;
            }
            ValidateObject(item.get_object(), *element_type_, false, false);
        };
        if (el.Repeats()) {
            if (!value.is_array() || value.get_array().empty()) {
                Add("structure", "a repeating primitive's _element must be a non-empty array");
            } else {
                const size_t item_mark = path_.size();
                const json::array& items = value.get_array();
                for (size_t i = 0; i < items.size(); ++i) {
                    PushIndex(i);
                    check_one(items[i]);
                    path_.resize(item_mark);
                }
            }
        } else if (value.is_null()) {
            Add("structure", "a primitive extension (_element) must be an object");
        } else {
            check_one(value);
        }
        path_.resize(mark);
    }

    void ValidateValue(const json::value& value, const ElementDef& el, bool in_contained) {
        switch (el.kind) {
            case Kind::kResource:
                if (!value.is_object()) {
                    Add("structure", "a resource (JSON object with resourceType) is expected");
                    return;
                }
                ValidateResource(value.get_object(), in_contained);
                return;
            case Kind::kComplex:
                if (!value.is_object()) {
                    Add("structure", "an object is expected for this datatype");
                    return;
                }
                ValidateObject(value.get_object(), *el.type_def, false, in_contained);
                return;
            default:
                ValidatePrimitive(value, el);
                return;
        }
    }

    void ValidatePrimitive(const json::value& value, const ElementDef& el) {
        switch (el.kind) {
            case Kind::kBoolean:
                if (!value.is_bool()) Add("structure", "a JSON boolean is expected");
                return;
            case Kind::kDecimal:
                if (!value.is_number()) Add("structure", "a JSON number is expected");
                return;
            case Kind::kInteger:
            case Kind::kPositiveInt:
            case Kind::kUnsignedInt: {
                int64_t v = 0;
                if (value.is_int64()) {
                    v = value.get_int64();
                } else if (value.is_uint64()) {
                    v = std::numeric_limits<int64_t>::max();
                } else {
                    Add(value.is_double() ? "value" : "structure",
                        "a JSON integer is expected (no fraction, no quotes)");
                    return;
                }
                int64_t lowest = std::numeric_limits<int32_t>::min();
                if (el.kind == Kind::kPositiveInt) lowest = 1;
                if (el.kind == Kind::kUnsignedInt) lowest = 0;
                if (v < lowest || v > std::numeric_limits<int32_t>::max()) {
                    Add("value", el.kind == Kind::kInteger       ? "integer out of range"
                                 : el.kind == Kind::kPositiveInt ? "positiveInt out of range"
                                                                 : "unsignedInt out of range");
                }
                return;
            }
            default:
                break;
        }
        if (!value.is_string()) {
            Add("structure", "a JSON string is expected for this datatype");
            return;
        }
        const std::string_view s(value.get_string().data(), value.get_string().size());
        bool ok = true;
        switch (el.kind) {
            case Kind::kString:
            case Kind::kMarkdown:
                ok = IsFhirString(s);
                break;
            case Kind::kCode:
                ok = IsCode(s);
                break;
            case Kind::kId:
                ok = IsValidFhirId(s);
                break;
            case Kind::kUri:
            case Kind::kUrl:
            case Kind::kCanonical:
                ok = IsUri(s);
                break;
            case Kind::kOid:
                ok = IsOid(s);
                break;
            case Kind::kUuid:
                ok = IsUuid(s);
                break;
            case Kind::kDate:
                ok = IsDate(s);
                break;
            case Kind::kDateTime:
                ok = IsDateTime(s);
                break;
            case Kind::kInstant:
                ok = IsInstant(s);
                break;
            case Kind::kTime:
                ok = IsTime(s);
                break;
            case Kind::kBase64Binary:
                ok = IsBase64(s);
                break;
            case Kind::kXhtml:
                ok = IsXhtml(s);
                break;
            default:
                break;
        }
        if (!ok) {
            std::string diagnostics = "value is not a valid ";
            diagnostics += KindName(el.kind);
            Add("value", diagnostics);
            return;
        }
        if (el.kind == Kind::kCode && !el.AllowsCode(s)) {
            Add("code-invalid", "code is not in the required value set");
        }
    }

    const Definitions& defs_;
    const TypeDef* element_type_;
    const TypeDef* extension_type_;
    std::string path_;
    std::vector<Issue> issues_;
    bool truncated_ = false;
    int depth_ = 0;
};

}  // namespace

Status Validate(const json::object& resource) {
    Validator validator(Definitions::R4());
    validator.ValidateRoot(resource);
    std::vector<Issue> issues = validator.TakeIssues();
    if (issues.empty()) return Ok();
    Error error;
    error.code = Code::kInvalid;
    error.issues = std::move(issues);
    error.detail = "structural validation: " + std::to_string(error.issues.size()) + " issue(s)";
    return error;
}

}  // namespace carnet::fhir
