#include "profile/vaccines.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <map>
#include <set>
#include <utility>

namespace carnet::profile {

namespace embedded {
extern const std::string_view kScheduleFr;
}  // namespace embedded

namespace json = boost::json;
namespace chrono = std::chrono;

namespace {

constexpr std::string_view kCarnetSystem = "https://carnet.health/fhir/CodeSystem/vaccine";

// The official URIs first; the others are spellings clinical software sends for the same
// code systems (an OID, the ATC site without "www").
bool IsCvx(std::string_view system) {
    return system == "http://hl7.org/fhir/sid/cvx" || system == "urn:oid:2.16.840.1.113883.12.292";
}
bool IsAtc(std::string_view system) {
    return system == "http://www.whocc.no/atc" || system == "http://whocc.no/atc" ||
           system == "urn:oid:2.16.840.1.113883.6.73";
}

/// "03" and "3" are the same CVX code: senders disagree on the leading zero.
std::string CvxKey(std::string_view code) {
    while (code.size() > 1 && code.front() == '0') code.remove_prefix(1);
    return std::string(code);
}

std::string AtcKey(std::string_view code) {
    std::string out(code);
    for (char& c : out) {
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// Dates and ages. Ages are added as the calendar does: 31 January + 1 month is the last day
// of February, so a child born on the 31st is due on the last day of shorter months.

/// An age as the schedule writes it, an ISO 8601 duration: "P2M", "P6W", "P11Y6M".
struct Age {
    int years = 0, months = 0, days = 0;
};

std::optional<Age> ParseAge(std::string_view s) {
    if (s.size() < 3 || s.front() != 'P') return std::nullopt;
    Age age;
    size_t i = 1;
    while (i < s.size()) {
        const size_t start = i;
        int n = 0;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9' && i - start < 4) {
            n = n * 10 + (s[i] - '0');
            ++i;
        }
        if (i == start || i == s.size()) return std::nullopt;
        switch (s[i]) {
            case 'Y':
                age.years += n;
                break;
            case 'M':
                age.months += n;
                break;
            case 'W':
                age.days += 7 * n;
                break;
            case 'D':
                age.days += n;
                break;
            default:
                return std::nullopt;
        }
        ++i;
    }
    return age;
}

/// "YYYY-MM-DD", alone or starting a dateTime ("2016-07-05T10:00:00+02:00": the local date).
std::optional<chrono::sys_days> ParseDate(std::string_view s) {
    if (s.size() < 10 || (s.size() > 10 && s[10] != 'T')) return std::nullopt;
    int parts[3] = {0, 0, 0};
    int part = 0;
    for (size_t i = 0; i < 10; ++i) {
        if (i == 4 || i == 7) {
            if (s[i] != '-') return std::nullopt;
            ++part;
        } else if (s[i] >= '0' && s[i] <= '9') {
            parts[part] = parts[part] * 10 + (s[i] - '0');
        } else {
            return std::nullopt;
        }
    }
    const chrono::year_month_day ymd{chrono::year{parts[0]},
                                     chrono::month{static_cast<unsigned>(parts[1])},
                                     chrono::day{static_cast<unsigned>(parts[2])}};
    if (parts[0] < 1 || !ymd.ok()) return std::nullopt;
    return chrono::sys_days(ymd);
}

std::string FormatDate(chrono::sys_days d) {
    const chrono::year_month_day ymd(d);
    char buf[16];
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                  static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
    return buf;
}

chrono::sys_days Plus(chrono::sys_days from, const Age& age) {
    const chrono::year_month_day ymd(from);
    const chrono::year_month ym =
        ymd.year() / ymd.month() + chrono::years{age.years} + chrono::months{age.months};
    const chrono::day last =
        chrono::year_month_day_last(ym.year(), ym.month() / chrono::last).day();
    return chrono::sys_days(ym / std::min(ymd.day(), last)) + chrono::days{age.days};
}

// ---------------------------------------------------------------------------------------------
// The schedule file, read once.

struct Vaccine {
    std::string code, label;
    std::vector<std::string> antigens;
};

struct Line {
    std::string id, vaccine, label;
    int dose = 1;
    std::vector<std::string> antigens;          // all required for the line to be done
    Age due, min;                               // min: the age from which a dose counts
    std::map<std::string, Age> min_by_antigen;  // exceptions to min, for one antigen
    Age overdue;                                // unused for yearly lines
    std::optional<Age> limit;                   // catch-up limit; none: catch up at any age
    std::optional<chrono::sys_days> born_from;  // the line applies to people born then or later
    bool yearly = false;
};

struct Schedule {
    std::vector<Vaccine> vaccines;
    std::map<std::string, size_t, std::less<>> by_code, by_cvx, by_atc;
    std::vector<Line> lines;
    chrono::month_day season_start, counts_from;
};

[[noreturn]] void Broken() {
    std::abort();  // shipped file, checked by tests/profile/vaccines_test.cpp
}

const json::value& At(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    if (!v) Broken();
    return *v;
}

std::string String(const json::object& o, std::string_view key) {
    const auto& v = At(o, key);
    if (!v.is_string()) Broken();
    return std::string(v.as_string());
}

std::vector<std::string> Strings(const json::object& o, std::string_view key) {
    const auto& v = At(o, key);
    if (!v.is_array()) Broken();
    std::vector<std::string> out;
    for (const auto& e : v.as_array()) {
        if (!e.is_string()) Broken();
        out.emplace_back(e.as_string());
    }
    return out;
}

Age AgeAt(const json::object& o, std::string_view key) {
    auto a = ParseAge(String(o, key));
    if (!a) Broken();
    return *a;
}

chrono::month_day MonthDay(const json::object& o, std::string_view key) {
    // "10-01": read as a date of a leap year so that "02-29" would be accepted too.
    auto d = ParseDate("2000-" + String(o, key));
    if (!d) Broken();
    const chrono::year_month_day ymd(*d);
    return ymd.month() / ymd.day();
}

Schedule Load() {
    std::error_code ec;
    const json::value root = json::parse(embedded::kScheduleFr, ec);
    if (ec || !root.is_object()) Broken();
    const auto& o = root.as_object();
    Schedule s;
    const auto& season = At(o, "season");
    if (!season.is_object()) Broken();
    s.season_start = MonthDay(season.as_object(), "start");
    s.counts_from = MonthDay(season.as_object(), "counts_from");

    const auto& vaccines = At(o, "vaccines");
    if (!vaccines.is_array()) Broken();
    for (const auto& e : vaccines.as_array()) {
        if (!e.is_object()) Broken();
        const auto& row = e.as_object();
        const size_t index = s.vaccines.size();
        s.vaccines.push_back({String(row, "code"), String(row, "label"), Strings(row, "antigens")});
        if (s.vaccines.back().antigens.empty()) Broken();
        if (!s.by_code.emplace(s.vaccines.back().code, index).second) Broken();
        for (const auto& c : Strings(row, "cvx")) {
            if (!s.by_cvx.emplace(CvxKey(c), index).second) Broken();
        }
        for (const auto& c : Strings(row, "atc")) {
            if (!s.by_atc.emplace(AtcKey(c), index).second) Broken();
        }
    }

    const auto& schedule = At(o, "schedule");
    if (!schedule.is_array()) Broken();
    for (const auto& e : schedule.as_array()) {
        if (!e.is_object()) Broken();
        const auto& row = e.as_object();
        Line line;
        line.id = String(row, "id");
        line.vaccine = String(row, "vaccine");
        line.label = String(row, "label");
        const auto& dose = At(row, "dose");
        if (!dose.is_int64()) Broken();
        line.dose = static_cast<int>(dose.as_int64());
        line.antigens = Strings(row, "antigens");
        if (line.antigens.empty() || !s.by_code.contains(line.vaccine)) Broken();
        line.due = AgeAt(row, "due");
        line.min = AgeAt(row, "min");
        if (const auto* y = row.if_contains("yearly"); y && y->is_bool())
            line.yearly = y->as_bool();
        if (!line.yearly) line.overdue = AgeAt(row, "overdue");
        if (row.contains("limit")) line.limit = AgeAt(row, "limit");
        if (const auto* m = row.if_contains("min_by_antigen")) {
            if (!m->is_object()) Broken();
            for (const auto& kv : m->as_object()) {
                const std::string antigen(kv.key());
                if (std::find(line.antigens.begin(), line.antigens.end(), antigen) ==
                    line.antigens.end())
                    Broken();
                if (!kv.value().is_string()) Broken();
                auto age = ParseAge(kv.value().as_string());
                if (!age) Broken();
                line.min_by_antigen[antigen] = *age;
            }
        }
        if (row.contains("born_from")) {
            line.born_from = ParseDate(String(row, "born_from"));
            if (!line.born_from) Broken();
        }
        s.lines.push_back(std::move(line));
    }
    return s;
}

const Schedule& TheSchedule() {
    static const Schedule schedule = Load();
    return schedule;
}

std::string_view Str(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    return v && v->is_string() ? std::string_view(v->as_string()) : std::string_view();
}

bool Carries(const Dose& d, const std::string& antigen) {
    return std::find(d.antigens.begin(), d.antigens.end(), antigen) != d.antigens.end();
}

/// A dose usable by the booklet: its date read once.
struct Given {
    chrono::sys_days date;
    const Dose* dose;
};

}  // namespace

std::optional<Dose> DoseOf(const json::object& immunization, const std::string& id) {
    // not-done and entered-in-error record no dose; a subpotent dose does not count either.
    if (Str(immunization, "status") != "completed") return std::nullopt;
    if (const auto* s = immunization.if_contains("isSubpotent"); s && s->is_bool() && s->as_bool())
        return std::nullopt;
    std::string_view when = Str(immunization, "occurrenceDateTime");
    if (when.empty()) when = Str(immunization, "occurrenceString");
    const auto date = ParseDate(when);
    if (!date) return std::nullopt;

    const Schedule& s = TheSchedule();
    Dose dose{id, FormatDate(*date), {}};
    const auto* concept_value = immunization.if_contains("vaccineCode");
    if (!concept_value || !concept_value->is_object()) return std::nullopt;
    const auto* codings = concept_value->as_object().if_contains("coding");
    if (!codings || !codings->is_array()) return std::nullopt;
    // A record may code the product several ways (Carnet, CVX, ATC): the dose carries every
    // antigen any of its known codings names.
    for (const auto& c : codings->as_array()) {
        if (!c.is_object()) continue;
        const std::string_view system = Str(c.as_object(), "system");
        const std::string_view code = Str(c.as_object(), "code");
        if (code.empty()) continue;
        const std::map<std::string, size_t, std::less<>>* table = nullptr;
        std::string key;
        if (system == kCarnetSystem) {
            table = &s.by_code;
            key = std::string(code);
        } else if (IsCvx(system)) {
            table = &s.by_cvx;
            key = CvxKey(code);
        } else if (IsAtc(system)) {
            table = &s.by_atc;
            key = AtcKey(code);
        } else {
            continue;
        }
        const auto it = table->find(key);
        if (it == table->end()) continue;
        for (const auto& antigen : s.vaccines[it->second].antigens) {
            if (!Carries(dose, antigen)) dose.antigens.push_back(antigen);
        }
    }
    if (dose.antigens.empty()) return std::nullopt;
    return dose;
}

std::vector<BookletLine> Booklet(std::string_view birth_date, std::string_view today,
                                 const std::vector<Dose>& doses) {
    const auto birth = ParseDate(birth_date);
    const auto now = ParseDate(today);
    if (!birth || !now || *birth > *now) return {};
    const Schedule& s = TheSchedule();

    // Doses from birth to today, oldest first: the assignment takes the earliest that fits.
    std::vector<Given> given;
    for (const auto& d : doses) {
        const auto date = ParseDate(d.date);
        if (date && *date >= *birth && *date <= *now) given.push_back({*date, &d});
    }
    std::stable_sort(given.begin(), given.end(),
                     [](const Given& a, const Given& b) { return a.date < b.date; });

    // Each line's due date; a yearly line stands for the season of today (or of the first
    // season the person is old enough for).
    struct Planned {
        const Line* line;
        chrono::sys_days due;
        chrono::sys_days from, until;  // the doses that count: [from, until)
        int season = 0;
    };
    constexpr chrono::sys_days kNever{chrono::days{std::numeric_limits<int>::max() / 2}};
    std::vector<Planned> planned;
    for (const auto& line : s.lines) {
        if (line.born_from && *birth < *line.born_from) continue;
        const chrono::sys_days eligible = Plus(*birth, line.min);
        if (!line.yearly) {
            planned.push_back({&line, Plus(*birth, line.due), eligible,
                               line.limit ? Plus(*birth, *line.limit) : kNever});
            continue;
        }
        const chrono::sys_days reference = std::max(*now, eligible);
        const chrono::year_month_day ref(reference);
        chrono::year season = ref.year();
        if (reference < chrono::sys_days(season / s.counts_from)) --season;
        const chrono::sys_days start(season / s.season_start);
        planned.push_back({&line, std::max(eligible, start),
                           chrono::sys_days(season / s.counts_from),
                           chrono::sys_days((season + chrono::years{1}) / s.counts_from),
                           static_cast<int>(season)});
    }
    std::stable_sort(planned.begin(), planned.end(),
                     [](const Planned& a, const Planned& b) { return a.due < b.due; });

    const chrono::sys_days horizon = Plus(*now, Age{2, 0, 0});
    std::set<std::pair<size_t, std::string>> used;  // (dose, antigen) already given to a line
    std::vector<BookletLine> out;
    for (const auto& p : planned) {
        if (p.due > horizon) break;  // sorted: every later line is beyond it too
        const Line& line = *p.line;
        BookletLine b;
        b.item = line.id;
        b.vaccine = line.vaccine;
        b.label = line.label;
        if (line.yearly) {
            b.label += ", saison " + std::to_string(p.season) + "-" + std::to_string(p.season + 1);
        }
        b.dose = line.dose;
        b.due = FormatDate(p.due);
        if (!line.yearly) b.overdue = FormatDate(Plus(*birth, line.overdue));

        std::vector<size_t> picked;
        std::vector<std::string> missing;
        for (const auto& antigen : line.antigens) {
            const auto exception = line.min_by_antigen.find(antigen);
            const chrono::sys_days from = exception == line.min_by_antigen.end() || line.yearly
                                              ? p.from
                                              : Plus(*birth, exception->second);
            bool found = false;
            for (size_t i = 0; i < given.size() && !found; ++i) {
                const Given& g = given[i];
                if (g.date < from || g.date >= p.until || !Carries(*g.dose, antigen) ||
                    used.contains({i, antigen}))
                    continue;
                used.insert({i, antigen});
                if (std::find(picked.begin(), picked.end(), i) == picked.end()) {
                    picked.push_back(i);
                }
                found = true;
            }
            if (!found) missing.push_back(antigen);
        }
        std::sort(picked.begin(), picked.end());
        for (size_t i : picked) b.immunizations.push_back(given[i].dose->immunization_id);

        if (missing.empty()) {
            b.status = "done";
            b.given = FormatDate(given[picked.back()].date);
        } else {
            if (!picked.empty()) b.missing = std::move(missing);
            if (line.limit && *now >= p.until) {
                b.status = "not-recorded";
            } else if (*now < p.due) {
                b.status = "upcoming";
            } else if (line.yearly || *now < Plus(*birth, line.overdue)) {
                b.status = "due";
            } else {
                b.status = "overdue";
            }
        }
        out.push_back(std::move(b));
    }
    return out;
}

json::array ToJson(const std::vector<BookletLine>& lines) {
    auto strings = [](const std::vector<std::string>& v) {
        json::array a;
        for (const auto& s : v) a.emplace_back(s);
        return a;
    };
    // An absent date (no overdue for a yearly line, nothing given yet) is null, not "".
    auto date = [](const std::string& d) { return d.empty() ? json::value() : json::value(d); };
    json::array out;
    for (const auto& l : lines) {
        out.emplace_back(json::object{
            {"item", l.item},
            {"vaccine", l.vaccine},
            {"label", l.label},
            {"dose", l.dose},
            {"due", date(l.due)},
            {"overdue", date(l.overdue)},
            {"status", l.status},
            {"given", date(l.given)},
            {"immunizations", strings(l.immunizations)},
            {"missing", strings(l.missing)},
        });
    }
    return out;
}

json::array VaccineCatalogue() {
    json::array out;
    for (const auto& v : TheSchedule().vaccines) {
        json::array antigens;
        for (const auto& a : v.antigens) antigens.emplace_back(a);
        out.emplace_back(
            json::object{{"code", v.code}, {"label", v.label}, {"antigens", std::move(antigens)}});
    }
    return out;
}

}  // namespace carnet::profile
