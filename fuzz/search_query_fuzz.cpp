// libFuzzer target for the search path a client controls: a raw query string ->
// ParseQueryString -> ParseSearch (for a few resource types, strict and lenient) ->
// CompileSearch for both SQL dialects. Seeds in fuzz/corpus/search_query_fuzz/.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "api/fhir_service.hpp"
#include "api/search_params.hpp"
#include "store/sql.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto params = carnet::api::ParseQueryString(text);
    for (const char* type : {"Observation", "Patient", "Encounter"}) {
        for (bool lenient : {false, true}) {
            auto parsed = carnet::api::ParseSearch(type, params, lenient);
            if (!parsed.ok()) continue;
            (void)carnet::store::CompileSearch(parsed->query, carnet::store::Dialect::kSqlite);
            (void)carnet::store::CompileSearch(parsed->query, carnet::store::Dialect::kPostgres);
            (void)carnet::store::CompileCount(parsed->query, carnet::store::Dialect::kSqlite);
        }
    }
    return 0;
}
