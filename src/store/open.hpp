#pragma once
/// Opening a store from configuration.
#include <filesystem>
#include <memory>
#include <string>

#include "core/result.hpp"
#include "crypto/crypto.hpp"
#include "store/store.hpp"

namespace carnet::store {

struct StoreOptions {
    std::string engine = "sqlite";            // "sqlite" | "postgres"
    std::filesystem::path data_dir = "data";  // sqlite: data_dir/carnet.db
    std::string pg_dsn;                       // postgres: libpq connection string
    int pg_pool_size = 8;
    /// Apply pending migrations on open (carnet serve and import do; `carnet migrate`
    /// does it explicitly).
    bool migrate = true;
    /// Group commit: the largest number of write jobs in one durable commit.
    int max_batch = 512;
};

/// Opens the configured engine with the given master key. Never throws.
Result<std::unique_ptr<Store>> OpenStore(const StoreOptions& options, crypto::MasterKey master);

Result<std::unique_ptr<Store>> OpenSqliteStore(const StoreOptions& options,
                                               crypto::MasterKey master);
Result<std::unique_ptr<Store>> OpenPostgresStore(const StoreOptions& options,
                                                 crypto::MasterKey master);

}  // namespace carnet::store
