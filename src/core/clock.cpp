#include "core/clock.hpp"

#include <cctype>
#include <charconv>
#include <ctime>

namespace carnet {

int64_t SystemClock::NowMicros() const {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

namespace {

// Days since 1970-01-01 for a proleptic Gregorian date (H. Hinnant's algorithm).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void CivilFromDays(int64_t z, int64_t& y, unsigned& m, unsigned& d) {
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const auto doe = static_cast<unsigned>(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    y = static_cast<int64_t>(yoe) + era * 400;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp < 10 ? mp + 3 : mp - 9;
    y += (m <= 2);
}

bool Digits(std::string_view s, size_t pos, size_t n, int& out) {
    if (pos + n > s.size()) return false;
    int v = 0;
    for (size_t i = 0; i < n; ++i) {
        char c = s[pos + i];
        if (!std::isdigit(static_cast<unsigned char>(c))) return false;
        v = v * 10 + (c - '0');
    }
    out = v;
    return true;
}

unsigned DaysInMonth(int64_t y, unsigned m) {
    static const unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
    return kDays[m - 1];
}

constexpr int64_t kMicrosPerSecond = 1'000'000;
constexpr int64_t kMicrosPerDay = 86'400 * kMicrosPerSecond;

}  // namespace

std::string FormatInstant(int64_t micros) {
    int64_t days =
        micros >= 0 ? micros / kMicrosPerDay : (micros - kMicrosPerDay + 1) / kMicrosPerDay;
    int64_t rem = micros - days * kMicrosPerDay;
    int64_t y;
    unsigned m, d;
    CivilFromDays(days, y, m, d);
    const int64_t secs = rem / kMicrosPerSecond;
    const int64_t frac = rem % kMicrosPerSecond;
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lld.%06lldZ",
                  static_cast<long long>(y), m, d, static_cast<long long>(secs / 3600),
                  static_cast<long long>((secs / 60) % 60), static_cast<long long>(secs % 60),
                  static_cast<long long>(frac));
    return buf;
}

std::string FormatHttpDate(int64_t micros) {
    std::time_t t = static_cast<std::time_t>(micros / kMicrosPerSecond);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    return buf;
}

bool ParseFhirDateRange(std::string_view s, int64_t& low, int64_t& high) {
    int year = 0, month = 1, day = 1;
    if (!Digits(s, 0, 4, year)) return false;
    if (s.size() == 4) {
        low = DaysFromCivil(year, 1, 1) * kMicrosPerDay;
        high = DaysFromCivil(year + 1, 1, 1) * kMicrosPerDay - 1;
        return true;
    }
    if (s[4] != '-' || !Digits(s, 5, 2, month) || month < 1 || month > 12) return false;
    if (s.size() == 7) {
        low = DaysFromCivil(year, month, 1) * kMicrosPerDay;
        high = low + DaysInMonth(year, month) * kMicrosPerDay - 1;
        return true;
    }
    if (s.size() < 10 || s[7] != '-' || !Digits(s, 8, 2, day) || day < 1 ||
        static_cast<unsigned>(day) > DaysInMonth(year, month))
        return false;
    const int64_t day_start = DaysFromCivil(year, month, day) * kMicrosPerDay;
    if (s.size() == 10) {
        low = day_start;
        high = day_start + kMicrosPerDay - 1;
        return true;
    }
    // dateTime: THH:MM[:SS[.fff]](Z|+hh:mm|-hh:mm). FHIR requires seconds, searches
    // commonly omit them, so they are optional here.
    int hh = 0, mm = 0, ss = 0;
    if (s[10] != 'T' || !Digits(s, 11, 2, hh) || s.size() < 16 || s[13] != ':' ||
        !Digits(s, 14, 2, mm) || hh > 23 || mm > 59)
        return false;
    size_t pos = 16;
    int64_t frac_micros = 0;
    bool has_frac = false;
    bool has_seconds = false;
    if (pos < s.size() && s[pos] == ':') {
        if (!Digits(s, pos + 1, 2, ss) || ss > 60) return false;
        has_seconds = true;
        pos += 3;
        if (pos < s.size() && s[pos] == '.') {
            ++pos;
            int64_t scale = 100000;
            size_t start = pos;
            while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) {
                frac_micros += (s[pos] - '0') * scale;
                scale /= 10;
                ++pos;
            }
            if (pos == start) return false;
            has_frac = true;
        }
    }
    int64_t offset = 0;
    if (pos < s.size()) {
        if (s[pos] == 'Z') {
            ++pos;
        } else if (s[pos] == '+' || s[pos] == '-') {
            int oh = 0, om = 0;
            if (!Digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
                !Digits(s, pos + 4, 2, om))
                return false;
            offset = (oh * 3600 + om * 60) * kMicrosPerSecond;
            if (s[pos] == '-') offset = -offset;
            pos += 6;
        } else {
            return false;
        }
    }
    if (pos != s.size()) return false;
    low = day_start + (hh * 3600 + mm * 60 + ss) * kMicrosPerSecond + frac_micros - offset;
    if (has_frac) {
        high = low;
    } else if (has_seconds) {
        high = low + kMicrosPerSecond - 1;
    } else {
        high = low + 60 * kMicrosPerSecond - 1;
    }
    return true;
}

}  // namespace carnet
