#pragma once
/// Structural validation of FHIR R4 JSON resources against the generated definitions.
#include <boost/json/object.hpp>
#include <string_view>

#include "core/result.hpp"

namespace carnet::fhir {

/// Upper bound on the issues reported for one resource; a final "too-costly" issue says the
/// list was cut.
inline constexpr size_t kMaxValidationIssues = 100;

/// Structural validation against the R4 definitions (http://hl7.org/fhir/R4/json.html):
/// known resourceType; no unknown elements; the JSON kind each datatype requires (object,
/// array for repeating elements, string/number/boolean for primitives); primitive formats
/// (id, date, dateTime, instant, time, uri, code, decimal, integer, positiveInt, unsignedInt,
/// boolean, base64Binary, oid, uuid, xhtml...); cardinality (min, max, at most one choice
/// variant); required bindings with an enumerable value set; contained and Bundle entry
/// resources recursively (contained resources may not nest further, dom-2); `_element`
/// primitive extensions; extension/modifierExtension structure (url required, value or
/// extensions). No empty objects, arrays or strings (ele-1).
///
/// Returns Ok, or Error{kInvalid} holding every issue found (up to kMaxValidationIssues).
/// Each issue has code "structure", "value", "required", "code-invalid" or "too-costly" and
/// `expression` = FHIRPath of the element, with JSON names for choice variants
/// ("Observation.valueQuantity.value", "Patient.name[0].given[1]"). Diagnostics name the rule,
/// never the offending value.
[[nodiscard]] Status Validate(const boost::json::object& resource);

}  // namespace carnet::fhir
