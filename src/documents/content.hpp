#pragma once
/// What a document's content may be, decided from its bytes (libmagic), never from what the
/// client declares alone: PDF, JPEG, PNG, TIFF, plain text, RTF, CDA R2 XML, FHIR JSON
/// (Document Bundles). Anything else — HTML, SVG, scripts, executables, archives — is
/// refused, and so is a declared type the bytes do not bear out.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace carnet::documents {

/// How many leading bytes Sniff needs (libmagic reads no further for these formats).
constexpr size_t kSniffBytes = 64 * 1024;

/// The media type libmagic finds in `head` (the first kSniffBytes or fewer), e.g.
/// "application/pdf", "text/plain"; "application/octet-stream" when it cannot tell.
std::string Sniff(std::string_view head);

/// The type to store and serve a content under, given the type the client declared
/// (parameters such as "; charset=" ignored, case-insensitive) and the first bytes:
/// Code::kUnsupportedMedia when the declared type is not one Carnet accepts, or when the
/// bytes are not of that type (the error names both, not the content). Aliases are
/// normalised (text/xml → application/xml, text/rtf → application/rtf, image/jpg →
/// image/jpeg).
Result<std::string> CheckContent(std::string_view declared, std::string_view head);

/// The stored name of a declared type Carnet accepts (aliases normalised), nullopt for the
/// others. Says nothing about the bytes: CheckContent does.
std::optional<std::string> CanonicalType(std::string_view declared);

/// A file name extension for a stored type ("pdf", "jpg"…), for Content-Disposition.
std::string ExtensionFor(std::string_view type);

/// Size limits per upload (configurable; defaults as the reference service for patients).
struct UploadLimits {
    int64_t patient_bytes = 5LL * 1024 * 1024;
    int64_t professional_bytes = 20LL * 1024 * 1024;
};

}  // namespace carnet::documents
