#pragma once
/// Search index rows extracted from a resource at write time (fhir/indexer fills them, the
/// store writes them in the same transaction as the resource). They hold only what search
/// needs, in clear: codes, normalised strings, dates, references, quantities.
#include <cstdint>
#include <string>
#include <vector>

namespace carnet::store {

/// token and uri parameters: Coding/CodeableConcept/Identifier/code/boolean/uri/ContactPoint.
struct TokenValue {
    std::string param;
    std::string system;  // empty when none
    std::string code;    // the code / identifier value / "true" / uri
    bool operator==(const TokenValue&) const = default;
};

/// string parameters: HumanName parts, Address parts, strings.
struct StringValue {
    std::string param;
    std::string normalized;  // lower-cased, accents folded, for default (starts-with) and :contains
    std::string exact;       // as written, for :exact
    bool operator==(const StringValue&) const = default;
};

/// date parameters: date, dateTime, instant, Period, Timing — the period they denote.
struct DateValue {
    std::string param;
    int64_t low_us = 0;   // inclusive, microseconds since epoch (UTC)
    int64_t high_us = 0;  // inclusive
    bool operator==(const DateValue&) const = default;
};

/// reference parameters: local "Type/id" references (absolute/contained references are
/// kept as url in target_id with empty target_type).
struct ReferenceValue {
    std::string param;
    std::string target_type;
    std::string target_id;
    bool operator==(const ReferenceValue&) const = default;
};

/// quantity and number parameters (number: system and code empty).
struct QuantityValue {
    std::string param;
    double value = 0;
    std::string system;
    std::string code;  // unit code
    bool operator==(const QuantityValue&) const = default;
};

struct IndexValues {
    std::vector<TokenValue> tokens;
    std::vector<StringValue> strings;
    std::vector<DateValue> dates;
    std::vector<ReferenceValue> references;
    std::vector<QuantityValue> quantities;
};

}  // namespace carnet::store
