#pragma once
/// What a resource is for the grid: its category (DMP class or profile column) and whether
/// its type is a sensitive one. Pure; the mapping table ships with Carnet
/// (access/document_classes.json, embedded at build time).
#include <boost/json/fwd.hpp>
#include <string_view>

#include "access/grid.hpp"

namespace carnet::access {

struct Classification {
    Category category = Category::kRecord;
    bool sensitive = false;
};

/// The medical profile's columns of the grid (conditions, allergies, treatments,
/// immunizations, measurements).
bool IsProfileCategory(Category c);

/// `deposited_by_patient`: the holder (or a representative, a caregiver) wrote it: class 90,
/// except a profile entry, which keeps its profile column.
Classification Classify(const boost::json::object& resource, bool deposited_by_patient = false);
/// The category of a resource type when its body is not at hand (search over a type).
Category CategoryOfType(std::string_view type);

}  // namespace carnet::access
