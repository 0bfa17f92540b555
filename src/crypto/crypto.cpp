#include "crypto/crypto.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <system_error>

namespace carnet::crypto {

void Init() {
    if (sodium_init() < 0) {
        std::fputs("carnet: libsodium failed to initialise\n", stderr);
        std::abort();  // no entropy: refusing to run is the only safe outcome
    }
}

Key NewKey() {
    Key k;
    crypto_aead_xchacha20poly1305_ietf_keygen(k.data());
    return k;
}

std::string Seal(const Key& key, std::string_view plaintext, std::string_view aad) {
    constexpr size_t kNonce = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
    std::string out(kNonce + plaintext.size() + crypto_aead_xchacha20poly1305_ietf_ABYTES, '\0');
    auto* nonce = reinterpret_cast<unsigned char*>(out.data());
    randombytes_buf(nonce, kNonce);
    unsigned long long clen = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(
        nonce + kNonce, &clen, reinterpret_cast<const unsigned char*>(plaintext.data()),
        plaintext.size(), reinterpret_cast<const unsigned char*>(aad.data()), aad.size(), nullptr,
        nonce, key.data());
    out.resize(kNonce + clen);
    return out;
}

Result<std::string> Open(const Key& key, std::string_view sealed, std::string_view aad) {
    constexpr size_t kNonce = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
    if (sealed.size() < kNonce + crypto_aead_xchacha20poly1305_ietf_ABYTES) {
        return Error::Internal("sealed value too short");
    }
    const auto* nonce = reinterpret_cast<const unsigned char*>(sealed.data());
    std::string out(sealed.size() - kNonce - crypto_aead_xchacha20poly1305_ietf_ABYTES, '\0');
    unsigned long long mlen = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(
            reinterpret_cast<unsigned char*>(out.data()), &mlen, nullptr, nonce + kNonce,
            sealed.size() - kNonce, reinterpret_cast<const unsigned char*>(aad.data()), aad.size(),
            nonce, key.data()) != 0) {
        return Error::Internal("authentication tag mismatch");
    }
    out.resize(mlen);
    return out;
}

// ---- streams ------------------------------------------------------------------------------

namespace {
using StreamState = crypto_secretstream_xchacha20poly1305_state;
static_assert(sizeof(StreamState) == 52, "the stream state buffer must match libsodium's");
static_assert(crypto_secretstream_xchacha20poly1305_ABYTES == kStreamChunkOverhead);

StreamState* AsState(std::array<unsigned char, 52>& buf) {
    return reinterpret_cast<StreamState*>(buf.data());  // a struct of bytes: alignment 1
}
}  // namespace

StreamSealer::StreamSealer(const Key& key, std::string aad) : aad_(std::move(aad)) {
    header_.assign(crypto_secretstream_xchacha20poly1305_HEADERBYTES, '\0');
    crypto_secretstream_xchacha20poly1305_init_push(
        AsState(state_), reinterpret_cast<unsigned char*>(header_.data()), key.data());
}

StreamSealer::~StreamSealer() { sodium_memzero(state_.data(), state_.size()); }

std::string StreamSealer::Push(std::string_view chunk, bool last) {
    std::string out(chunk.size() + crypto_secretstream_xchacha20poly1305_ABYTES, '\0');
    unsigned long long clen = 0;
    crypto_secretstream_xchacha20poly1305_push(
        AsState(state_), reinterpret_cast<unsigned char*>(out.data()), &clen,
        reinterpret_cast<const unsigned char*>(chunk.data()), chunk.size(),
        reinterpret_cast<const unsigned char*>(aad_.data()), aad_.size(),
        last ? crypto_secretstream_xchacha20poly1305_TAG_FINAL
             : crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
    out.resize(clen);
    return out;
}

Result<StreamOpener> StreamOpener::Make(const Key& key, std::string_view header, std::string aad) {
    if (header.size() != crypto_secretstream_xchacha20poly1305_HEADERBYTES) {
        return Error::Internal("stream header of the wrong size");
    }
    StreamOpener o;
    o.aad_ = std::move(aad);
    if (crypto_secretstream_xchacha20poly1305_init_pull(
            AsState(o.state_), reinterpret_cast<const unsigned char*>(header.data()), key.data()) !=
        0) {
        return Error::Internal("stream header refused");
    }
    return o;
}

StreamOpener::~StreamOpener() { sodium_memzero(state_.data(), state_.size()); }

Result<std::string> StreamOpener::Pull(std::string_view sealed) {
    if (done_) return Error::Internal("stream: a chunk after the final one");
    if (sealed.size() < crypto_secretstream_xchacha20poly1305_ABYTES) {
        return Error::Internal("stream: chunk too short");
    }
    std::string out(sealed.size() - crypto_secretstream_xchacha20poly1305_ABYTES, '\0');
    unsigned long long mlen = 0;
    unsigned char tag = 0;
    if (crypto_secretstream_xchacha20poly1305_pull(
            AsState(state_), reinterpret_cast<unsigned char*>(out.data()), &mlen, &tag,
            reinterpret_cast<const unsigned char*>(sealed.data()), sealed.size(),
            reinterpret_cast<const unsigned char*>(aad_.data()), aad_.size()) != 0) {
        return Error::Internal("stream: a chunk does not verify");
    }
    out.resize(mlen);
    if (tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL) done_ = true;
    return out;
}

MasterKey MasterKey::FromKeyForTest(const Key& key) {
    MasterKey m;
    m.key_ = key;
    return m;
}

MasterKey::MasterKey(MasterKey&& other) noexcept : key_(other.key_) {
    sodium_memzero(other.key_.data(), other.key_.size());
}

MasterKey& MasterKey::operator=(MasterKey&& other) noexcept {
    if (this != &other) {
        key_ = other.key_;
        sodium_memzero(other.key_.data(), other.key_.size());
    }
    return *this;
}

MasterKey::~MasterKey() { sodium_memzero(key_.data(), key_.size()); }

Result<MasterKey> MasterKey::LoadOrCreate(const std::filesystem::path& path) {
    Init();
    MasterKey m;
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) {
        if (path.has_parent_path()) {
            std::filesystem::create_directories(path.parent_path(), ec);
            if (ec) return Error::Internal("cannot create key directory");
        }
        Key k = NewKey();
        // O_EXCL: two processes starting at once must not both create (and overwrite) it.
        int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0) return Error::Internal("cannot create master key file");
        ssize_t n = ::write(fd, k.data(), k.size());
        bool synced = ::fsync(fd) == 0;
        ::close(fd);
        if (n != static_cast<ssize_t>(k.size()) || !synced) {
            return Error::Internal("cannot write master key file");
        }
        m.key_ = k;
        sodium_memzero(k.data(), k.size());
        return m;
    }
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return Error::Internal("cannot stat master key file");
    if ((st.st_mode & 077) != 0) {
        return Error::Make(Code::kUnavailable, "security",
                           "master key file must not be readable by group or others (chmod 600)");
    }
    if (st.st_size != static_cast<off_t>(kKeyBytes)) {
        return Error::Make(Code::kUnavailable, "security", "master key file has the wrong size");
    }
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Error::Internal("cannot open master key file");
    ssize_t n = ::read(fd, m.key_.data(), m.key_.size());
    ::close(fd);
    if (n != static_cast<ssize_t>(kKeyBytes)) return Error::Internal("cannot read master key");
    return m;
}

std::string MasterKey::Wrap(const Key& data_key, std::string_view owner) const {
    return Seal(key_,
                std::string_view(reinterpret_cast<const char*>(data_key.data()), data_key.size()),
                owner);
}

Result<Key> MasterKey::Unwrap(std::string_view wrapped, std::string_view owner) const {
    CARNET_TRY(std::string raw, Open(key_, wrapped, owner));
    if (raw.size() != kKeyBytes) return Error::Internal("wrapped key has the wrong size");
    Key k;
    std::copy(raw.begin(), raw.end(), k.begin());
    sodium_memzero(raw.data(), raw.size());
    return k;
}

Key MasterKey::Derive(std::string_view purpose) const {
    const std::string label = "carnet-subkey:" + std::string(purpose);
    Key out{};
    crypto_generichash(out.data(), out.size(), reinterpret_cast<const unsigned char*>(label.data()),
                       label.size(), key_.data(), key_.size());
    return out;
}

std::string ToHex(std::string_view bytes) {
    static const char* kHex = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (unsigned char c : bytes) {
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 0x0f]);
    }
    return out;
}

std::string Base64Encode(std::string_view bytes) {
    std::string out(sodium_base64_encoded_len(bytes.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
    sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                      bytes.size(), sodium_base64_VARIANT_ORIGINAL);
    out.resize(out.size() - 1);  // the terminating NUL
    return out;
}

Result<std::string> Base64Decode(std::string_view text) {
    std::string out(text.size() / 4 * 3 + 3, '\0');
    size_t len = 0;
    const char* end = nullptr;
    if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(),
                          text.size(), " \t\r\n", &len, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != text.data() + text.size()) {
        return Error::Invalid("invalid base64 content");
    }
    out.resize(len);
    return out;
}

}  // namespace carnet::crypto
