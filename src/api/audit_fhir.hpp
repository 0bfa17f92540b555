#pragma once
/// The access log as FHIR AuditEvent resources (IHE Basic Audit Log Patterns shape):
/// GET /fhir/AuditEvent?patient=… for the holder and their representatives; professionals
/// get their own entries only. Reading the log is itself decided and logged.
#include <string>

#include "api/fhir_service.hpp"
#include "audit/audit.hpp"

namespace carnet::api {

/// One entry as an AuditEvent (JSON text).
std::string AuditEventJson(const audit::StoredEntry& e);

/// The searchset Bundle of AuditEvents for `params` (patient, _count, before, outcome).
Result<std::string> SearchAuditEvents(FhirService& service, const QueryParams& params,
                                      const std::string& base_url, const Caller& caller);

}  // namespace carnet::api
