#include "core/ids.hpp"

#include <sodium.h>

#include <cctype>

namespace carnet {

std::string NewUuid() {
    unsigned char b[16];
    randombytes_buf(b, sizeof b);
    b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);  // version 4
    b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
    static const char* kHex = "0123456789abcdef";
    std::string out;
    out.reserve(36);
    for (int i = 0; i < 16; ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
        out.push_back(kHex[b[i] >> 4]);
        out.push_back(kHex[b[i] & 0x0f]);
    }
    return out;
}

bool IsValidFhirId(std::string_view id) {
    if (id.empty() || id.size() > 64) return false;
    for (char c : id) {
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.') return false;
    }
    return true;
}

bool LooksLikeResourceType(std::string_view name) {
    if (name.empty() || name.size() > 64 || !std::isupper(static_cast<unsigned char>(name[0])))
        return false;
    for (char c : name) {
        if (!std::isalpha(static_cast<unsigned char>(c))) return false;
    }
    return true;
}

}  // namespace carnet
