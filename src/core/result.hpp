#pragma once
/// Result<T> and Error: expected outcomes (not found, invalid, conflict, denied) are values.
/// Error carries a Code (mapped to an HTTP status in one place, http/error_map), FHIR issues
/// that may be shown to the client, and an internal detail that is logged, never sent.
#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace carnet {

enum class Code {
    kOk,
    kInvalid,             // 400: malformed input, structural validation failure
    kNotFound,            // 404
    kGone,                // 410: deleted resource
    kConflict,            // 409
    kPreconditionFailed,  // 412: If-Match version mismatch
    kUnprocessable,       // 422: business rule
    kTooLarge,            // 413
    kUnsupportedMedia,    // 415
    kUnauthenticated,     // 401
    kForbidden,           // 403
    kTooManyRequests,     // 429
    kTimeout,             // 408
    kUnavailable,         // 503
    kInternal,            // 500
    kNotImplemented,      // 501
    kMethodNotAllowed,    // 405
};

/// One FHIR OperationOutcome.issue.
struct Issue {
    std::string severity = "error";  // fatal | error | warning | information
    std::string code = "invalid";    // FHIR issue-type code
    std::string diagnostics;         // safe for the client: never health content
    std::string expression;          // FHIRPath of the element at fault, may be empty
};

struct Error {
    Code code = Code::kInternal;
    std::vector<Issue> issues;
    std::string detail;  // internal only: logged with the request id, never sent
    /// For kTooManyRequests / kUnavailable: seconds the client should wait (Retry-After).
    int retry_after_s = 0;

    static Error Make(Code c, std::string issue_code, std::string diagnostics,
                      std::string expression = {}) {
        Error e;
        e.code = c;
        e.issues.push_back(
            Issue{"error", std::move(issue_code), std::move(diagnostics), std::move(expression)});
        return e;
    }
    static Error Invalid(std::string diagnostics, std::string expression = {}) {
        return Make(Code::kInvalid, "invalid", std::move(diagnostics), std::move(expression));
    }
    static Error NotFound(std::string diagnostics) {
        return Make(Code::kNotFound, "not-found", std::move(diagnostics));
    }
    static Error Internal(std::string internal_detail) {
        Error e = Make(Code::kInternal, "exception", "internal error");
        e.detail = std::move(internal_detail);
        return e;
    }
    /// First diagnostics line, for logs and messages.
    [[nodiscard]] std::string Summary() const {
        return issues.empty() ? detail : issues.front().diagnostics;
    }
};

/// Shaped like std::expected<T, Error> (C++23), which g++ 12 lacks.
template <typename T>
class [[nodiscard]] Result {
  public:
    Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}      // NOLINT: implicit
    Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT: implicit

    [[nodiscard]] bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }

    T& value() & {
        assert(ok() && "value() on an error Result");
        return std::get<0>(v_);
    }
    const T& value() const& {
        assert(ok() && "value() on an error Result");
        return std::get<0>(v_);
    }
    T&& value() && {
        assert(ok() && "value() on an error Result");
        return std::get<0>(std::move(v_));
    }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }

    const Error& error() const& {
        assert(!ok() && "error() on a value Result");
        return std::get<1>(v_);
    }
    Error&& error() && {
        assert(!ok() && "error() on a value Result");
        return std::get<1>(std::move(v_));
    }

  private:
    std::variant<T, Error> v_;
};

/// Result for operations that return nothing on success.
struct Unit {};
using Status = Result<Unit>;
inline Status Ok() { return Unit{}; }

}  // namespace carnet

/// Propagates an error from an expression yielding Result<T>; binds the value otherwise.
#define CARNET_CONCAT_INNER(a, b) a##b
#define CARNET_CONCAT(a, b) CARNET_CONCAT_INNER(a, b)
#define CARNET_TRY_IMPL(tmp, decl, expr)          \
    auto tmp = (expr);                            \
    if (!tmp.ok()) return std::move(tmp).error(); \
    decl = std::move(tmp).value()
#define CARNET_TRY(decl, expr) CARNET_TRY_IMPL(CARNET_CONCAT(carnet_try_, __LINE__), decl, expr)
#define CARNET_CHECK_IMPL(tmp, expr)                  \
    do {                                              \
        auto tmp = (expr);                            \
        if (!tmp.ok()) return std::move(tmp).error(); \
    } while (0)
#define CARNET_CHECK(expr) CARNET_CHECK_IMPL(CARNET_CONCAT(carnet_chk_, __COUNTER__), expr)
