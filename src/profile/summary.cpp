#include "profile/summary.hpp"

namespace carnet::profile {}  // namespace carnet::profile
