#pragma once
/// Turns FHIR search URL parameters into a store::SearchQuery plus the result controls
/// (_include, _revinclude, _summary, _count), per FHIR R4 search
/// (http://hl7.org/fhir/R4/search.html). Pure: no I/O.
#include <string>
#include <utility>
#include <vector>

#include "core/result.hpp"
#include "store/store.hpp"

namespace carnet::api {

struct IncludeSpec {
    std::string source_type;  // resource type holding the reference
    std::string param;        // reference search parameter
    std::string target_type;  // optional restriction
};

struct ParsedSearch {
    store::SearchQuery query;
    std::vector<IncludeSpec> includes;
    std::vector<IncludeSpec> revincludes;
    bool summary_count = false;
    /// Parameters kept for the self/next links (unknown ones dropped under lenient handling).
    std::vector<std::pair<std::string, std::string>> echoed;
    /// Issues for parameters ignored under lenient handling (reported as warnings).
    std::vector<Issue> ignored;
};

struct SearchLimits {
    int default_count = 20;
    int max_count = 1000;
    size_t max_params = 64;
    size_t max_values_per_param = 100;
};

/// Parses the parameters of a search on `type`. Unknown or unsupported parameters are a
/// kInvalid error unless `lenient` (Prefer: handling=lenient), when they are dropped.
Result<ParsedSearch> ParseSearch(const std::string& type,
                                 const std::vector<std::pair<std::string, std::string>>& params,
                                 bool lenient, const SearchLimits& limits = {});

}  // namespace carnet::api
