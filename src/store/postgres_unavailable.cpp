// Placeholder until the PostgreSQL engine (postgres/) lands.
#include "store/open.hpp"

namespace carnet::store {
Result<std::unique_ptr<Store>> OpenPostgresStore(const StoreOptions&, crypto::MasterKey) {
    return Error::Make(Code::kNotImplemented, "not-supported",
                       "the PostgreSQL engine is not built in this binary");
}
}  // namespace carnet::store
