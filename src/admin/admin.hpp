#pragma once
/// Operator tasks run from the command line (`carnet admin …`) and the demo accounts of
/// `carnet serve --demo`: loading the insurer's patient registry and the professional
/// directory from CSV or FHIR, idempotently.
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "api/fhir_service.hpp"
#include "auth/service.hpp"
#include "core/result.hpp"
#include "store/store.hpp"

namespace carnet::admin {

struct DemoAccount {
    std::string role;   // "Patiente", "Parent", "Médecin"…
    std::string login;  // what to type in the portal
    std::string password;
    std::string note;
};

/// The demo password of every demo account (README lists it).
inline constexpr const char* kDemoPassword = "Carnet-demo-2026";

/// Creates (once) the demo accounts over the demo records already in the store: two adult
/// patients, a minor whose parent is the second one, professionals of several professions,
/// an advisor and an admin, all active with kDemoPassword and a verified e-mail under
/// carnet.localhost; plus one patient still to activate, whose activation letter lands in
/// the outbox. The minor's record is created here when the demo data has no child.
/// Returns the list to print.
Result<std::vector<DemoAccount>> EnsureDemoAccounts(auth::AuthService& auth, store::Store& store,
                                                    api::FhirService& fhir);

struct ImportSummary {
    int created = 0;
    int existed = 0;
    int failed = 0;
    std::vector<std::string> errors;  // "line 4: INS invalide" (no health content)
    /// (identifier, activation code) of the accounts created: for the letters.
    std::vector<std::pair<std::string, std::string>> codes;
};

/// Patients from a CSV file (header: ins,given,family,birth_date,email,phone) or FHIR JSON
/// (a Patient, or a Bundle of Patients, with the INS as an identifier of system
/// urn:oid:1.2.250.1.213.1.4.8). Creates the account and its Patient record.
Result<ImportSummary> ImportPatients(auth::AuthService& auth, api::FhirService& fhir,
                                     const std::filesystem::path& file);

/// Professionals from CSV (header: rpps,given,family,profession,specialty,organisation,
/// email,phone) or FHIR JSON (Practitioner with the RPPS identifier, system
/// urn:oid:1.2.250.1.71.4.2.1, and PractitionerRole for profession, specialty and
/// organisation). Professions: Carnet's codes, French labels or the national codes (10
/// médecin, 21 pharmacien, 40 chirurgien-dentiste, 50 sage-femme, 60 infirmier, 70
/// masseur-kinésithérapeute, 80 pédicure-podologue, 91 orthophoniste, 92 orthoptiste).
Result<ImportSummary> ImportProfessionals(auth::AuthService& auth,
                                          const std::filesystem::path& file);

/// Parses RFC 4180 CSV (quotes, doubled quotes, CRLF) into rows of fields.
std::vector<std::vector<std::string>> ParseCsv(std::string_view text);

/// Carnet's profession code for a code, label or national code; empty if unknown.
std::string ProfessionCode(std::string_view text);

}  // namespace carnet::admin
