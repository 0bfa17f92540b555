#pragma once
/// Logging goes through spdlog. Rule: ids and counts only; never bodies, query strings,
/// secrets or health content.
#include <spdlog/spdlog.h>

namespace carnet {
/// Configures the default logger (stderr, level from "trace".."off").
void InitLogging(const std::string& level);
}  // namespace carnet
