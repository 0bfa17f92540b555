#include "crypto/crypto.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

namespace carnet::crypto {
namespace {

TEST(Crypto, SealOpenRoundTripAndAadBinding) {
    Init();
    Key k = NewKey();
    std::string sealed = Seal(k, "bonjour", "Patient/1");
    EXPECT_EQ(sealed.size(), 7 + kSealOverhead);
    EXPECT_EQ(sealed.find("bonjour"), std::string::npos);
    auto opened = Open(k, sealed, "Patient/1");
    ASSERT_TRUE(opened.ok());
    EXPECT_EQ(*opened, "bonjour");
    // The same ciphertext moved to another row (other aad) must not open.
    EXPECT_FALSE(Open(k, sealed, "Patient/2").ok());
    // Another key must not open it.
    EXPECT_FALSE(Open(NewKey(), sealed, "Patient/1").ok());
    // A flipped bit must be detected.
    sealed[30] = static_cast<char>(sealed[30] ^ 1);
    EXPECT_FALSE(Open(k, sealed, "Patient/1").ok());
    EXPECT_FALSE(Open(k, "short", "").ok());
}

TEST(Crypto, NoncesDiffer) {
    Init();
    Key k = NewKey();
    EXPECT_NE(Seal(k, "x", ""), Seal(k, "x", ""));
}

TEST(MasterKey, CreatesWith0600AndReloadsSameKey) {
    auto dir = std::filesystem::temp_directory_path() / ("carnet-mk-" + std::to_string(getpid()));
    std::filesystem::remove_all(dir);
    auto path = dir / "keys" / "master.key";
    auto mk = MasterKey::LoadOrCreate(path);
    ASSERT_TRUE(mk.ok()) << mk.error().Summary();
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    Key dk = NewKey();
    std::string wrapped = mk->Wrap(dk, "p1");
    auto again = MasterKey::LoadOrCreate(path);
    ASSERT_TRUE(again.ok());
    auto unwrapped = again->Unwrap(wrapped, "p1");
    ASSERT_TRUE(unwrapped.ok());
    EXPECT_EQ(*unwrapped, dk);
    EXPECT_FALSE(again->Unwrap(wrapped, "p2").ok()) << "wrapped key bound to its owner";
    std::filesystem::remove_all(dir);
}

TEST(MasterKey, RefusesGroupReadableOrWrongSizeFile) {
    auto dir = std::filesystem::temp_directory_path() / ("carnet-mk2-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    auto path = dir / "master.key";
    {
        std::ofstream f(path, std::ios::binary);
        f << std::string(32, 'a');
    }
    ::chmod(path.c_str(), 0644);
    EXPECT_FALSE(MasterKey::LoadOrCreate(path).ok());
    ::chmod(path.c_str(), 0600);
    EXPECT_TRUE(MasterKey::LoadOrCreate(path).ok());
    {
        std::ofstream f(path, std::ios::binary | std::ios::trunc);
        f << "short";
    }
    EXPECT_FALSE(MasterKey::LoadOrCreate(path).ok());
    std::filesystem::remove_all(dir);
}

TEST(MasterKey, DeriveIsStablePerPurposeAndDistinct) {
    Key k{};
    k[0] = 7;
    auto m = MasterKey::FromKeyForTest(k);
    auto a = m.Derive("auth-secrets");
    EXPECT_EQ(a, m.Derive("auth-secrets"));
    EXPECT_NE(a, m.Derive("other"));
    EXPECT_NE(a, k);
    Key k2 = k;
    k2[1] = 1;
    EXPECT_NE(a, MasterKey::FromKeyForTest(k2).Derive("auth-secrets"));
}

}  // namespace
}  // namespace carnet::crypto
