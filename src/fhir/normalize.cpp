#include <cstdint>
#include <string>
#include <string_view>

#include "fhir/index.hpp"

namespace carnet::fhir {

namespace {

// Base letters for U+00C0..U+00FF. '*' marks letters folded to two characters (Æ Þ ß æ þ),
// '#' marks characters kept as they are (× ÷).
constexpr std::string_view kLatin1 =
    "aaaaaa*ceeeeiiiidnooooo#ouuuuy**aaaaaa*ceeeeiiiidnooooo#ouuuuy*y";
// Base letters for U+0100..U+017F; '*' marks Ĳ ĳ Œ œ.
constexpr std::string_view kLatinExtendedA =
    "aaaaaaccccccccddddeeeeeeeeeegggggggghhhhiiiiiiiiii**jjkkkllllllllllnnnnnnnnnoooooo**rrrrrrss"
    "sssssstttttt"
    "uuuuuuuuuuuuwwyyyzzzzzzs";
static_assert(kLatin1.size() == 64, "U+00C0..U+00FF");
static_assert(kLatinExtendedA.size() == 128, "U+0100..U+017F");

std::string_view MultiLetterFold(uint32_t cp) {
    switch (cp) {
        case 0xC6:
        case 0xE6:
            return "ae";
        case 0xDE:
        case 0xFE:
            return "th";
        case 0xDF:
            return "ss";
        case 0x132:
        case 0x133:
            return "ij";
        case 0x152:
        case 0x153:
            return "oe";
        default:
            return "";
    }
}

bool IsTrimmable(uint32_t cp) {
    return cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == '\f' || cp == '\v' ||
           cp == 0xA0;
}

// Decodes one UTF-8 sequence at `pos`; returns its length, or 0 when invalid.
size_t DecodeUtf8(std::string_view s, size_t pos, uint32_t& cp) {
    const auto b0 = static_cast<unsigned char>(s[pos]);
    if (b0 < 0x80) {
        cp = b0;
        return 1;
    }
    size_t len = 0;
    if ((b0 & 0xE0) == 0xC0) {
        len = 2;
        cp = b0 & 0x1F;
    } else if ((b0 & 0xF0) == 0xE0) {
        len = 3;
        cp = b0 & 0x0F;
    } else if ((b0 & 0xF8) == 0xF0) {
        len = 4;
        cp = b0 & 0x07;
    } else {
        return 0;
    }
    if (pos + len > s.size()) return 0;
    for (size_t i = 1; i < len; ++i) {
        const auto b = static_cast<unsigned char>(s[pos + i]);
        if ((b & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (b & 0x3F);
    }
    // Overlong forms are not valid UTF-8.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000)) return 0;
    return len;
}

}  // namespace

std::string NormalizeString(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    size_t content_end = 0;  // out.size() after the last non-space character
    size_t pos = 0;
    while (pos < text.size()) {
        uint32_t cp = 0;
        size_t len = DecodeUtf8(text, pos, cp);
        if (len == 0) {
            out += text[pos];  // invalid byte: kept, not interpreted
            content_end = out.size();
            ++pos;
            continue;
        }
        const std::string_view raw = text.substr(pos, len);
        pos += len;
        if (IsTrimmable(cp)) {
            if (!out.empty()) out += cp == 0xA0 ? std::string_view(" ") : raw;
            continue;
        }
        if (cp >= 0x300 && cp <= 0x36F) continue;  // combining marks (decomposed accents)
        if (cp < 0x80) {
            out += (cp >= 'A' && cp <= 'Z') ? static_cast<char>(cp + ('a' - 'A'))
                                            : static_cast<char>(cp);
        } else if (cp >= 0xC0 && cp <= 0x17F) {
            const char base = cp <= 0xFF ? kLatin1[cp - 0xC0] : kLatinExtendedA[cp - 0x100];
            if (base == '*') {
                out += MultiLetterFold(cp);
            } else if (base == '#') {
                out += raw;
            } else {
                out += base;
            }
        } else {
            out += raw;
        }
        content_end = out.size();
    }
    out.resize(content_end);
    return out;
}

}  // namespace carnet::fhir
