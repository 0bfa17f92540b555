#pragma once
/// "Everything Carnet holds on me", as one zip the person downloads: the record as a FHIR
/// Bundle (every current resource of the patient's compartment, decrypted), the account
/// (identity, contacts, settings, delegations, history) and a short French read-me.
#include <string>

#include "api/fhir_service.hpp"
#include "auth/service.hpp"
#include "core/result.hpp"
#include "store/store.hpp"

namespace carnet::api {

struct ExportArchive {
    std::string file_name;  // carnet-export-YYYY-MM-DD.zip
    std::string bytes;      // application/zip
};

/// The archive of the signed-in account holder `who` (a patient acting for themself). With
/// `fhir`, the export is decided (access::Action::kExport) and each resource read through the
/// decision (documents not yet visible to the holder are left out), all logged in one
/// transaction.
Result<ExportArchive> BuildExport(store::Store& store, auth::AuthService& auth,
                                  const auth::Principal& who, int64_t now_us,
                                  FhirService* fhir = nullptr, const Caller* caller = nullptr);

}  // namespace carnet::api
