#include <gtest/gtest.h>

#include <chrono>
#include <iostream>
#include <map>

#include "fhir/definitions.hpp"
#include "fhir/index.hpp"
#include "fhir/json.hpp"
#include "fhir/synthea.hpp"
#include "fhir/validate.hpp"

namespace carnet::fhir {
namespace {

using testing::ReadFile;
using testing::SyntheaDir;
using testing::SyntheaFiles;

// The real check of the validator: every resource Synthea produces is valid R4.
TEST(SyntheaTest, EveryResourceValidates) {
    const auto files = SyntheaFiles();
    ASSERT_FALSE(files.empty()) << "no Synthea bundles in " << SyntheaDir()
                                << " (expected /work/shared/data/synthea-r4/*.json; set "
                                   "CARNET_SOURCE_DIR to the repository root)";
    size_t resources = 0;
    size_t failures = 0;
    std::map<std::string, size_t> issue_kinds;  // "type code expression-shape" -> count
    for (const auto& path : files) {
        auto parsed = ParseJson(ReadFile(path));
        ASSERT_TRUE(parsed.ok()) << path;
        // The bundle itself (transaction with request entries) is valid too.
        if (auto st = Validate(parsed->as_object()); !st.ok()) {
            ++failures;
            for (const auto& issue : st.error().issues) {
                ++issue_kinds["Bundle " + issue.code + " " + issue.expression.substr(0, 60)];
            }
        }
        for (const auto& entry : parsed->as_object().at("entry").as_array()) {
            const auto& resource = entry.as_object().at("resource").as_object();
            ++resources;
            auto st = Validate(resource);
            if (st.ok()) continue;
            ++failures;
            for (const auto& issue : st.error().issues) {
                ++issue_kinds[issue.code + " " + issue.expression + ": " + issue.diagnostics];
            }
        }
    }
    for (const auto& [kind, count] : issue_kinds) {
        ADD_FAILURE() << count << "x " << kind;
        if (issue_kinds.size() > 50) break;
    }
    EXPECT_EQ(failures, 0u);
    EXPECT_GT(resources, 17000u);
    std::cout << "[ synthea  ] " << files.size() << " bundles, " << resources
              << " resources validated\n";
}

// Throughput of validation + index extraction + owner lookup (not an assertion: the machine
// is shared and this may run under sanitizers). Build type decides the number.
TEST(SyntheaTest, ValidateAndIndexThroughput) {
    const auto files = SyntheaFiles();
    ASSERT_FALSE(files.empty()) << "no Synthea bundles in " << SyntheaDir();
    std::vector<boost::json::value> bundles;
    for (const auto& path : files) {
        auto parsed = ParseJson(ReadFile(path));
        ASSERT_TRUE(parsed.ok());
        auto& bundle = parsed->as_object();
        testing::ResolveBundleReferences(bundle);
        bundles.push_back(std::move(parsed).value());
    }
    (void)Definitions::R4();
    size_t resources = 0;
    size_t values = 0;
    size_t owned = 0;
    const auto start = std::chrono::steady_clock::now();
    for (const auto& bundle : bundles) {
        for (const auto& entry : bundle.as_object().at("entry").as_array()) {
            const auto& resource = entry.as_object().at("resource").as_object();
            ++resources;
            EXPECT_TRUE(Validate(resource).ok());
            const auto index = ExtractIndex(resource);
            values += index.tokens.size() + index.strings.size() + index.dates.size() +
                      index.references.size() + index.quantities.size();
            if (!OwnerPatient(resource).empty()) ++owned;
        }
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    // The same work split by step, to see where the time goes.
    auto time_step = [&](auto&& step) {
        const auto step_start = std::chrono::steady_clock::now();
        for (const auto& bundle : bundles) {
            for (const auto& entry : bundle.as_object().at("entry").as_array()) {
                step(entry.as_object().at("resource").as_object());
            }
        }
        return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() -
                                                         step_start)
            .count();
    };
    const double validate_ms =
        time_step([](const boost::json::object& r) { EXPECT_TRUE(Validate(r).ok()); });
    const double index_ms = time_step(
        [](const boost::json::object& r) { EXPECT_FALSE(ExtractIndex(r).tokens.empty()); });
    const double owner_ms = time_step([](const boost::json::object& r) { (void)OwnerPatient(r); });
    std::cout << "[ perf     ] split: validate " << static_cast<int>(validate_ms) << " ms, index "
              << static_cast<int>(index_ms) << " ms, owner " << static_cast<int>(owner_ms)
              << " ms\n";
    std::cout << "[ perf     ] validate+index+owner: " << resources << " resources in "
              << static_cast<int>(seconds * 1000)
              << " ms = " << static_cast<int>(resources / seconds) << " resources/s, " << values
              << " index values, " << owned << " with an owner patient\n";
    EXPECT_GT(values, resources);
}

TEST(SyntheaTest, DefinitionsParseTime) {
    const std::string_view table = Definitions::EmbeddedTableForTest();
    const auto start = std::chrono::steady_clock::now();
    auto defs = Definitions::Parse(table);
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    ASSERT_TRUE(defs.ok());
    EXPECT_LT(table.size(), 3u * 1024 * 1024) << "keep the embedded table small";
    std::cout << "[ perf     ] definition table: " << table.size() << " bytes, parsed in " << ms
              << " ms\n";
}

}  // namespace
}  // namespace carnet::fhir
