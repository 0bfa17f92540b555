#include "store/open.hpp"

namespace carnet::store {

Result<std::unique_ptr<Store>> OpenStore(const StoreOptions& options, crypto::MasterKey master) {
    if (options.engine == "sqlite") return OpenSqliteStore(options, std::move(master));
    if (options.engine == "postgres") return OpenPostgresStore(options, std::move(master));
    return Error::Invalid("unknown store engine (expected sqlite or postgres)");
}

}  // namespace carnet::store
