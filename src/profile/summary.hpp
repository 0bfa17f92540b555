#pragma once
/// The International Patient Summary (IPS) document Bundle built from a record's profile
/// entries (docs/PROFILE.md, "$summary"). Pure: the caller reads the entries through the
/// access decision and passes only those the reader may see.
#include <boost/json/object.hpp>
#include <cstdint>
#include <string>
#include <vector>

namespace carnet::profile {

struct SummaryInput {
    const boost::json::object* patient = nullptr;     // the Patient resource
    std::vector<const boost::json::object*> entries;  // Type/id in each, as stored
    std::string base_url;                             // ".../fhir": fullUrl = base_url + "/Type/id"
    std::string bundle_id;                            // a fresh id
    int64_t now_us = 0;                               // Bundle.timestamp, Composition.date
    std::string author_display = "Carnet";
};

/// A Bundle of type "document": the Composition (LOINC 60591-5) first, then the Patient,
/// then the entries its sections reference. Each section has a generated XHTML narrative
/// (every text escaped) and, when empty, an emptyReason.
boost::json::object BuildSummary(const SummaryInput& input);

}  // namespace carnet::profile
