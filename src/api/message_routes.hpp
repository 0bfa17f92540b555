#pragma once
/// Secure messaging over HTTP (docs/MESSAGING.md): the portal's JSON routes under /messages,
/// signed in through the Authenticator like /access (operators are refused), and the FHIR
/// view of messages as read-only `Communication` resources. Every answer comes from
/// messaging::MessageService, which decides and logs.
#include <string>

#include "api/auth_routes.hpp"
#include "api/fhir_service.hpp"
#include "http/router.hpp"
#include "messaging/service.hpp"

namespace carnet::api {

/// Largest JSON body of the /messages routes: a 10 000-character text is at most 40 KB of
/// UTF-8, plus JSON escaping.
inline constexpr uint64_t kMaxMessageBody = 128 * 1024;

void RegisterMessageRoutes(http::Router& router, const Authenticator& authenticator,
                           messaging::MessageService& service);

/// `GET /fhir/Communication?patient=…` (or `subject=Patient/…`): a searchset Bundle.
Result<std::string> SearchCommunications(messaging::MessageService& service,
                                         const QueryParams& params, const std::string& base_url,
                                         const Caller& caller);
/// `GET /fhir/Communication/{id}`: one message, or the same kNotFound as an unknown id.
Result<std::string> ReadCommunication(messaging::MessageService& service, const std::string& id,
                                      const Caller& caller);

}  // namespace carnet::api
