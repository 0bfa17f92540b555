#pragma once
/// libsodium wrappers: keys, AEAD (XChaCha20-Poly1305-IETF), the master key file.
/// Envelope scheme: each patient has a random 256-bit data key; resource bodies are sealed
/// with it; the data key is stored wrapped (sealed) by the master key, which lives in a
/// file outside the database. Destroying a patient's wrapped key makes their data
/// unreadable everywhere, backups included (crypto-shredding).
#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace carnet::crypto {

constexpr size_t kKeyBytes = 32;
using Key = std::array<unsigned char, kKeyBytes>;

/// Initialises libsodium; safe to call many times. Aborts if the library cannot start
/// (no entropy source): nothing can run safely then.
void Init();

/// A fresh random key.
Key NewKey();

/// Seals `plaintext`: returns nonce (24 bytes) || ciphertext || tag (16 bytes).
/// `aad` is authenticated, not stored: the same value must be given to Open.
std::string Seal(const Key& key, std::string_view plaintext, std::string_view aad);

/// Opens a sealed value; kInternal when the tag does not verify (wrong key, tampering,
/// or an aad mismatch such as a body moved to another row).
Result<std::string> Open(const Key& key, std::string_view sealed, std::string_view aad);

/// Bytes added by Seal.
constexpr size_t kSealOverhead = 24 + 16;

/// Streamed sealing of content too large to hold whole (documents' binaries, upload spools):
/// libsodium's secretstream (XChaCha20-Poly1305), one sealed message per chunk. The chunks
/// can only be opened in order, a chunk moved, dropped, repeated or taken from another
/// stream fails, and the last chunk carries the FINAL tag, so a truncated stream is refused
/// too. `aad` (e.g. patient and blob ids) is bound to every chunk and not stored.
class StreamSealer {
  public:
    StreamSealer(const Key& key, std::string aad);
    StreamSealer(StreamSealer&&) noexcept = default;
    StreamSealer& operator=(StreamSealer&&) noexcept = default;
    StreamSealer(const StreamSealer&) = delete;
    StreamSealer& operator=(const StreamSealer&) = delete;
    ~StreamSealer();  // wipes the state (it holds a key)
    /// The stream's header (24 bytes), stored beside the chunks; it is not secret.
    [[nodiscard]] const std::string& Header() const { return header_; }
    /// Seals the next chunk; `last` for the final one (which may be empty).
    std::string Push(std::string_view chunk, bool last);

  private:
    std::array<unsigned char, 52> state_{};  // crypto_secretstream_xchacha20poly1305_state
    std::string header_;
    std::string aad_;
};

class StreamOpener {
  public:
    /// kInternal when the header is malformed.
    static Result<StreamOpener> Make(const Key& key, std::string_view header, std::string aad);
    StreamOpener(StreamOpener&&) noexcept = default;
    StreamOpener& operator=(StreamOpener&&) noexcept = default;
    StreamOpener(const StreamOpener&) = delete;
    StreamOpener& operator=(const StreamOpener&) = delete;
    ~StreamOpener();
    /// Opens the next chunk; kInternal if it does not verify or follows the final chunk.
    Result<std::string> Pull(std::string_view sealed);
    /// The final chunk was opened: the stream is complete.
    [[nodiscard]] bool Done() const { return done_; }

  private:
    StreamOpener() = default;
    std::array<unsigned char, 52> state_{};
    std::string aad_;
    bool done_ = false;
};

/// Bytes a sealed chunk adds to its plaintext.
constexpr size_t kStreamChunkOverhead = 17;

/// The master key: wraps and unwraps data keys. Copying is disabled; memory is locked and
/// wiped on destruction.
class MasterKey {
  public:
    /// Reads the key file, or creates it (mode 0600, parent directory 0700) when absent.
    /// Refuses a file that is readable by group/others or has the wrong size.
    static Result<MasterKey> LoadOrCreate(const std::filesystem::path& path);
    /// For tests.
    static MasterKey FromKeyForTest(const Key& key);

    MasterKey(MasterKey&& other) noexcept;
    MasterKey& operator=(MasterKey&& other) noexcept;
    MasterKey(const MasterKey&) = delete;
    MasterKey& operator=(const MasterKey&) = delete;
    ~MasterKey();

    /// Wraps a data key; `owner` (e.g. the patient id) is bound as associated data.
    [[nodiscard]] std::string Wrap(const Key& data_key, std::string_view owner) const;
    [[nodiscard]] Result<Key> Unwrap(std::string_view wrapped, std::string_view owner) const;
    /// A key for one purpose ("auth-secrets"…), derived from the master key (keyed BLAKE2b):
    /// the same master key always gives the same subkey, and subkeys reveal nothing of it.
    [[nodiscard]] Key Derive(std::string_view purpose) const;

  private:
    MasterKey() = default;
    Key key_{};
};

/// Lower-case hex of a byte string.
std::string ToHex(std::string_view bytes);

/// Standard base64 with padding (RFC 4648 §4), as FHIR's base64Binary.
std::string Base64Encode(std::string_view bytes);
/// Decodes standard base64; whitespace is skipped (FHIR allows it). kInvalid otherwise.
Result<std::string> Base64Decode(std::string_view text);

}  // namespace carnet::crypto
