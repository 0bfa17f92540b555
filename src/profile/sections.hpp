#pragma once
/// Which profile section an entry belongs to (docs/PROFILE.md, "What each section is").
#include <boost/json/object.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace carnet::profile {

/// Code systems of Carnet's own codes.
inline constexpr std::string_view kProfileSystem = "https://carnet.health/fhir/CodeSystem/profile";
inline constexpr std::string_view kVaccineSystem = "https://carnet.health/fhir/CodeSystem/vaccine";

/// Every section key, in the order the portal shows them: blood_group, organ_donation,
/// lifestyle, measurements, disability, conditions, family_history, allergies, treatments,
/// dispensations, vaccinations, stays, procedures, advance_directives, contacts.
const std::vector<std::string_view>& SectionKeys();

/// The FHIR types whose resources can be profile entries (what the route searches).
const std::vector<std::string>& ProfileTypes();

/// The section of a resource, by the first row of docs/PROFILE.md's table that matches; ""
/// when it is not a profile entry (a laboratory Observation, a DocumentReference…).
std::string_view SectionOf(const boost::json::object& resource);

/// The resource type and the recognising codes a new entry of `section` is written with
/// (for deciding `can_add`): the resource type, "" for an unknown section.
std::string_view TypeOfSection(std::string_view section);

/// The date an entry is about: onset, effective, occurrence, performed, period start,
/// dateTime, recorded… as written (FHIR date or dateTime); "" when it has none.
std::string ClinicalDate(const boost::json::object& resource);

/// Sections only the record's holder side writes: the person's own declarations (advance
/// directives, the trusted person and emergency contacts, the organ-donation wish).
bool HolderOnly(std::string_view section);

/// A Consent whose scope is advance directives (consentscope "adr" or category LOINC 42348-3).
bool IsAdvanceDirective(const boost::json::object& resource);

}  // namespace carnet::profile
