#include "auth/primitives.hpp"

#include <gtest/gtest.h>
#include <sodium.h>

#include <set>

namespace carnet::auth {
namespace {

// Tests use a cheap cost: the algorithm and format are the same, only slower in production.
const PasswordCost kCheap{1, 1024 * 1024};

class Primitives : public ::testing::Test {
  protected:
    static void SetUpTestSuite() { ASSERT_GE(sodium_init(), 0); }
};

TEST_F(Primitives, PasswordHashIsArgon2idAndVerifiesOnlyTheRightPassword) {
    auto phc = HashPassword("cheval agrafe batterie", kCheap);
    ASSERT_TRUE(phc.ok());
    EXPECT_EQ(phc->rfind("$argon2id$v=19$", 0), 0U) << *phc;
    EXPECT_TRUE(VerifyPassword(*phc, "cheval agrafe batterie"));
    EXPECT_FALSE(VerifyPassword(*phc, "cheval agrafe batterie "));
    EXPECT_FALSE(VerifyPassword(*phc, "Cheval agrafe batterie"));
    EXPECT_FALSE(VerifyPassword(*phc, ""));
    EXPECT_FALSE(VerifyPassword("", "x"));
    EXPECT_FALSE(VerifyPassword("$argon2id$garbage", "x"));
    // Same password, fresh salt: different hashes.
    auto again = HashPassword("cheval agrafe batterie", kCheap);
    ASSERT_TRUE(again.ok());
    EXPECT_NE(*phc, *again);
    EXPECT_FALSE(NeedsRehash(*phc, kCheap));
    EXPECT_TRUE(NeedsRehash(*phc, PasswordCost{}));  // production cost is higher
    EXPECT_TRUE(NeedsRehash("not a hash"));
}

TEST_F(Primitives, PasswordPolicyRefusesShortCommonAndLoginBasedPasswords) {
    EXPECT_FALSE(CheckPasswordPolicy("court").ok());
    EXPECT_FALSE(CheckPasswordPolicy("12345678901").ok());  // 11 characters
    EXPECT_FALSE(CheckPasswordPolicy(std::string(129, 'x') + "Ab1").ok());
    for (const char* common : {"azertyuiop123", "Motdepasse123!", "PASSWORD1234", "aaaaaaaaaaaa",
                               "Marseille2024", "123456789012", "987654321098", "abcdefghijklm"}) {
        EXPECT_FALSE(CheckPasswordPolicy(common).ok()) << common;
    }
    EXPECT_FALSE(CheckPasswordPolicy("jeanne.martin-2026", "jeanne.martin").ok());
    auto refused = CheckPasswordPolicy("azertyuiop123");
    ASSERT_FALSE(refused.ok());
    EXPECT_NE(refused.error().Summary().find("trop courant"), std::string::npos);
    EXPECT_TRUE(CheckPasswordPolicy("cheval agrafe batterie").ok());
    EXPECT_TRUE(CheckPasswordPolicy("Lune-Pivoine-47-Gare", "jeanne.martin").ok());
}

TEST_F(Primitives, OneTimeCodesAreSixDigitsAndVary) {
    std::set<std::string> seen;
    bool leading_zero = false;
    for (int i = 0; i < 2000; ++i) {
        const std::string c = NewOneTimeCode();
        ASSERT_EQ(c.size(), 6U);
        for (char d : c) ASSERT_TRUE(d >= '0' && d <= '9') << c;
        leading_zero = leading_zero || c[0] == '0';
        seen.insert(c);
    }
    EXPECT_GT(seen.size(), 1990U);  // 2000 draws from 10^6: collisions are rare
    EXPECT_TRUE(leading_zero);      // ~10% start with 0: formatting keeps it
}

TEST_F(Primitives, TokensAreLongRandomAndUrlSafe) {
    const std::string t = NewToken();
    EXPECT_EQ(t.size(), 43U);  // 256 bits in base64url without padding
    for (char c : t) {
        EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') << t;
    }
    EXPECT_NE(NewToken(), NewToken());
    EXPECT_EQ(NewToken(16).size(), 22U);  // 128 bits, the minimum the issue asks for
}

TEST_F(Primitives, SecretHashesAreKeyed) {
    const std::string a = HashSecret("482910", "server-key-1");
    EXPECT_EQ(a.size(), 64U);
    EXPECT_EQ(a, HashSecret("482910", "server-key-1"));
    EXPECT_NE(a, HashSecret("482911", "server-key-1"));
    EXPECT_NE(a, HashSecret("482910", "server-key-2"));  // a stolen table alone is useless
    EXPECT_TRUE(ConstantTimeEquals(a, HashSecret("482910", "server-key-1")));
    EXPECT_FALSE(ConstantTimeEquals(a, a.substr(1)));
}

TEST_F(Primitives, Base32FollowsRfc4648) {
    const std::pair<const char*, const char*> vectors[] = {{"", ""},
                                                           {"f", "MY"},
                                                           {"fo", "MZXQ"},
                                                           {"foo", "MZXW6"},
                                                           {"foob", "MZXW6YQ"},
                                                           {"fooba", "MZXW6YTB"},
                                                           {"foobar", "MZXW6YTBOI"}};
    for (const auto& [plain, encoded] : vectors) {
        EXPECT_EQ(Base32Encode(plain), encoded);
        auto back = Base32Decode(encoded);
        ASSERT_TRUE(back.has_value());
        EXPECT_EQ(*back, plain);
    }
    EXPECT_EQ(Base32Decode("mzxw6ytboi").value_or("?"), "foobar");  // case-insensitive
    EXPECT_FALSE(Base32Decode("MZXW1").has_value());                // '1' is not base32
}

TEST_F(Primitives, TotpMatchesRfc6238TestVectors) {
    // RFC 6238 Appendix B, SHA1, 8 digits.
    const std::string secret = "12345678901234567890";
    EXPECT_EQ(TotpCode(secret, 59, 8), "94287082");
    EXPECT_EQ(TotpCode(secret, 1111111109, 8), "07081804");
    EXPECT_EQ(TotpCode(secret, 1111111111, 8), "14050471");
    EXPECT_EQ(TotpCode(secret, 1234567890, 8), "89005924");
    EXPECT_EQ(TotpCode(secret, 2000000000, 8), "69279037");
    EXPECT_EQ(TotpCode(secret, 20000000000, 8), "65353130");
    EXPECT_EQ(TotpCode(secret, 59), "287082");  // 6 digits: the low 6 of the same value
}

TEST_F(Primitives, TotpAcceptsOneStepOfDriftAndNeverTheSameStepTwice) {
    const std::string secret = *Base32Decode(NewTotpSecret());
    ASSERT_EQ(secret.size(), 20U);
    const int64_t now = 1'800'000'015;
    const int64_t step = now / 30;
    EXPECT_EQ(VerifyTotp(secret, TotpCode(secret, now), now), step);
    EXPECT_EQ(VerifyTotp(secret, TotpCode(secret, now - 30), now), step - 1);
    EXPECT_EQ(VerifyTotp(secret, TotpCode(secret, now + 30), now), step + 1);
    EXPECT_FALSE(VerifyTotp(secret, TotpCode(secret, now - 60), now).has_value());
    EXPECT_FALSE(VerifyTotp(secret, TotpCode(secret, now + 60), now).has_value());
    // Replay: the step already used is refused, even within its window.
    EXPECT_FALSE(VerifyTotp(secret, TotpCode(secret, now), now, step).has_value());
    EXPECT_FALSE(VerifyTotp(secret, "12345", now).has_value());
    EXPECT_FALSE(VerifyTotp(secret, "abcdef", now).has_value());
    EXPECT_EQ(TotpUri("JBSWY3DPEHPK3PXP", "jeanne martin"),
              "otpauth://totp/Carnet:jeanne%20martin?secret=JBSWY3DPEHPK3PXP&issuer=Carnet&"
              "algorithm=SHA1&digits=6&period=30");
}

TEST_F(Primitives, LoginBackoffStartsAtTheFifthFailureAndNeverLocksForever) {
    for (int i = 0; i < 5; ++i) EXPECT_EQ(LoginBackoff(i).count(), 0) << i;
    EXPECT_EQ(LoginBackoff(5).count(), 1);
    EXPECT_EQ(LoginBackoff(6).count(), 2);
    EXPECT_EQ(LoginBackoff(9).count(), 16);
    EXPECT_EQ(LoginBackoff(14).count(), 512);
    EXPECT_EQ(LoginBackoff(15).count(), 900);
    EXPECT_EQ(LoginBackoff(1'000'000).count(), 900);
}

TEST_F(Primitives, InsChecksTheKeyAndAcceptsCorsica) {
    EXPECT_EQ(NormalizeIns("1 84 12 76 451 089 46").value_or("?"), "184127645108946");
    EXPECT_EQ(NormalizeIns("269059912345662").value_or("?"), "269059912345662");
    EXPECT_EQ(NormalizeIns("1 85 05 2A 004 012 70").value_or("?"), "185052A00401270");
    EXPECT_FALSE(NormalizeIns("184127645108947").has_value());   // wrong key
    EXPECT_FALSE(NormalizeIns("18412764510894").has_value());    // too short
    EXPECT_FALSE(NormalizeIns("1841276451089466").has_value());  // too long
    EXPECT_FALSE(NormalizeIns("5841276451089").has_value());
    EXPECT_FALSE(NormalizeIns("18412764510X946").has_value());
    EXPECT_FALSE(NormalizeIns("").has_value());
}

TEST_F(Primitives, RppsIsElevenDigitsWithALuhnKey) {
    EXPECT_TRUE(IsValidRpps("10000000009"));
    EXPECT_TRUE(IsValidRpps("81000123455"));
    EXPECT_FALSE(IsValidRpps("10000000008"));
    EXPECT_FALSE(IsValidRpps("1000000009"));
    EXPECT_FALSE(IsValidRpps("100000000090"));
    EXPECT_FALSE(IsValidRpps("1000000000A"));
}

// The builders the demo data and the tests use agree with the validators, on known numbers
// and on a sweep of bases (a builder off by one position would fail every other one).
TEST_F(Primitives, IdentifierBuildersAppendTheRightKey) {
    EXPECT_EQ(InsWithKey("1841276451089"), "184127645108946");
    EXPECT_EQ(InsWithKey("2690599123456"), "269059912345662");
    EXPECT_EQ(RppsWithCheckDigit("1000000000"), "10000000009");
    EXPECT_EQ(RppsWithCheckDigit("8100012345"), "81000123455");
    for (unsigned long long base = 1'000'000'000ULL; base < 1'000'000'000ULL + 500; base += 7) {
        const std::string rpps = RppsWithCheckDigit(std::to_string(base));
        EXPECT_TRUE(IsValidRpps(rpps)) << rpps;
        const std::string ins = InsWithKey("1" + std::to_string(base) + "00");
        EXPECT_EQ(NormalizeIns(ins).value_or("?"), ins);
    }
}

}  // namespace
}  // namespace carnet::auth
