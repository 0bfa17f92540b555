#pragma once
/// Search index extraction (what store/ writes next to a resource) and patient ownership.
#include <boost/json/object.hpp>
#include <string>
#include <string_view>

#include "store/index_values.hpp"

namespace carnet::fhir {

/// Extracts search index values for every search parameter of the resource's type and the
/// common ones (_id, _lastUpdated, _tag, _profile, _security, _source), following the
/// compiled paths of fhir/definitions.hpp:
/// - token: Coding, CodeableConcept (each coding), Identifier (system|value), ContactPoint
///   (system|value), code/id/string/uri as code with empty system, boolean as "true"/"false";
/// - uri: the uri as code with empty system;
/// - string: string/markdown; HumanName (family, given, prefix, suffix, text: one value each);
///   Address (line, city, district, state, postalCode, country, text);
/// - date: date/dateTime/instant as the [low, high] period they denote; Period (start low, end
///   high, open ends = int64 min/max); Timing (each event);
/// - reference: "Type/id" (also "Type/id/_history/v" and absolute URLs ending in Type/id);
///   other references (urn:uuid:, #contained, canonical urls) kept whole in target_id with an
///   empty target_type;
/// - quantity: Quantity, SimpleQuantity, Age, Duration, Count, Distance (value, system, code),
///   Money (value, urn:iso:std:iso:4217, currency);
/// - number: decimal/integer as a QuantityValue with empty system and code.
/// Composite and special parameters are not indexed. Values are deduplicated. Values that do
/// not parse (a malformed date) are skipped: Validate() reports them.
/// Precondition: none; an unknown resourceType yields no values.
[[nodiscard]] store::IndexValues ExtractIndex(const boost::json::object& resource);

/// The owning patient id: for Patient its own id; otherwise the first patient-compartment
/// parameter (`patient`, then `subject`, then the others in definition order) whose reference
/// points at Patient/X (relative, or absolute ending in Patient/X). Empty if none, including
/// for types outside the patient compartment and for unresolved urn:uuid references.
[[nodiscard]] std::string OwnerPatient(const boost::json::object& resource);

/// Search form of a string: trimmed (ASCII whitespace and no-break space), ASCII lower-cased,
/// accents folded for Latin-1 Supplement and Latin Extended-A (é->e, ç->c, ß->ss, æ->ae,
/// œ->oe, ł->l...) and combining diacritical marks (U+0300-U+036F) dropped. Other characters,
/// and bytes that are not valid UTF-8, are kept as they are.
[[nodiscard]] std::string NormalizeString(std::string_view text);

}  // namespace carnet::fhir
