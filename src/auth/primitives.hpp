#pragma once
/// The building blocks of authentication, each a small pure (or CSPRNG-only) function with
/// its own tests: password hashing (Argon2id), the common-password list, one-time codes,
/// TOTP (RFC 6238), tokens, login backoff, and the national identifiers (INS/NIR, RPPS).
/// The account store, sessions and HTTP endpoints are built on these.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace carnet::auth {

// ---- passwords -------------------------------------------------------------------------

/// Argon2id cost. The default follows the OWASP password storage cheat sheet's first
/// Argon2id line (m = 19 MiB, t = 2, p = 1): strong, and several logins at once stay inside
/// the server's memory budget. Login latency at this cost is for the login bench to measure.
struct PasswordCost {
    uint64_t ops = 2;
    size_t mem_bytes = 19ULL * 1024 * 1024;
};

/// A PHC string ("$argon2id$v=19$m=…,t=…,p=1$salt$hash") with a random salt.
/// kUnavailable if the memory cannot be allocated.
Result<std::string> HashPassword(std::string_view password, const PasswordCost& cost = {});
/// Constant-time check against a PHC string; false for a malformed hash.
bool VerifyPassword(std::string_view phc, std::string_view password);
/// True when `phc` was made with a lower cost than `cost` (rehash at the next login).
bool NeedsRehash(std::string_view phc, const PasswordCost& cost = {});

/// Password policy: 12 to 128 characters (bytes of UTF-8), not one of the most common
/// passwords (case-insensitive), not mostly the login. kInvalid with a French message
/// that the portal shows as is.
Status CheckPasswordPolicy(std::string_view password, std::string_view login = {});
/// Whether the password is on the built-in list of common passwords.
bool IsCommonPassword(std::string_view password);

// ---- one-time codes and tokens ---------------------------------------------------------

/// Six decimal digits, uniform, from the CSPRNG.
std::string NewOneTimeCode();
/// A random token of `bytes` bytes (default 32 = 256 bits), base64url without padding.
std::string NewToken(size_t bytes = 32);
/// What is stored for a token or code: BLAKE2b-256 keyed with a server secret, in hex. The
/// key makes a stolen database useless for checking guesses of 6-digit codes offline.
std::string HashSecret(std::string_view secret, std::string_view server_key);
/// Constant-time comparison of two equal-length strings (false when lengths differ).
bool ConstantTimeEquals(std::string_view a, std::string_view b);

// ---- TOTP (RFC 6238, HMAC-SHA1, 30 s, 6 digits: what authenticator apps implement) ---

/// A random 160-bit secret, base32 (RFC 4648, no padding) for the otpauth:// URI.
std::string NewTotpSecret();
/// The code for `unix_seconds`; `secret` is raw bytes. `digits` 6 or 8.
std::string TotpCode(std::string_view secret, int64_t unix_seconds, int digits = 6,
                     int64_t step = 30);
/// Accepts the code of the current step or one step either side (clock drift). Returns the
/// matched step counter (store it: a code must not be accepted twice), nullopt otherwise.
std::optional<int64_t> VerifyTotp(std::string_view secret, std::string_view code,
                                  int64_t unix_seconds, int64_t last_used_step = -1);
/// otpauth://totp/Carnet:<account>?secret=…&issuer=Carnet&algorithm=SHA1&digits=6&period=30
std::string TotpUri(std::string_view base32_secret, std::string_view account);
std::string Base32Encode(std::string_view bytes);
std::optional<std::string> Base32Decode(std::string_view text);

// ---- brute force -----------------------------------------------------------------------

/// How long a login must wait after `consecutive_failures` wrong passwords: nothing for the
/// first four, then 1 s, 2 s, 4 s… capped at 15 min. Never a permanent lock (a lock would
/// let anyone lock a patient out of their own record).
std::chrono::seconds LoginBackoff(int consecutive_failures);

// ---- identifiers -----------------------------------------------------------------------

/// French national health identifier (INS = NIR): 13 characters + 2-digit key, spaces
/// allowed. Corsica's departments 2A/2B are accepted (replaced by 19/18 for the key,
/// as the NIR rules say). Returns the normalised 15-character form, or nullopt.
std::optional<std::string> NormalizeIns(std::string_view text);
/// National professional id (RPPS): 11 digits, the last a Luhn check digit.
bool IsValidRpps(std::string_view text);
/// The valid INS of 13 digits (their 2-digit key appended): demo records and tests, which
/// make up their identifiers.
std::string InsWithKey(const std::string& digits13);
/// The valid RPPS of 10 digits (their Luhn check digit appended): demo data and tests.
std::string RppsWithCheckDigit(const std::string& digits10);

}  // namespace carnet::auth
