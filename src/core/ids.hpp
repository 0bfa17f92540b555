#pragma once
/// Identifiers: random UUIDs for new resources, and FHIR id syntax checks.
#include <string>
#include <string_view>

namespace carnet {

/// RFC 4122 version 4 UUID from the system CSPRNG (libsodium), lower-case.
std::string NewUuid();

/// FHIR id: [A-Za-z0-9\-\.]{1,64}.
bool IsValidFhirId(std::string_view id);

/// FHIR resource type name syntax (not whether it exists): [A-Z][A-Za-z]{0,63}.
bool LooksLikeResourceType(std::string_view name);

}  // namespace carnet
