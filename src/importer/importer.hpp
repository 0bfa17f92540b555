#pragma once
/// `carnet import`: loads FHIR Bundles (transaction, batch or collection; one file, many
/// files or folders) through the same FhirService the REST API uses. Idempotent: resources
/// keep the ids their bundle gives them and identical content makes no new version.
#include <filesystem>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "api/fhir_service.hpp"

namespace carnet::importer {

struct ImportOptions {
    int threads = 2;
    /// Draw a progress bar (resources/s) on this stream; nullptr: none.
    std::ostream* progress = nullptr;
    std::string base_url = "http://localhost/fhir";
    /// Load on behalf of a feed (`--feed insurer`): only its resource types, authored by it,
    /// read-only for everyone, each version with a Provenance (docs/PROFILE.md).
    std::optional<api::FeedSource> feed;
};

struct FileError {
    std::string file;
    std::string reason;
};

struct ImportSummary {
    int files = 0;
    int files_failed = 0;
    int64_t resources = 0;  // entries processed in files that loaded
    int64_t created = 0;
    int64_t updated = 0;
    int64_t unchanged = 0;
    int64_t entries_failed = 0;
    double seconds = 0;
    std::vector<FileError> errors;
};

/// Imports every *.json under `paths` (folders are walked, files sorted). A broken file is
/// reported and skipped; a patient bundle whose conditional references name resources
/// another file provides is retried after the others, so files load in any order.
ImportSummary ImportPaths(api::FhirService& service,
                          const std::vector<std::filesystem::path>& paths,
                          const ImportOptions& options);

/// A human summary (files, resources, rate, errors with file names and reasons).
std::string FormatSummary(const ImportSummary& summary);

}  // namespace carnet::importer
