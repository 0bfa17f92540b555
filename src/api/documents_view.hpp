#pragma once
/// A record's documents as one reader may see them, `GET /records/{patient}/documents`
/// (docs/DOCUMENTS.md, "The lists"): the holder side and professionals alike. The record is
/// a named read; each DocumentReference is decided like a search result (counted in one log
/// entry, re-validated at commit). What the reader may not read is left out and only said
/// to exist in general ("withheld", professionals only: never which, never how many).
#include <boost/json/object.hpp>
#include <string>

#include "access/service.hpp"
#include "api/fhir_service.hpp"

namespace carnet::api {

/// {"documents": [DocumentJson…], "withheld": bool, "can_deposit": bool}, newest first.
/// kNotFound for an unknown record, a record the caller may not open, an invalid id.
Result<boost::json::object> DocumentsView(FhirService& service, const std::string& patient_id,
                                          const Caller& caller);

/// One document of a list, as the portal reads it (the holder's route and DocumentsView).
boost::json::object DocumentJson(const access::DocumentInfo& d);

}  // namespace carnet::api
