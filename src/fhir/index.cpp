#include "fhir/index.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <limits>

#include "core/clock.hpp"
#include "core/ids.hpp"
#include "fhir/definitions.hpp"

namespace carnet::fhir {

namespace json = boost::json;

namespace {

std::string_view Sv(const json::string& s) { return {s.data(), s.size()}; }

/// The string member `key` of an object, or empty.
std::string_view StringField(const json::object& obj, std::string_view key) {
    const json::value* v = obj.if_contains(key);
    return (v != nullptr && v->is_string()) ? Sv(v->get_string()) : std::string_view();
}

const json::value* Field(const json::object& obj, std::string_view key) {
    return obj.if_contains(key);
}

/// Follows `steps` from `node`, flattening arrays, and collects the values at the end.
void Collect(const json::value& node, const std::vector<std::string>& steps, size_t step,
             std::vector<const json::value*>& out) {
    if (node.is_array()) {
        for (const auto& item : node.get_array()) Collect(item, steps, step, out);
        return;
    }
    if (step == steps.size()) {
        out.push_back(&node);
        return;
    }
    if (!node.is_object()) return;
    const json::value* child = node.get_object().if_contains(steps[step]);
    if (child != nullptr) Collect(*child, steps, step + 1, out);
}

struct ParsedReference {
    std::string_view type;
    std::string_view id;
};

/// Splits a literal reference (http://hl7.org/fhir/R4/references.html#literal): "Type/id",
/// "Type/id/_history/v", or an absolute URL ending in one of those. Anything else (urn:uuid:,
/// urn:oid:, "#contained", canonical URLs) is returned whole with an empty type.
ParsedReference ParseReference(std::string_view ref) {
    ParsedReference whole{{}, ref};
    if (ref.empty() || ref.front() == '#' || ref.substr(0, 4) == "urn:") return whole;
    std::string_view path = ref;
    if (const size_t history = path.find("/_history/"); history != std::string_view::npos) {
        path = path.substr(0, history);
    }
    const size_t slash = path.rfind('/');
    if (slash == std::string_view::npos || slash == 0) return whole;
    const std::string_view id = path.substr(slash + 1);
    const std::string_view before = path.substr(0, slash);
    const size_t type_start = before.rfind('/');
    const std::string_view type =
        type_start == std::string_view::npos ? before : before.substr(type_start + 1);
    if (!IsValidFhirId(id) || !Definitions::R4().IsResourceType(type)) return whole;
    return {type, id};
}

constexpr int64_t kOpenLow = std::numeric_limits<int64_t>::min();
constexpr int64_t kOpenHigh = std::numeric_limits<int64_t>::max();

class Extractor {
  public:
    explicit Extractor(store::IndexValues& out) : out_(out) {}

    /// Values of one parameter are appended together, so deduplication only needs to look
    /// at the values added since the parameter started.
    void BeginParam() {
        tokens_start_ = out_.tokens.size();
        strings_start_ = out_.strings.size();
        dates_start_ = out_.dates.size();
        references_start_ = out_.references.size();
        quantities_start_ = out_.quantities.size();
    }

    void Emit(const SearchParamDef& param, const SearchPath& path, const json::value& leaf) {
        const std::string& code = param.code;
        switch (param.type.front()) {
            case 't':  // token
                EmitToken(code, path.leaf_kind, path.leaf_type, leaf);
                return;
            case 'u':  // uri
                if (leaf.is_string()) AddToken(code, {}, Sv(leaf.get_string()));
                return;
            case 's':  // string (special is filtered out by the caller)
                EmitString(code, path.leaf_type, leaf);
                return;
            case 'd':  // date
                EmitDate(code, path.leaf_type, leaf);
                return;
            case 'r':  // reference
                EmitReference(code, path, leaf);
                return;
            case 'q':  // quantity
                EmitQuantity(code, path.leaf_type, leaf);
                return;
            case 'n':  // number
                if (leaf.is_number()) AddQuantity(code, leaf.to_number<double>(), {}, {});
                return;
            default:
                return;
        }
    }

  private:
    void AddToken(const std::string& param, std::string_view system, std::string_view code) {
        if (code.empty()) return;
        for (size_t i = tokens_start_; i < out_.tokens.size(); ++i) {
            const auto& t = out_.tokens[i];
            if (t.code == code && t.system == system) return;
        }
        out_.tokens.push_back({param, std::string(system), std::string(code)});
    }

    void AddString(const std::string& param, std::string_view exact) {
        if (exact.empty()) return;
        for (size_t i = strings_start_; i < out_.strings.size(); ++i) {
            if (out_.strings[i].exact == exact) return;
        }
        out_.strings.push_back({param, NormalizeString(exact), std::string(exact)});
    }

    void AddDate(const std::string& param, int64_t low, int64_t high) {
        for (size_t i = dates_start_; i < out_.dates.size(); ++i) {
            if (out_.dates[i].low_us == low && out_.dates[i].high_us == high) return;
        }
        out_.dates.push_back({param, low, high});
    }

    void AddReference(const std::string& param, std::string_view type, std::string_view id) {
        if (id.empty()) return;
        for (size_t i = references_start_; i < out_.references.size(); ++i) {
            const auto& r = out_.references[i];
            if (r.target_id == id && r.target_type == type) return;
        }
        out_.references.push_back({param, std::string(type), std::string(id)});
    }

    void AddQuantity(const std::string& param, double value, std::string_view system,
                     std::string_view unit_code) {
        for (size_t i = quantities_start_; i < out_.quantities.size(); ++i) {
            const auto& q = out_.quantities[i];
            if (q.value == value && q.system == system && q.code == unit_code) return;
        }
        out_.quantities.push_back({param, value, std::string(system), std::string(unit_code)});
    }

    void EmitCoding(const std::string& param, const json::value& coding) {
        if (!coding.is_object()) return;
        const auto& obj = coding.get_object();
        AddToken(param, StringField(obj, "system"), StringField(obj, "code"));
    }

    void EmitToken(const std::string& param, Kind kind, const std::string& type,
                   const json::value& leaf) {
        if (kind == Kind::kBoolean) {
            if (leaf.is_bool()) AddToken(param, {}, leaf.get_bool() ? "true" : "false");
            return;
        }
        if (kind != Kind::kComplex) {
            if (leaf.is_string()) AddToken(param, {}, Sv(leaf.get_string()));
            return;
        }
        if (!leaf.is_object()) return;
        const auto& obj = leaf.get_object();
        if (type == "CodeableConcept") {
            if (const json::value* codings = Field(obj, "coding"); codings && codings->is_array()) {
                for (const auto& c : codings->get_array()) EmitCoding(param, c);
            }
        } else if (type == "Coding") {
            EmitCoding(param, leaf);
        } else if (type == "Identifier") {
            AddToken(param, StringField(obj, "system"), StringField(obj, "value"));
        } else if (type == "ContactPoint") {
            AddToken(param, StringField(obj, "system"), StringField(obj, "value"));
        }
    }

    void EmitStringParts(const std::string& param, const json::object& obj,
                         std::initializer_list<std::string_view> keys) {
        for (std::string_view key : keys) {
            const json::value* v = Field(obj, key);
            if (v == nullptr) continue;
            if (v->is_string()) {
                AddString(param, Sv(v->get_string()));
            } else if (v->is_array()) {
                for (const auto& item : v->get_array()) {
                    if (item.is_string()) AddString(param, Sv(item.get_string()));
                }
            }
        }
    }

    void EmitString(const std::string& param, const std::string& type, const json::value& leaf) {
        if (leaf.is_string()) {
            AddString(param, Sv(leaf.get_string()));
            return;
        }
        if (!leaf.is_object()) return;
        const auto& obj = leaf.get_object();
        if (type == "HumanName") {
            EmitStringParts(param, obj, {"family", "given", "prefix", "suffix", "text"});
        } else if (type == "Address") {
            EmitStringParts(param, obj,
                            {"line", "city", "district", "state", "postalCode", "country", "text"});
        }
    }

    void EmitDateText(const std::string& param, const json::value& v) {
        if (!v.is_string()) return;
        int64_t low = 0;
        int64_t high = 0;
        if (ParseFhirDateRange(Sv(v.get_string()), low, high)) AddDate(param, low, high);
    }

    void EmitDate(const std::string& param, const std::string& type, const json::value& leaf) {
        if (leaf.is_string()) {
            EmitDateText(param, leaf);
            return;
        }
        if (!leaf.is_object()) return;
        const auto& obj = leaf.get_object();
        if (type == "Period") {
            int64_t low = kOpenLow;
            int64_t high = kOpenHigh;
            int64_t ignored = 0;
            bool any = false;
            if (std::string_view start = StringField(obj, "start"); !start.empty()) {
                if (!ParseFhirDateRange(start, low, ignored)) return;
                any = true;
            }
            if (std::string_view end = StringField(obj, "end"); !end.empty()) {
                if (!ParseFhirDateRange(end, ignored, high)) return;
                any = true;
            }
            if (any) AddDate(param, low, high);
        } else if (type == "Timing") {
            if (const json::value* events = Field(obj, "event"); events && events->is_array()) {
                for (const auto& e : events->get_array()) EmitDateText(param, e);
            }
        }
    }

    void EmitReference(const std::string& param, const SearchPath& path, const json::value& leaf) {
        if (leaf.is_string()) {  // canonical / uri
            if (path.target_filter.empty()) AddReference(param, {}, Sv(leaf.get_string()));
            return;
        }
        if (!leaf.is_object()) return;
        const std::string_view ref = StringField(leaf.get_object(), "reference");
        if (ref.empty()) return;
        const ParsedReference parsed = ParseReference(ref);
        if (!path.target_filter.empty() && parsed.type != path.target_filter) return;
        AddReference(param, parsed.type, parsed.id);
    }

    void EmitQuantity(const std::string& param, const std::string& type, const json::value& leaf) {
        if (!leaf.is_object()) return;
        const auto& obj = leaf.get_object();
        const json::value* value = Field(obj, "value");
        if (value == nullptr || !value->is_number()) return;
        const double number = value->to_number<double>();
        if (type == "Money") {
            AddQuantity(param, number, "urn:iso:std:iso:4217", StringField(obj, "currency"));
            return;
        }
        if (type == "Quantity" || type == "Age" || type == "Duration" || type == "Count" ||
            type == "Distance" || type == "SimpleQuantity" || type == "MoneyQuantity") {
            std::string_view unit = StringField(obj, "code");
            if (unit.empty()) unit = StringField(obj, "unit");
            AddQuantity(param, number, StringField(obj, "system"), unit);
        }
    }

    store::IndexValues& out_;
    size_t tokens_start_ = 0;
    size_t strings_start_ = 0;
    size_t dates_start_ = 0;
    size_t references_start_ = 0;
    size_t quantities_start_ = 0;
};

bool MatchesWhere(const SearchPath& path, const json::value& leaf) {
    if (path.where_child.empty()) return true;
    return leaf.is_object() && StringField(leaf.get_object(), path.where_child) == path.where_value;
}

std::string_view ResourceTypeOf(const json::object& resource) {
    return StringField(resource, "resourceType");
}

}  // namespace

store::IndexValues ExtractIndex(const json::object& resource) {
    store::IndexValues out;
    const Definitions& defs = Definitions::R4();
    const std::string_view type = ResourceTypeOf(resource);
    if (type.empty()) return out;
    Extractor extractor(out);
    std::vector<const json::value*> leaves;
    leaves.reserve(16);
    for (const SearchParamDef* param : defs.SearchParamsRef(type)) {
        if (param->paths.empty() || param->type == "special") continue;
        extractor.BeginParam();
        for (const SearchPath& path : param->paths) {
            leaves.clear();
            if (const json::value* first = resource.if_contains(path.steps.front())) {
                Collect(*first, path.steps, 1, leaves);
            }
            for (const json::value* leaf : leaves) {
                if (MatchesWhere(path, *leaf)) extractor.Emit(*param, path, *leaf);
            }
        }
    }
    return out;
}

std::string OwnerPatient(const json::object& resource) {
    const Definitions& defs = Definitions::R4();
    const std::string_view type = ResourceTypeOf(resource);
    if (type == "Patient") return std::string(StringField(resource, "id"));
    const std::vector<std::string>& params = defs.PatientCompartmentParams(type);
    if (params.empty()) return {};
    // `patient`, then `subject`, then the others in definition order.
    std::vector<std::string_view> order;
    order.reserve(params.size());
    for (std::string_view preferred : {"patient", "subject"}) {
        if (std::find(params.begin(), params.end(), preferred) != params.end())
            order.push_back(preferred);
    }
    for (const std::string& p : params) {
        if (p != "patient" && p != "subject") order.push_back(p);
    }
    std::vector<const json::value*> leaves;
    for (std::string_view code : order) {
        const SearchParamDef* param = defs.FindSearchParam(type, code);
        if (param == nullptr || param->type != "reference") continue;
        for (const SearchPath& path : param->paths) {
            leaves.clear();
            if (const json::value* first = resource.if_contains(path.steps.front())) {
                Collect(*first, path.steps, 1, leaves);
            }
            for (const json::value* leaf : leaves) {
                if (!leaf->is_object()) continue;
                const ParsedReference parsed =
                    ParseReference(StringField(leaf->get_object(), "reference"));
                if (parsed.type == "Patient") return std::string(parsed.id);
            }
        }
    }
    return {};
}

}  // namespace carnet::fhir
