#include "store/keyring.hpp"

namespace carnet::store {

std::optional<crypto::Key> Keyring::Cached(const std::string& patient_id) const {
    std::shared_lock lock(mu_);
    auto it = cache_.find(patient_id);
    if (it == cache_.end()) return std::nullopt;
    return it->second;
}

Result<crypto::Key> Keyring::Adopt(const std::string& patient_id, const std::string& wrapped) {
    CARNET_TRY(crypto::Key key, master_.Unwrap(wrapped, patient_id));
    Remember(patient_id, key);
    return key;
}

std::pair<crypto::Key, std::string> Keyring::Create(const std::string& patient_id) const {
    crypto::Key key = crypto::NewKey();
    return {key, master_.Wrap(key, patient_id)};
}

void Keyring::Remember(const std::string& patient_id, const crypto::Key& key) {
    std::unique_lock lock(mu_);
    cache_[patient_id] = key;
}

void Keyring::Forget(const std::string& patient_id) {
    std::unique_lock lock(mu_);
    cache_.erase(patient_id);
}

}  // namespace carnet::store
