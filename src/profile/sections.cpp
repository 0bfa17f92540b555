#include "profile/sections.hpp"

namespace carnet::profile {}  // namespace carnet::profile
