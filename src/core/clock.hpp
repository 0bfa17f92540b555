#pragma once
/// Injected time and randomness: tests substitute fixed ones.
#include <chrono>
#include <cstdint>
#include <string>

namespace carnet {

class Clock {
  public:
    virtual ~Clock() = default;
    /// Microseconds since the Unix epoch.
    [[nodiscard]] virtual int64_t NowMicros() const = 0;
};

class SystemClock final : public Clock {
  public:
    [[nodiscard]] int64_t NowMicros() const override;
};

/// A clock tests can set and advance.
class FixedClock final : public Clock {
  public:
    explicit FixedClock(int64_t micros) : micros_(micros) {}
    [[nodiscard]] int64_t NowMicros() const override { return micros_; }
    void AdvanceForTest(int64_t micros) { micros_ += micros; }

  private:
    int64_t micros_;
};

/// FHIR instant, e.g. "2026-11-22T10:00:00.123456Z" (UTC, microseconds).
std::string FormatInstant(int64_t micros);
/// HTTP-date (RFC 9110 IMF-fixdate) for Last-Modified.
std::string FormatHttpDate(int64_t micros);

/// Parses a FHIR date / dateTime / instant (partial dates allowed: "2020", "2020-05",
/// "2020-05-01", "2020-05-01T10:00:00+02:00"). Returns the lower and upper bound in
/// microseconds since the epoch (UTC) of the period the value denotes: [low, high].
/// Returns false when the text is not a FHIR date.
bool ParseFhirDateRange(std::string_view text, int64_t& low, int64_t& high);

}  // namespace carnet
