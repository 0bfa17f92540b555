#pragma once
/// The bridge from identity to access: a signed-in Principal becomes the access::Actor that
/// Decide reasons about.
#include "access/decision.hpp"
#include "auth/service.hpp"

namespace carnet::api {

/// Directory specialty of the SAMU regulation physicians (who may open ETREAT access).
inline constexpr std::string_view kSamuSpecialty = "regulation-samu";

access::Actor ActorOf(const auth::AuthService& auth, const auth::Principal& who);

}  // namespace carnet::api
