#include "profile/measures.hpp"

namespace carnet::profile {}  // namespace carnet::profile
