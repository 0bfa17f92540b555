#pragma once
/// Helpers shared by the auth service's source files (not part of the module's interface).
#include <sodium.h>

#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>

#include "auth/service.hpp"
#include "crypto/crypto.hpp"

namespace carnet::auth {

struct AuthService::Record {
    Account account;
    std::string password_hash;
    std::string activation_hash;
    int64_t activation_expires_at = 0;
    int64_t activation_tries = 0;
    std::string totp_sealed;  // base32 of the sealed secret (pending until second_factor=totp)
    int64_t totp_last_step = -1;
    int64_t credentials_at = 0;
};

struct AuthService::LiveChallenge {
    std::string id;
    std::string account_id;
    std::string channel;
    std::string destination;
    std::string data;
};

namespace detail {

using store::AsInt;
using store::AsText;
using store::IsNull;
using store::Row;
using store::Value;

inline constexpr int64_t kMicros = 1'000'000;
inline constexpr int64_t kTouchEveryUs = 60 * kMicros;

inline Error Unauthenticated(std::string message = "code invalide ou expiré") {
    return Error::Make(Code::kUnauthenticated, "login", std::move(message));
}

inline Error TooMany(std::string message, int64_t retry_after_s) {
    Error e = Error::Make(Code::kTooManyRequests, "throttled", std::move(message));
    e.retry_after_s = static_cast<int>(std::max<int64_t>(1, retry_after_s));
    return e;
}

inline Value TextOrNull(const std::string& s) { return s.empty() ? Value(nullptr) : Value(s); }

inline std::string Trim(std::string_view s) {
    size_t b = 0, e = s.size();
    while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
    while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
    return std::string(s.substr(b, e - b));
}

inline std::string Lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

/// Crockford base32 without I, L, O, U: what a person copies from a letter.
inline constexpr std::string_view kCrockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// 12 characters (60 bits), shown as XXXX-XXXX-XXXX.
inline std::string NewActivationCode() {
    std::string out;
    for (int i = 0; i < 12; ++i) {
        if (i > 0 && i % 4 == 0) out.push_back('-');
        out.push_back(kCrockford[randombytes_uniform(32)]);
    }
    return out;
}

/// Upper-case, separators dropped, Crockford's confusable letters mapped (O→0, I/L→1).
inline std::string NormalizeActivationCode(std::string_view text) {
    std::string out;
    for (char c : text) {
        if (c == '-' || c == ' ') continue;
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        if (c == 'O') c = '0';
        if (c == 'I' || c == 'L') c = '1';
        out.push_back(c);
    }
    return out;
}

/// The key sealing TOTP secrets at rest, derived from the server key.
inline crypto::Key TotpKey(const std::string& server_key) {
    static constexpr std::string_view kLabel = "carnet-totp-seal";
    crypto::Key key{};
    crypto_generichash(key.data(), key.size(),
                       reinterpret_cast<const unsigned char*>(kLabel.data()), kLabel.size(),
                       reinterpret_cast<const unsigned char*>(server_key.data()),
                       std::clamp<size_t>(server_key.size(), crypto_generichash_KEYBYTES_MIN,
                                          crypto_generichash_KEYBYTES_MAX));
    return key;
}

/// Kinds allowed to open a session, by status. A closed patient record is a read-only
/// archive: its holder may still sign in to read, export or reopen it.
inline bool CanSignIn(const std::string& kind, const std::string& status) {
    if (status == kActive) return true;
    return status == kClosed && kind == kPatient;
}

}  // namespace detail
}  // namespace carnet::auth
