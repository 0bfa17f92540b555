#pragma once
/// The authorization grid: profession × document class → Y (allowed), N (refused), P
/// (allowed except the sensitive document types). It is data: the default ships with Carnet
/// (access/default_grid.json, embedded at build time) and admins edit it through the API;
/// each edit is a new version (access_grid table, context.hpp).
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace carnet::access {

/// What a resource is, for the grid. The first eleven are the French DMP document classes;
/// the profile resources have their own columns. kRecord is the record itself (the Patient
/// resource, the fact that the record exists): any basis sees it, no grid cell applies.
enum class Category : uint8_t {
    kC10,  // compte rendu
    kC11,  // synthèse
    kC31,  // imagerie
    kC42,  // prescription
    kC43,  // dispensation
    kC44,  // plan de soins
    kC45,  // traitement administré
    kC52,  // certificat
    kC60,  // remboursement
    kC90,  // déposé par le patient
    kC95,  // gestion
    kConditions,
    kAllergies,
    kTreatments,
    kImmunizations,
    kMeasurements,
    kRecord,
};
inline constexpr int kGridColumns = 16;  // every category but kRecord

enum class Cell : uint8_t { kNo, kYes, kPartial };

/// Column code of a category in the grid file and the log: "10" … "95", "conditions",
/// "allergies", "treatments", "immunizations", "measurements", "record".
std::string_view CategoryCode(Category c);
std::optional<Category> CategoryFromCode(std::string_view code);

class Grid {
  public:
    /// The cell for a profession (auth::Professions() code); an unknown profession is N
    /// everywhere.
    [[nodiscard]] Cell At(std::string_view profession, Category c) const;
    void Set(const std::string& profession, Category c, Cell cell);
    [[nodiscard]] std::vector<std::string> Professions() const;

    /// {"professions": {"medecin": {"10": "Y", …}, …}}: every profession has every column.
    [[nodiscard]] std::string ToJson() const;
    /// Refuses unknown columns or values, missing columns, an empty grid.
    static Result<Grid> FromJson(std::string_view text);
    /// The grid shipped with Carnet (the table; profile columns added).
    static const Grid& Default();

  private:
    std::map<std::string, std::array<Cell, kGridColumns>, std::less<>> rows_;
};

}  // namespace carnet::access
