// libFuzzer target for the FHIR resource path: bytes -> ParseJson -> Validate ->
// ExtractIndex -> OwnerPatient, plus NormalizeString on the raw bytes. Seeds live in
// fuzz/corpus/fhir_resource_fuzz/.
// ctest replays the corpus (fuzz/CMakeLists.txt). To fuzz for real, build by hand with clang
// (after building carnet_fhir once, for the generated fhir_r4_embed.S), one command line:
//   clang++ -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -Isrc src/fhir/*.cpp
//     src/core/clock.cpp src/core/ids.cpp build/<dir>/src/fhir/fhir_r4_embed.S
//     fuzz/fhir_resource_fuzz.cpp -lboost_json -lsodium -o fhir_resource_fuzz
//   ./fhir_resource_fuzz -max_len=4096 fuzz/corpus/fhir_resource_fuzz
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fhir/index.hpp"
#include "fhir/json.hpp"
#include "fhir/validate.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    (void)carnet::fhir::NormalizeString(text);
    auto parsed = carnet::fhir::ParseJson(text, carnet::fhir::kDefaultMaxJsonDepth);
    if (!parsed.ok() || !parsed->is_object()) return 0;
    const auto& resource = parsed->get_object();
    (void)carnet::fhir::Validate(resource);
    (void)carnet::fhir::ExtractIndex(resource);
    (void)carnet::fhir::OwnerPatient(resource);
    return 0;
}
