#pragma once
/// The French vaccination schedule ("calendrier des vaccinations", schedule_fr.json) compared
/// with a record's immunizations: the booklet's lines, each done, due, overdue, upcoming or
/// not recorded (docs/PROFILE.md, "BOOKLET_LINE").
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace carnet::profile {

struct Dose {
    std::string immunization_id;
    std::string date;                   // YYYY-MM-DD
    std::vector<std::string> antigens;  // "D", "T", "aP", "IPV", "Hib", "HepB", "PCV", …
};

/// The dose an Immunization records: nullopt when its status is not "completed", it is marked
/// isSubpotent, it has no occurrence date (occurrenceDateTime, or an occurrenceString that
/// starts with YYYY-MM-DD), or none of its vaccineCode codings is in the catalogue (by Carnet
/// code, CVX or ATC). The antigens are those of every coding that is.
std::optional<Dose> DoseOf(const boost::json::object& immunization, const std::string& id);

struct BookletLine {
    std::string item;     // "hexavalent-1"
    std::string vaccine;  // catalogue code
    std::string label;    // French
    int dose = 1;
    std::string due, overdue;  // YYYY-MM-DD; overdue is empty for yearly lines (never overdue)
    std::string status;        // done | due | overdue | upcoming | not-recorded
    std::string given;         // YYYY-MM-DD of the (last) dose that completed it, else empty
    std::vector<std::string> immunizations;
    std::vector<std::string> missing;  // antigens not yet covered (partly done lines)
};

/// The schedule's lines for a person born on `birth_date`, on `today` (both YYYY-MM-DD), in
/// order of due date. Lines beyond the next 2 years are left out. Each line takes, for each of
/// its antigens, the earliest dose not yet taken that carries it and was given between the
/// line's minimum age and its catch-up limit. Yearly lines (flu, Covid from 65) stand for the
/// current season. A bad or future birth date, or a bad `today`, gives no lines.
std::vector<BookletLine> Booklet(std::string_view birth_date, std::string_view today,
                                 const std::vector<Dose>& doses);

/// BOOKLET_LINE objects (docs/PROFILE.md); an empty `overdue` or `given` is written as null.
boost::json::array ToJson(const std::vector<BookletLine>& lines);

/// The vaccines a person can record: [{"code", "label", "antigens": [...]}].
boost::json::array VaccineCatalogue();

}  // namespace carnet::profile
