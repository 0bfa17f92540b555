#include "access/grid.hpp"

#include <boost/json.hpp>

#include "fhir/json.hpp"

namespace carnet::access {

namespace embedded {
extern const std::string_view kDefaultGrid;
}  // namespace embedded

namespace json = boost::json;

namespace {

constexpr std::array<std::string_view, kGridColumns + 1> kCodes = {
    "10",           "11",         "31",        "42",         "43",
    "44",           "45",         "52",        "60",         "90",
    "95",           "conditions", "allergies", "treatments", "immunizations",
    "measurements", "record"};

std::string_view CellCode(Cell c) {
    switch (c) {
        case Cell::kYes:
            return "Y";
        case Cell::kPartial:
            return "P";
        case Cell::kNo:
            return "N";
    }
    return "N";
}

}  // namespace

std::string_view CategoryCode(Category c) { return kCodes[static_cast<size_t>(c)]; }

std::optional<Category> CategoryFromCode(std::string_view code) {
    for (size_t i = 0; i < kCodes.size(); ++i) {
        if (kCodes[i] == code) return static_cast<Category>(i);
    }
    return std::nullopt;
}

Cell Grid::At(std::string_view profession, Category c) const {
    if (c == Category::kRecord) return Cell::kYes;
    auto it = rows_.find(profession);
    if (it == rows_.end()) return Cell::kNo;
    return it->second[static_cast<size_t>(c)];
}

void Grid::Set(const std::string& profession, Category c, Cell cell) {
    if (c == Category::kRecord) return;
    auto [it, inserted] = rows_.try_emplace(profession);
    if (inserted) it->second.fill(Cell::kNo);
    it->second[static_cast<size_t>(c)] = cell;
}

std::vector<std::string> Grid::Professions() const {
    std::vector<std::string> out;
    out.reserve(rows_.size());
    for (const auto& [p, _] : rows_) out.push_back(p);
    return out;
}

std::string Grid::ToJson() const {
    json::object professions;
    for (const auto& [p, cells] : rows_) {
        json::object row;
        for (int i = 0; i < kGridColumns; ++i) {
            row[kCodes[static_cast<size_t>(i)]] = CellCode(cells[static_cast<size_t>(i)]);
        }
        professions[p] = std::move(row);
    }
    return json::serialize(json::object{{"professions", std::move(professions)}});
}

Result<Grid> Grid::FromJson(std::string_view text) {
    CARNET_TRY(json::value v, fhir::ParseJson(text, 8));
    if (!v.is_object()) return Error::Invalid("the grid must be a JSON object");
    const auto* professions = v.as_object().if_contains("professions");
    if (!professions || !professions->is_object() || professions->as_object().empty()) {
        return Error::Invalid("the grid needs a non-empty \"professions\" object", "professions");
    }
    Grid grid;
    for (const auto& [name, row] : professions->as_object()) {
        const std::string p(name);
        if (p.empty() || p.size() > 64) return Error::Invalid("a profession code is invalid");
        if (!row.is_object()) return Error::Invalid("row " + p + " must be an object", p);
        const auto& cells = row.as_object();
        std::array<Cell, kGridColumns> out{};
        for (int i = 0; i < kGridColumns; ++i) {
            const auto* cell = cells.if_contains(kCodes[static_cast<size_t>(i)]);
            if (!cell || !cell->is_string()) {
                return Error::Invalid(
                    "row " + p + " lacks column " + std::string(kCodes[static_cast<size_t>(i)]), p);
            }
            const auto& s = cell->as_string();
            if (s == "Y") {
                out[static_cast<size_t>(i)] = Cell::kYes;
            } else if (s == "N") {
                out[static_cast<size_t>(i)] = Cell::kNo;
            } else if (s == "P") {
                out[static_cast<size_t>(i)] = Cell::kPartial;
            } else {
                return Error::Invalid("cells are Y, N or P (row " + p + ")", p);
            }
        }
        for (const auto& [col, _] : cells) {
            auto c = CategoryFromCode(col);
            if (!c || *c == Category::kRecord) {
                return Error::Invalid("unknown column '" + std::string(col).substr(0, 32) + "'", p);
            }
        }
        grid.rows_[p] = out;
    }
    return grid;
}

const Grid& Grid::Default() {
    static const Grid grid = [] {
        auto g = FromJson(embedded::kDefaultGrid);
        if (!g.ok()) std::abort();  // the shipped file is checked by a test
        return std::move(g).value();
    }();
    return grid;
}

}  // namespace carnet::access
