#include "auth/primitives.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>

namespace carnet::auth {

// ---- passwords -------------------------------------------------------------------------

Result<std::string> HashPassword(std::string_view password, const PasswordCost& cost) {
    std::array<char, crypto_pwhash_STRBYTES> out{};
    if (crypto_pwhash_str_alg(out.data(), password.data(), password.size(), cost.ops,
                              cost.mem_bytes, crypto_pwhash_ALG_ARGON2ID13) != 0) {
        return Error::Make(Code::kUnavailable, "transient", "cannot hash the password now");
    }
    return std::string(out.data());
}

bool VerifyPassword(std::string_view phc, std::string_view password) {
    if (phc.empty() || phc.size() >= crypto_pwhash_STRBYTES) return false;
    const std::string hash(phc);  // NUL-terminated for libsodium
    return crypto_pwhash_str_verify(hash.c_str(), password.data(), password.size()) == 0;
}

bool NeedsRehash(std::string_view phc, const PasswordCost& cost) {
    if (phc.empty() || phc.size() >= crypto_pwhash_STRBYTES) return true;
    const std::string hash(phc);
    return crypto_pwhash_str_needs_rehash(hash.c_str(), cost.ops, cost.mem_bytes) != 0;
}

namespace {

// The most common passwords of public breach corpora, French ones included (azerty,
// soleil, doudou…). Compared case-insensitively. Short entries are kept even though the
// length rule already refuses them: the list is also used to check a password's core.
constexpr std::string_view kCommon[] = {
    "123456",      "123456789",   "12345678",    "password",   "azerty",         "azertyuiop",
    "qwerty",      "qwertyuiop",  "1234567890",  "111111",     "123123",         "000000",
    "abc123",      "password1",   "iloveyou",    "motdepasse", "motdepasse1",    "soleil",
    "doudou",      "loulou",      "marseille",   "chouchou",   "nicolas",        "julien",
    "camille",     "celine",      "caramel",     "chocolat",   "bonjour",        "coucou",
    "jetaime",     "amour",       "princesse",   "football",   "olivier",        "thomas",
    "alexandre",   "anthony",     "vincent",     "sandrine",   "isabelle",       "nathalie",
    "stephanie",   "sebastien",   "liverpool",   "monkey",     "dragon",         "letmein",
    "sunshine",    "princess",    "welcome",     "admin",      "administrateur", "login",
    "master",      "passw0rd",    "p@ssw0rd",    "p@ssword",   "password123",    "password1234",
    "azerty123",   "azerty1234",  "azertyuiop1", "1234567891", "123456789a",     "1q2w3e4r",
    "1q2w3e4r5t",  "qwerty123",   "qwertyuiop1", "zaq12wsx",   "123qwe",         "1qaz2wsx",
    "aaaaaa",      "654321",      "666666",      "121212",     "112233",         "7777777",
    "987654321",   "159753",      "123321",      "11111111",   "00000000",       "12341234",
    "superman",    "batman",      "trustno1",    "starwars",   "whatever",       "freedom",
    "shadow",      "michael",     "jennifer",    "jordan",     "hunter",         "ranger",
    "buster",      "soccer",      "hockey",      "killer",     "charlie",        "andrew",
    "matrix",      "computer",    "internet",    "carnet",     "carnetsante",    "monespacesante",
    "espacesante", "sante123",    "medecin",     "docteur",    "hopital",        "france",
    "paris",       "toulouse",    "lyon",        "bordeaux",   "nantes",         "lille",
    "changeme",    "changeme123", "bienvenue",   "bienvenue1", "secret",
};

std::string Lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

}  // namespace

bool IsCommonPassword(std::string_view password) {
    const std::string lower = Lower(password);
    if (std::find(std::begin(kCommon), std::end(kCommon), lower) != std::end(kCommon)) return true;
    // "Azerty2024!", "motdepasse123": a common word padded with digits and punctuation.
    std::string core;
    for (char c : lower) {
        if (std::isalpha(static_cast<unsigned char>(c))) core += c;
    }
    const size_t core_letters = core.size();
    if (core_letters >= 4 && core_letters * 2 >= lower.size()) {
        if (std::find(std::begin(kCommon), std::end(kCommon), core) != std::end(kCommon)) {
            return true;
        }
    }
    // One repeated character, or a run of consecutive digits ("123456789012", wrapping
    // 9 -> 0) or letters ("abcdefghijkl"), ascending or descending.
    if (std::all_of(lower.begin(), lower.end(), [&](char c) { return c == lower.front(); })) {
        return true;
    }
    auto run = [&](int direction) {
        for (size_t i = 1; i < lower.size(); ++i) {
            const char a = lower[i - 1], b = lower[i];
            const bool digits = std::isdigit(static_cast<unsigned char>(a)) &&
                                std::isdigit(static_cast<unsigned char>(b));
            const bool letters = std::isalpha(static_cast<unsigned char>(a)) &&
                                 std::isalpha(static_cast<unsigned char>(b));
            if (digits) {
                if ((b - a + 10 * 2 - direction) % 10 != 0) return false;
            } else if (!letters || b - a != direction) {
                return false;
            }
        }
        return true;
    };
    return lower.size() > 1 && (run(1) || run(-1));
}

Status CheckPasswordPolicy(std::string_view password, std::string_view login) {
    if (password.size() < 12) {
        return Error::Invalid("Le mot de passe doit comporter au moins 12 caractères.");
    }
    if (password.size() > 128) {
        return Error::Invalid("Le mot de passe ne peut pas dépasser 128 caractères.");
    }
    if (IsCommonPassword(password)) {
        return Error::Invalid("Ce mot de passe est trop courant. Choisissez-en un autre.");
    }
    if (!login.empty() && login.size() >= 4 &&
        Lower(password).find(Lower(login)) != std::string::npos) {
        return Error::Invalid("Le mot de passe ne doit pas contenir votre identifiant.");
    }
    return Ok();
}

// ---- codes and tokens ------------------------------------------------------------------

std::string NewOneTimeCode() {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%06u", randombytes_uniform(1'000'000));
    return buf;
}

std::string NewToken(size_t bytes) {
    std::string raw(bytes, '\0');
    randombytes_buf(raw.data(), raw.size());
    std::string out(sodium_base64_encoded_len(bytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                    '\0');
    sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(raw.data()),
                      raw.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    out.resize(out.size() - 1);
    sodium_memzero(raw.data(), raw.size());
    return out;
}

std::string HashSecret(std::string_view secret, std::string_view server_key) {
    std::array<unsigned char, 32> out{};
    // BLAKE2b keys are 16..64 bytes; a shorter or longer server key is hashed to 32 first.
    std::array<unsigned char, 32> key{};
    crypto_generichash(key.data(), key.size(),
                       reinterpret_cast<const unsigned char*>(server_key.data()), server_key.size(),
                       nullptr, 0);
    crypto_generichash(out.data(), out.size(),
                       reinterpret_cast<const unsigned char*>(secret.data()), secret.size(),
                       key.data(), key.size());
    std::string hex(out.size() * 2 + 1, '\0');
    sodium_bin2hex(hex.data(), hex.size(), out.data(), out.size());
    hex.pop_back();
    return hex;
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

// ---- TOTP ------------------------------------------------------------------------------

namespace {
constexpr std::string_view kBase32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
}

std::string Base32Encode(std::string_view bytes) {
    std::string out;
    uint32_t buffer = 0;
    int bits = 0;
    for (unsigned char c : bytes) {
        buffer = (buffer << 8) | c;
        bits += 8;
        while (bits >= 5) {
            out += kBase32[(buffer >> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    if (bits > 0) out += kBase32[(buffer << (5 - bits)) & 31];
    return out;
}

std::optional<std::string> Base32Decode(std::string_view text) {
    std::string out;
    uint32_t buffer = 0;
    int bits = 0;
    for (char c : text) {
        if (c == '=' || c == ' ') continue;
        const char upper = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        const auto pos = kBase32.find(upper);
        if (pos == std::string_view::npos) return std::nullopt;
        buffer = (buffer << 5) | static_cast<uint32_t>(pos);
        bits += 5;
        if (bits >= 8) {
            out += static_cast<char>((buffer >> (bits - 8)) & 0xFF);
            bits -= 8;
        }
    }
    return out;
}

std::string NewTotpSecret() {
    std::string raw(20, '\0');
    randombytes_buf(raw.data(), raw.size());
    return Base32Encode(raw);
}

std::string TotpCode(std::string_view secret, int64_t unix_seconds, int digits, int64_t step) {
    // RFC 4226 §5.3 (HOTP) over the RFC 6238 time counter.
    uint64_t counter = static_cast<uint64_t>(unix_seconds / step);
    unsigned char msg[8];
    for (int i = 7; i >= 0; --i) {
        msg[i] = static_cast<unsigned char>(counter & 0xFF);
        counter >>= 8;
    }
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    HMAC(EVP_sha1(), secret.data(), static_cast<int>(secret.size()), msg, sizeof msg, mac,
         &mac_len);
    const int offset = mac[mac_len - 1] & 0x0F;
    const uint32_t binary = (static_cast<uint32_t>(mac[offset] & 0x7F) << 24) |
                            (static_cast<uint32_t>(mac[offset + 1]) << 16) |
                            (static_cast<uint32_t>(mac[offset + 2]) << 8) |
                            static_cast<uint32_t>(mac[offset + 3]);
    uint32_t modulo = 1;
    for (int i = 0; i < digits; ++i) modulo *= 10;
    char buf[16];
    std::snprintf(buf, sizeof buf, "%0*u", digits, binary % modulo);
    return buf;
}

std::optional<int64_t> VerifyTotp(std::string_view secret, std::string_view code,
                                  int64_t unix_seconds, int64_t last_used_step) {
    if (code.size() != 6) return std::nullopt;
    const int64_t now_step = unix_seconds / 30;
    std::optional<int64_t> matched;
    // Every candidate is computed and compared, match or not: the time taken does not say
    // which step matched.
    for (int64_t step = now_step - 1; step <= now_step + 1; ++step) {
        if (ConstantTimeEquals(TotpCode(secret, step * 30), code) && step > last_used_step) {
            matched = step;
        }
    }
    return matched;
}

std::string TotpUri(std::string_view base32_secret, std::string_view account) {
    std::string label;
    for (unsigned char c : account) {
        if (std::isalnum(c) || c == '.' || c == '-' || c == '_' || c == '@') {
            label += static_cast<char>(c);
        } else {
            char buf[4];
            std::snprintf(buf, sizeof buf, "%%%02X", c);
            label += buf;
        }
    }
    return "otpauth://totp/Carnet:" + label + "?secret=" + std::string(base32_secret) +
           "&issuer=Carnet&algorithm=SHA1&digits=6&period=30";
}

// ---- brute force -----------------------------------------------------------------------

std::chrono::seconds LoginBackoff(int consecutive_failures) {
    if (consecutive_failures < 5) return std::chrono::seconds(0);
    const int exponent = std::min(consecutive_failures - 5, 10);  // 2^10 s > 15 min
    return std::min(std::chrono::seconds(int64_t{1} << exponent), std::chrono::seconds(900));
}

// ---- identifiers -----------------------------------------------------------------------

std::optional<std::string> NormalizeIns(std::string_view text) {
    std::string s;
    for (char c : text) {
        if (c == ' ' || c == '.' || c == '-') continue;
        s += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    if (s.size() != 15) return std::nullopt;
    std::string digits = s.substr(0, 13);
    // Department: positions 6-7 (1-based); Corsica 2A/2B.
    if (digits.substr(5, 2) == "2A") {
        digits.replace(5, 2, "19");
    } else if (digits.substr(5, 2) == "2B") {
        digits.replace(5, 2, "18");
    }
    for (char c : digits) {
        if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    }
    for (size_t i = 13; i < 15; ++i) {
        if (!std::isdigit(static_cast<unsigned char>(s[i]))) return std::nullopt;
    }
    if (s[0] != '1' && s[0] != '2' && s[0] != '3' && s[0] != '4' && s[0] != '7' && s[0] != '8') {
        return std::nullopt;  // sex / category digit
    }
    const uint64_t number = std::stoull(digits);
    const int key = std::stoi(s.substr(13, 2));
    if (key != static_cast<int>(97 - number % 97)) return std::nullopt;
    return s;
}

bool IsValidRpps(std::string_view text) {
    if (text.size() != 11) return false;
    int sum = 0;
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[text.size() - 1 - i];
        if (!std::isdigit(static_cast<unsigned char>(c))) return false;
        int d = c - '0';
        if (i % 2 == 1) {
            d *= 2;
            if (d > 9) d -= 9;
        }
        sum += d;
    }
    return sum % 10 == 0;
}

std::string InsWithKey(const std::string& digits13) {
    const unsigned long long n = std::stoull(digits13);
    const unsigned long long key = 97 - n % 97;
    return digits13 + (key < 10 ? "0" : "") + std::to_string(key);
}

std::string RppsWithCheckDigit(const std::string& digits10) {
    int sum = 0;
    for (size_t i = 0; i < digits10.size(); ++i) {
        int d = digits10[digits10.size() - 1 - i] - '0';
        if (i % 2 == 0) {  // the check digit will take position 0
            d *= 2;
            if (d > 9) d -= 9;
        }
        sum += d;
    }
    return digits10 + std::to_string((10 - sum % 10) % 10);
}

}  // namespace carnet::auth
