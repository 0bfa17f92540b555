#pragma once
/// The medical profile (docs/PROFILE.md) as the portal shows it, `GET /records/{patient}/profile`,
/// and as an International Patient Summary, `GET /fhir/Patient/{id}/$summary`. Both read the
/// record's profile entries on one snapshot and decide each one like a search result (logged,
/// re-validated at commit); what the caller may not read is left out, and only said to exist
/// in general ("withheld"). The sections, the BMI, the booklet and the IPS are computed by the
/// pure carnet_profile module from what was allowed.
#include <boost/json/object.hpp>
#include <string>

#include "api/fhir_service.hpp"

namespace carnet::api {

/// kNotFound for an unknown record, a record the caller may not open, an invalid id.
Result<boost::json::object> ProfileView(FhirService& service, const std::string& patient_id,
                                        const Caller& caller);

/// The IPS document Bundle as JSON text (same refusals).
Result<std::string> PatientSummary(FhirService& service, const std::string& patient_id,
                                   const Caller& caller, const std::string& base_url);

}  // namespace carnet::api
