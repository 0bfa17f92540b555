#pragma once
#include <cstddef>
#include <string_view>

namespace carnet {

/// The number of code points of valid UTF-8 text (what a person counts as characters, for
/// length limits; the JSON parser has already refused invalid UTF-8).
inline size_t CodePoints(std::string_view s) {
    size_t n = 0;
    for (unsigned char c : s) {
        if ((c & 0xC0) != 0x80) ++n;
    }
    return n;
}

}  // namespace carnet
