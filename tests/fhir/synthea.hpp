#pragma once
/// Test helpers: the Synthea R4 sample bundles (/work/shared/data/synthea-r4).
#include <boost/json.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

namespace carnet::fhir::testing {

/// The Synthea directory: $CARNET_SOURCE_DIR/../shared/data/synthea-r4, or relative to this
/// source file when the binary is run outside ctest.
inline std::filesystem::path SyntheaDir() {
    std::filesystem::path source;
    if (const char* env = std::getenv("CARNET_SOURCE_DIR"); env != nullptr && *env != '\0') {
        source = env;
    } else {
        source = std::filesystem::path(__FILE__).parent_path().parent_path().parent_path();
    }
    return source / ".." / "shared" / "data" / "synthea-r4";
}

/// Every *.json file of the Synthea directory, sorted; empty if the directory is missing.
inline std::vector<std::filesystem::path> SyntheaFiles() {
    std::vector<std::filesystem::path> files;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(SyntheaDir(), ec)) {
        if (entry.path().extension() == ".json") files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    return files;
}

inline std::string ReadFile(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

/// Rewrites urn:uuid: references to the "Type/id" of the entry with that fullUrl, as the
/// importer does for a transaction bundle.
inline void ResolveBundleReferences(boost::json::object& bundle) {
    std::unordered_map<std::string, std::string> targets;
    for (const auto& entry : bundle["entry"].as_array()) {
        const auto& e = entry.as_object();
        const auto& r = e.at("resource").as_object();
        targets[std::string(e.at("fullUrl").as_string())] =
            std::string(r.at("resourceType").as_string()) + "/" +
            std::string(r.at("id").as_string());
    }
    auto walk = [&](auto& self, boost::json::value& v) -> void {
        if (v.is_array()) {
            for (auto& item : v.as_array()) self(self, item);
        } else if (v.is_object()) {
            for (auto& [key, child] : v.as_object()) {
                if (key == "reference" && child.is_string()) {
                    auto it = targets.find(std::string(child.as_string()));
                    if (it != targets.end()) child = it->second;
                } else {
                    self(self, child);
                }
            }
        }
    };
    for (auto& entry : bundle["entry"].as_array()) walk(walk, entry.as_object()["resource"]);
}

/// The first resource of `type` in the bundle file whose name starts with `file_prefix`, with
/// references resolved; a null value when not found.
inline boost::json::value FirstResource(std::string_view file_prefix, std::string_view type,
                                        size_t skip = 0) {
    for (const auto& path : SyntheaFiles()) {
        if (path.filename().string().rfind(file_prefix, 0) != 0) continue;
        auto bundle = boost::json::parse(ReadFile(path)).as_object();
        ResolveBundleReferences(bundle);
        for (auto& entry : bundle["entry"].as_array()) {
            auto& resource = entry.as_object()["resource"];
            if (resource.as_object()["resourceType"].as_string() == type) {
                if (skip == 0) return resource;
                --skip;
            }
        }
    }
    return nullptr;
}

}  // namespace carnet::fhir::testing
