#include "profile/vaccines.hpp"

namespace carnet::profile {}  // namespace carnet::profile
