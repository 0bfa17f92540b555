/// Code -> HTTP status and Error -> OperationOutcome, in one place.
/// FHIR R4 RESTful API, "Error handling": https://hl7.org/fhir/R4/http.html#summary
#include <boost/json.hpp>

#include "http/types.hpp"

namespace carnet::http {

namespace {

/// FHIR issue-type code used when an Error carries no issue of its own.
const char* DefaultIssueCode(Code code) {
    switch (code) {
        case Code::kOk:
            return "informational";
        case Code::kInvalid:
            return "invalid";
        case Code::kNotFound:
        case Code::kGone:
            return "not-found";
        case Code::kConflict:
            return "conflict";
        case Code::kPreconditionFailed:
            return "conflict";
        case Code::kUnprocessable:
            return "business-rule";
        case Code::kTooLarge:
            return "too-costly";
        case Code::kUnsupportedMedia:
            return "not-supported";
        case Code::kUnauthenticated:
            return "login";
        case Code::kForbidden:
            return "forbidden";
        case Code::kTooManyRequests:
            return "throttled";
        case Code::kTimeout:
            return "timeout";
        case Code::kUnavailable:
            return "transient";
        case Code::kInternal:
            return "exception";
        case Code::kNotImplemented:
        case Code::kMethodNotAllowed:
            return "not-supported";
    }
    return "exception";
}

}  // namespace

int StatusFor(Code code) {
    switch (code) {
        case Code::kOk:
            return 200;
        case Code::kInvalid:
            return 400;
        case Code::kNotFound:
            return 404;
        case Code::kGone:
            return 410;
        case Code::kConflict:
            return 409;
        case Code::kPreconditionFailed:
            return 412;
        case Code::kUnprocessable:
            return 422;
        case Code::kTooLarge:
            return 413;
        case Code::kUnsupportedMedia:
            return 415;
        case Code::kUnauthenticated:
            return 401;
        case Code::kForbidden:
            return 403;
        case Code::kTooManyRequests:
            return 429;
        case Code::kTimeout:
            return 408;
        case Code::kUnavailable:
            return 503;
        case Code::kInternal:
            return 500;
        case Code::kNotImplemented:
            return 501;
        case Code::kMethodNotAllowed:
            return 405;
    }
    return 500;  // an out-of-range enum value is a bug; never leak it as a 2xx
}

std::string OperationOutcomeJson(const std::vector<Issue>& issues) {
    boost::json::array issue_array;
    issue_array.reserve(issues.size());
    for (const Issue& issue : issues) {
        boost::json::object entry;
        entry["severity"] = issue.severity.empty() ? "error" : issue.severity;
        entry["code"] = issue.code.empty() ? "processing" : issue.code;
        if (!issue.diagnostics.empty()) entry["diagnostics"] = issue.diagnostics;
        if (!issue.expression.empty()) {
            entry["expression"] = boost::json::array{boost::json::string(issue.expression)};
        }
        issue_array.emplace_back(std::move(entry));
    }
    boost::json::object outcome;
    outcome["resourceType"] = "OperationOutcome";
    outcome["issue"] = std::move(issue_array);
    return boost::json::serialize(outcome);
}

Response ErrorResponse(const Error& error) {
    Response response;
    response.status = StatusFor(error.code);
    response.content_type = "application/fhir+json";
    if (error.issues.empty()) {
        // OperationOutcome requires at least one issue; error.detail is internal, never sent.
        response.body = OperationOutcomeJson(
            {Issue{"error", DefaultIssueCode(error.code), std::string(), std::string()}});
    } else {
        response.body = OperationOutcomeJson(error.issues);
    }
    if (error.retry_after_s > 0) response.With("Retry-After", std::to_string(error.retry_after_s));
    return response;
}

Response ErrorResponse(Code code, std::string issue_code, std::string diagnostics) {
    return ErrorResponse(Error::Make(code, std::move(issue_code), std::move(diagnostics)));
}

}  // namespace carnet::http
