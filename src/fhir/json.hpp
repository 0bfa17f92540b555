#pragma once
/// JSON parsing at the module edge: Boost.JSON wrapped so that bad input is a value, never an
/// exception.
#include <boost/json/value.hpp>
#include <string_view>

#include "core/result.hpp"

namespace carnet::fhir {

/// Default nesting limit for request bodies (FHIR resources nest ~15 levels in practice).
inline constexpr int kDefaultMaxJsonDepth = 64;

/// Parses `text` as one JSON value (RFC 8259: no comments, no trailing commas, valid UTF-8).
/// Returns Error::Invalid when the text is malformed, has trailing content, or nests deeper
/// than `max_depth` arrays/objects. The diagnostics never quote the input.
[[nodiscard]] Result<boost::json::value> ParseJson(std::string_view text,
                                                   int max_depth = kDefaultMaxJsonDepth);

}  // namespace carnet::fhir
