#include "crypto/crypto.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <vector>

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

TEST(Stream, ChunksOpenInOrderAndOnlyThere) {
    Init();
    const Key key = NewKey();
    StreamSealer sealer(key, "patient|blob");
    const std::vector<std::string> plain = {"first chunk", "", "third", "last"};
    std::vector<std::string> sealed;
    for (size_t i = 0; i < plain.size(); ++i) {
        sealed.push_back(sealer.Push(plain[i], i + 1 == plain.size()));
        EXPECT_EQ(sealed.back().size(), plain[i].size() + kStreamChunkOverhead);
        EXPECT_EQ(sealed.back().find(plain[i].empty() ? "\x01\x02" : plain[i]), std::string::npos);
    }
    auto open_all = [&](const std::vector<std::string>& chunks, const Key& k,
                        const std::string& aad) -> Result<std::string> {
        CARNET_TRY(auto opener, StreamOpener::Make(k, sealer.Header(), aad));
        std::string out;
        for (const auto& c : chunks) {
            CARNET_TRY(auto p, opener.Pull(c));
            out += p;
        }
        if (!opener.Done()) return Error::Internal("truncated");
        return out;
    };
    auto all = open_all(sealed, key, "patient|blob");
    ASSERT_TRUE(all.ok());
    EXPECT_EQ(*all, "first chunkthirdlast");
    // Reordered, dropped, truncated, repeated, tampered, other aad, other key: refused.
    EXPECT_FALSE(open_all({sealed[0], sealed[2], sealed[1], sealed[3]}, key, "patient|blob").ok());
    EXPECT_FALSE(open_all({sealed[0], sealed[2], sealed[3]}, key, "patient|blob").ok());
    EXPECT_FALSE(open_all({sealed[0], sealed[1], sealed[2]}, key, "patient|blob").ok());
    EXPECT_FALSE(
        open_all({sealed[0], sealed[0], sealed[1], sealed[2], sealed[3]}, key, "patient|blob")
            .ok());
    EXPECT_FALSE(open_all(sealed, key, "patient|other-blob").ok());
    EXPECT_FALSE(open_all(sealed, NewKey(), "patient|blob").ok());
    auto tampered = sealed;
    tampered[2][3] ^= 1;
    EXPECT_FALSE(open_all(tampered, key, "patient|blob").ok());
    // Nothing after the final chunk.
    auto opener = StreamOpener::Make(key, sealer.Header(), "patient|blob");
    ASSERT_TRUE(opener.ok());
    for (const auto& c : sealed) ASSERT_TRUE(opener->Pull(c).ok());
    EXPECT_TRUE(opener->Done());
    EXPECT_FALSE(opener->Pull(sealed[3]).ok());
    EXPECT_FALSE(StreamOpener::Make(key, "short", "x").ok());
}

TEST(Base64, RoundTripsAndRefusesWhatIsNotBase64) {
    Init();
    const std::vector<std::string> samples = {"", "f", "fo", "foo",
                                              std::string("\0\xff\x10"
                                                          "binary",
                                                          9)};
    for (const std::string& s : samples) {
        auto back = Base64Decode(Base64Encode(s));
        ASSERT_TRUE(back.ok());
        EXPECT_EQ(*back, s);
    }
    EXPECT_EQ(Base64Encode("foob"), "Zm9vYg==");
    EXPECT_EQ(*Base64Decode("Zm9v\nYmFy"), "foobar") << "whitespace is allowed in FHIR";
    EXPECT_FALSE(Base64Decode("Zm9v!").ok());
    EXPECT_FALSE(Base64Decode("Zm9vY").ok()) << "truncated";
    EXPECT_FALSE(Base64Decode("Zm9v_-").ok()) << "the URL-safe alphabet is another encoding";
}

}  // namespace
}  // namespace carnet::crypto
