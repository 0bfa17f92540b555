#include "fhir/definitions.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <functional>
#include <stdexcept>
#include <unordered_map>

// The generated table, embedded by fhir_r4_embed.S (see src/fhir/CMakeLists.txt).
extern "C" const char carnet_fhir_r4_json_begin[];
extern "C" const char carnet_fhir_r4_json_end[];

namespace carnet::fhir {

namespace json = boost::json;

namespace {

struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const noexcept {
        return std::hash<std::string_view>{}(s);
    }
};

template <typename V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

struct PrimitiveKind {
    std::string_view name;
    Kind kind;
};

constexpr PrimitiveKind kPrimitiveKinds[] = {
    {"base64Binary", Kind::kBase64Binary},
    {"boolean", Kind::kBoolean},
    {"canonical", Kind::kCanonical},
    {"code", Kind::kCode},
    {"date", Kind::kDate},
    {"dateTime", Kind::kDateTime},
    {"decimal", Kind::kDecimal},
    {"id", Kind::kId},
    {"instant", Kind::kInstant},
    {"integer", Kind::kInteger},
    {"markdown", Kind::kMarkdown},
    {"oid", Kind::kOid},
    {"positiveInt", Kind::kPositiveInt},
    {"string", Kind::kString},
    {"time", Kind::kTime},
    {"unsignedInt", Kind::kUnsignedInt},
    {"uri", Kind::kUri},
    {"url", Kind::kUrl},
    {"uuid", Kind::kUuid},
    {"xhtml", Kind::kXhtml},
};

const std::vector<std::string> kEmptyStrings;
const std::vector<const SearchParamDef*> kEmptyParams;

}  // namespace

Kind KindOfType(std::string_view type_name) {
    for (const auto& p : kPrimitiveKinds) {
        if (p.name == type_name) return p.kind;
    }
    if (type_name == "Resource") return Kind::kResource;
    return Kind::kComplex;
}

bool ElementDef::AllowsCode(std::string_view code) const {
    if (required_codes.empty()) return true;
    return std::binary_search(
        required_codes.begin(), required_codes.end(), code,
        [](const auto& a, const auto& b) { return std::string_view(a) < std::string_view(b); });
}

const ElementDef* TypeDef::Find(std::string_view element_name) const {
    auto it = std::lower_bound(
        elements.begin(), elements.end(), element_name,
        [](const ElementDef& e, std::string_view n) { return std::string_view(e.name) < n; });
    if (it == elements.end() || it->name != element_name) return nullptr;
    return &*it;
}

const ChoiceGroupDef* TypeDef::FindChoiceGroup(std::string_view group) const {
    for (const auto& g : choice_groups) {
        if (g.name == group) return &g;
    }
    return nullptr;
}

struct ResourceSearch {
    std::vector<SearchParamDef> own;         // sorted by code
    std::vector<const SearchParamDef*> all;  // own, then common
    std::vector<std::string> compartment;
};

struct Definitions::Impl {
    std::string fhir_version;
    std::vector<std::string> resource_types;   // sorted
    std::vector<std::string> primitive_types;  // sorted
    StringMap<TypeDef> types;                  // node-based: TypeDef addresses are stable
    StringMap<ResourceSearch> search;          // per resource type; "Resource" = common
    const ResourceSearch* common = nullptr;
};

namespace {

// Accessors that throw std::invalid_argument on a malformed table; Parse turns that into
// Error::Invalid (the table is our own build output, a failure is a build defect).
const json::array& Arr(const json::value& v) {
    if (!v.is_array()) throw std::invalid_argument("expected array");
    return v.get_array();
}
const json::object& Obj(const json::value& v) {
    if (!v.is_object()) throw std::invalid_argument("expected object");
    return v.get_object();
}
std::string Str(const json::value& v) {
    if (!v.is_string()) throw std::invalid_argument("expected string");
    return std::string(v.get_string());
}
int Int(const json::value& v) {
    if (!v.is_int64()) throw std::invalid_argument("expected integer");
    return static_cast<int>(v.get_int64());
}
const json::value& Field(const json::object& o, std::string_view key) {
    const json::value* v = o.if_contains(key);
    if (v == nullptr) throw std::invalid_argument("missing field");
    return *v;
}
std::vector<std::string> Strings(const json::value& v) {
    std::vector<std::string> out;
    for (const auto& s : Arr(v)) out.push_back(Str(s));
    return out;
}

SearchParamDef ParseSearchParam(const json::array& row) {
    if (row.size() < 4) throw std::invalid_argument("short search row");
    SearchParamDef p;
    p.code = Str(row[0]);
    p.type = Str(row[1]);
    for (const auto& path_value : Arr(row[2])) {
        const auto& entry = Arr(path_value);
        if (entry.size() < 2) throw std::invalid_argument("short search path");
        SearchPath path;
        std::string dotted = Str(entry[0]);
        size_t start = 0;
        while (true) {
            size_t dot = dotted.find('.', start);
            path.steps.push_back(dotted.substr(start, dot - start));
            if (dot == std::string::npos) break;
            start = dot + 1;
        }
        path.leaf_type = Str(entry[1]);
        path.leaf_kind = KindOfType(path.leaf_type);
        if (entry.size() > 2) {
            std::string filter = Str(entry[2]);
            size_t eq = filter.find('=');
            if (eq == std::string::npos) {
                path.target_filter = std::move(filter);
            } else {
                path.where_child = filter.substr(0, eq);
                path.where_value = filter.substr(eq + 1);
            }
        }
        p.paths.push_back(std::move(path));
    }
    p.targets = Strings(row[3]);
    if (row.size() > 4) p.components = Strings(row[4]);
    return p;
}

std::unique_ptr<Definitions::Impl> BuildImpl(const json::object& root) {
    auto impl = std::make_unique<Definitions::Impl>();
    impl->fhir_version = Str(Field(root, "fhirVersion"));
    impl->resource_types = Strings(Field(root, "resources"));
    impl->primitive_types = Strings(Field(root, "primitives"));
    std::sort(impl->resource_types.begin(), impl->resource_types.end());
    std::sort(impl->primitive_types.begin(), impl->primitive_types.end());

    std::vector<std::vector<std::string>> code_lists;
    for (const auto& list : Arr(Field(root, "codes"))) {
        code_lists.push_back(Strings(list));
        std::sort(code_lists.back().begin(), code_lists.back().end());
    }

    for (const auto& [type_name, elements_value] : Obj(Field(root, "types"))) {
        TypeDef& type = impl->types[std::string(type_name)];
        type.name = std::string(type_name);
        for (const auto& row_value : Arr(elements_value)) {
            const auto& row = Arr(row_value);
            if (row.size() < 5) throw std::invalid_argument("short element row");
            ElementDef el;
            el.name = Str(row[0]);
            el.types.push_back(Str(row[1]));
            el.min = Int(row[2]);
            el.max = Int(row[3]);
            const int codes_idx = Int(row[4]);
            if (codes_idx >= 0) {
                if (static_cast<size_t>(codes_idx) >= code_lists.size())
                    throw std::invalid_argument("code list index");
                el.required_codes = code_lists[static_cast<size_t>(codes_idx)];
            }
            if (row.size() > 5) el.choice = Str(row[5]);
            el.kind = KindOfType(el.types.front());
            type.elements.push_back(std::move(el));
        }
        std::sort(type.elements.begin(), type.elements.end(),
                  [](const ElementDef& a, const ElementDef& b) { return a.name < b.name; });
    }

    // Second pass, once every TypeDef exists: link element types, required lists, choices.
    for (const auto& name : impl->resource_types) {
        auto it = impl->types.find(name);
        if (it == impl->types.end()) throw std::invalid_argument("resource without elements");
        it->second.is_resource = true;
    }
    for (auto& [type_name, type] : impl->types) {
        for (ElementDef& el : type.elements) {
            if (el.kind == Kind::kComplex) {
                auto target = impl->types.find(el.types.front());
                if (target == impl->types.end())
                    throw std::invalid_argument("element of unknown type");
                el.type_def = &target->second;
            }
            if (el.choice.empty()) {
                if (el.min > 0) type.required.push_back(&el);
                continue;
            }
            ChoiceGroupDef* group = nullptr;
            for (auto& g : type.choice_groups) {
                if (g.name == el.choice) group = &g;
            }
            if (group == nullptr) {
                type.choice_groups.push_back(ChoiceGroupDef{el.choice, el.min, {}});
                group = &type.choice_groups.back();
            }
            group->variants.push_back(&el);
        }
    }

    for (const auto& [type_name, params_value] : Obj(Field(root, "search"))) {
        ResourceSearch& rs = impl->search[std::string(type_name)];
        for (const auto& row : Arr(params_value)) rs.own.push_back(ParseSearchParam(Arr(row)));
        std::sort(rs.own.begin(), rs.own.end(),
                  [](const SearchParamDef& a, const SearchParamDef& b) { return a.code < b.code; });
    }
    for (const auto& [type_name, params_value] : Obj(Field(root, "compartment"))) {
        impl->search[std::string(type_name)].compartment = Strings(params_value);
    }
    // Every resource type gets an entry, so lookups of the "all" list never allocate.
    for (const auto& name : impl->resource_types) impl->search[name];
    auto common = impl->search.find(std::string_view("Resource"));
    if (common == impl->search.end()) throw std::invalid_argument("no common search params");
    impl->common = &common->second;
    for (auto& [type_name, rs] : impl->search) {
        for (const auto& p : rs.own) rs.all.push_back(&p);
        if (&rs == impl->common) continue;
        for (const auto& p : impl->common->own) rs.all.push_back(&p);
    }
    return impl;
}

}  // namespace

Definitions::Definitions(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Definitions::~Definitions() = default;

Result<std::shared_ptr<const Definitions>> Definitions::Parse(std::string_view table_json) {
    boost::system::error_code ec;
    json::value root = json::parse(json::string_view(table_json.data(), table_json.size()), ec);
    if (ec || !root.is_object()) return Error::Invalid("definition table is not a JSON object");
    try {
        return std::shared_ptr<const Definitions>(new Definitions(BuildImpl(root.get_object())));
    } catch (const std::invalid_argument& e) {
        Error err = Error::Invalid("definition table is malformed");
        err.detail = e.what();
        return err;
    }
}

namespace {
std::string_view EmbeddedTable() {
    return {carnet_fhir_r4_json_begin,
            static_cast<size_t>(carnet_fhir_r4_json_end - carnet_fhir_r4_json_begin)};
}
}  // namespace

std::string_view Definitions::EmbeddedTableForTest() { return EmbeddedTable(); }

const Definitions& Definitions::R4() {
    static const std::shared_ptr<const Definitions> kR4 = [] {
        auto parsed = Parse(EmbeddedTable());
        // The table is produced by our build; failing here is a build defect.
        if (!parsed.ok()) {
            throw std::logic_error("embedded FHIR R4 table: " + parsed.error().Summary() + ": " +
                                   parsed.error().detail);
        }
        return std::move(parsed).value();
    }();
    return *kR4;
}

std::string_view Definitions::FhirVersion() const { return impl_->fhir_version; }

bool Definitions::IsResourceType(std::string_view name) const {
    return std::binary_search(
        impl_->resource_types.begin(), impl_->resource_types.end(), name,
        [](const auto& a, const auto& b) { return std::string_view(a) < std::string_view(b); });
}

const std::vector<std::string>& Definitions::ResourceTypes() const { return impl_->resource_types; }

bool Definitions::IsPrimitiveType(std::string_view name) const {
    return std::binary_search(
        impl_->primitive_types.begin(), impl_->primitive_types.end(), name,
        [](const auto& a, const auto& b) { return std::string_view(a) < std::string_view(b); });
}

const std::vector<std::string>& Definitions::PrimitiveTypes() const {
    return impl_->primitive_types;
}

const TypeDef* Definitions::FindType(std::string_view name) const {
    auto it = impl_->types.find(name);
    return it == impl_->types.end() ? nullptr : &it->second;
}

namespace {
const SearchParamDef* FindIn(const std::vector<SearchParamDef>& params, std::string_view code) {
    auto it = std::lower_bound(
        params.begin(), params.end(), code,
        [](const SearchParamDef& p, std::string_view c) { return std::string_view(p.code) < c; });
    if (it == params.end() || it->code != code) return nullptr;
    return &*it;
}
}  // namespace

const SearchParamDef* Definitions::FindSearchParam(std::string_view resource_type,
                                                   std::string_view code) const {
    if (!IsResourceType(resource_type)) return nullptr;
    auto it = impl_->search.find(resource_type);
    if (it != impl_->search.end()) {
        if (const SearchParamDef* p = FindIn(it->second.own, code)) return p;
    }
    return FindIn(impl_->common->own, code);
}

std::vector<const SearchParamDef*> Definitions::SearchParams(std::string_view resource_type) const {
    return SearchParamsRef(resource_type);
}

const std::vector<const SearchParamDef*>& Definitions::SearchParamsRef(
    std::string_view resource_type) const {
    if (!IsResourceType(resource_type)) return kEmptyParams;
    auto it = impl_->search.find(resource_type);
    return it == impl_->search.end() ? kEmptyParams : it->second.all;
}

const std::vector<std::string>& Definitions::PatientCompartmentParams(
    std::string_view resource_type) const {
    if (!IsResourceType(resource_type)) return kEmptyStrings;
    auto it = impl_->search.find(resource_type);
    return it == impl_->search.end() ? kEmptyStrings : it->second.compartment;
}

}  // namespace carnet::fhir
