#pragma once
/// Per-patient data keys, unwrapped on first use and cached in memory. Engines load and
/// store the wrapped form; the keyring never touches the database itself.
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>

#include "crypto/crypto.hpp"

namespace carnet::store {

class Keyring {
  public:
    explicit Keyring(crypto::MasterKey master) : master_(std::move(master)) {}

    /// Cached key, if any.
    std::optional<crypto::Key> Cached(const std::string& patient_id) const;
    /// Unwraps a stored key and caches it.
    Result<crypto::Key> Adopt(const std::string& patient_id, const std::string& wrapped);
    /// A new key and its wrapped form; cached only after the caller's commit (Remember).
    std::pair<crypto::Key, std::string> Create(const std::string& patient_id) const;
    void Remember(const std::string& patient_id, const crypto::Key& key);
    void Forget(const std::string& patient_id);

  private:
    crypto::MasterKey master_;
    mutable std::shared_mutex mu_;
    std::unordered_map<std::string, crypto::Key> cache_;
};

}  // namespace carnet::store
