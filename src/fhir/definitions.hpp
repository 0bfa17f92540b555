#pragma once
/// FHIR R4 (4.0.1) definitions: resource and datatype elements, required bindings, search
/// parameters and the patient compartment. The table is generated at build time from the
/// official definition bundles (tools/fhirgen) and embedded in the library; nothing here is
/// hand-typed.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace carnet::fhir {

/// How a datatype is written in JSON and checked; one value per primitive type, plus
/// complex datatypes (objects) and resources (objects with resourceType).
enum class Kind : uint8_t {
    kBoolean,
    kInteger,
    kPositiveInt,
    kUnsignedInt,
    kDecimal,
    kString,
    kMarkdown,
    kCode,
    kId,
    kUri,
    kUrl,
    kCanonical,
    kOid,
    kUuid,
    kDate,
    kDateTime,
    kInstant,
    kTime,
    kBase64Binary,
    kXhtml,
    kComplex,
    kResource,
};

/// The Kind for a type name: primitives by name, "Resource" as kResource, anything else
/// kComplex.
Kind KindOfType(std::string_view type_name);

struct TypeDef;

/// One element of a resource, datatype or backbone element. Choice elements (value[x]) are
/// expanded: valueQuantity and valueString are two ElementDefs sharing `choice` = "value".
struct ElementDef {
    std::string name;                // JSON property name
    std::vector<std::string> types;  // exactly one type name after choice expansion
    int min = 0;
    int max = 1;                              // -1 = *
    std::vector<std::string> required_codes;  // sorted; empty when no enumerable required binding
    std::string choice;                       // choice group ("value"), empty otherwise
    Kind kind = Kind::kComplex;
    const TypeDef* type_def = nullptr;  // element list of the type, when kind is kComplex

    [[nodiscard]] bool Repeats() const { return max != 1; }
    [[nodiscard]] bool IsPrimitive() const {
        return kind != Kind::kComplex && kind != Kind::kResource;
    }
    /// True when the element has no enumerable required binding or `code` is in it.
    [[nodiscard]] bool AllowsCode(std::string_view code) const;
};

/// A choice group (value[x]) of a type: at most one variant may be present.
struct ChoiceGroupDef {
    std::string name;
    int min = 0;
    std::vector<const ElementDef*> variants;
};

/// The elements of a resource, complex datatype or backbone element ("Observation.component").
struct TypeDef {
    std::string name;
    std::vector<ElementDef> elements;         // sorted by name
    std::vector<const ElementDef*> required;  // non-choice elements with min >= 1
    std::vector<ChoiceGroupDef> choice_groups;
    bool is_resource = false;

    /// The element with this JSON name, or nullptr.
    [[nodiscard]] const ElementDef* Find(std::string_view element_name) const;
    /// The choice group this element belongs to, or nullptr.
    [[nodiscard]] const ChoiceGroupDef* FindChoiceGroup(std::string_view group) const;
};

/// One element path a search parameter reads, compiled from its FHIRPath expression.
struct SearchPath {
    std::vector<std::string> steps;  // JSON property names from the resource root
    std::string leaf_type;           // FHIR type of the last step
    Kind leaf_kind = Kind::kComplex;
    std::string target_filter;  // .where(resolve() is X): only references to type X
    std::string where_child;    // .where(child='value') on the last step
    std::string where_value;
};

struct SearchParamDef {
    std::string code;
    /// number date string token reference composite quantity uri special
    std::string type;
    std::vector<SearchPath> paths;  // empty for composite parameters
    std::vector<std::string> targets;
    std::vector<std::string> components;  // composite: the codes of the component parameters
};

class Definitions {
  public:
    /// The embedded R4 table, parsed once (thread-safe). Throws std::logic_error if the
    /// embedded table is broken (a build defect, not an input error).
    static const Definitions& R4();
    /// Parses a table in the tools/fhirgen format. Returns Error::Invalid on a malformed one.
    static Result<std::shared_ptr<const Definitions>> Parse(std::string_view table_json);
    /// The embedded table text (tests time its parse and inspect its size).
    static std::string_view EmbeddedTableForTest();

    Definitions(const Definitions&) = delete;
    Definitions& operator=(const Definitions&) = delete;
    ~Definitions();

    [[nodiscard]] std::string_view FhirVersion() const;
    /// Concrete (non-abstract) resource types, sorted.
    [[nodiscard]] bool IsResourceType(std::string_view name) const;
    [[nodiscard]] const std::vector<std::string>& ResourceTypes() const;
    [[nodiscard]] bool IsPrimitiveType(std::string_view name) const;
    [[nodiscard]] const std::vector<std::string>& PrimitiveTypes() const;
    /// Elements of a resource, complex datatype or backbone element; nullptr if unknown.
    [[nodiscard]] const TypeDef* FindType(std::string_view name) const;

    /// The search parameter `code` of the type, or of every resource (_id, _lastUpdated,
    /// _tag, _profile, _security, _source); nullptr when neither defines it.
    [[nodiscard]] const SearchParamDef* FindSearchParam(std::string_view resource_type,
                                                        std::string_view code) const;
    /// All search parameters of the type, its own then the common ones. Empty if unknown.
    [[nodiscard]] std::vector<const SearchParamDef*> SearchParams(
        std::string_view resource_type) const;
    /// Same list without a copy, for hot paths (indexing).
    [[nodiscard]] const std::vector<const SearchParamDef*>& SearchParamsRef(
        std::string_view resource_type) const;
    /// Patient compartment parameters of the type, in definition order; empty when the type
    /// is not in the compartment.
    [[nodiscard]] const std::vector<std::string>& PatientCompartmentParams(
        std::string_view resource_type) const;

    struct Impl;

  private:
    explicit Definitions(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace carnet::fhir
