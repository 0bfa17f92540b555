#include "fhir/definitions.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace carnet::fhir {
namespace {

const Definitions& R4() { return Definitions::R4(); }

TEST(DefinitionsTest, ResourceTypes) {
    EXPECT_EQ(R4().FhirVersion(), "4.0.1");
    EXPECT_EQ(R4().ResourceTypes().size(), 147u);  // concrete types of R4 4.0.1
    EXPECT_TRUE(std::is_sorted(R4().ResourceTypes().begin(), R4().ResourceTypes().end()));
    for (std::string_view type : {"Patient", "Observation", "Bundle", "Parameters", "Binary",
                                  "Consent", "AuditEvent", "DocumentReference"}) {
        EXPECT_TRUE(R4().IsResourceType(type)) << type;
    }
    // Abstract and non-resource names are not resource types.
    for (std::string_view name : {"Resource", "DomainResource", "HumanName", "patient", ""}) {
        EXPECT_FALSE(R4().IsResourceType(name)) << name;
    }
    EXPECT_TRUE(R4().IsPrimitiveType("dateTime"));
    EXPECT_FALSE(R4().IsPrimitiveType("Period"));
}

TEST(DefinitionsTest, ElementsWithCardinalityBindingsAndChoices) {
    const TypeDef* obs = R4().FindType("Observation");
    ASSERT_NE(obs, nullptr);
    EXPECT_TRUE(obs->is_resource);
    const ElementDef* status = obs->Find("status");
    ASSERT_NE(status, nullptr);
    EXPECT_EQ(status->types, std::vector<std::string>{"code"});
    EXPECT_EQ(status->min, 1);
    EXPECT_EQ(status->max, 1);
    EXPECT_EQ(status->required_codes,
              (std::vector<std::string>{"amended", "cancelled", "corrected", "entered-in-error",
                                        "final", "preliminary", "registered", "unknown"}));
    EXPECT_TRUE(status->AllowsCode("final"));
    EXPECT_FALSE(status->AllowsCode("done"));
    const ElementDef* category = obs->Find("category");
    ASSERT_NE(category, nullptr);
    EXPECT_EQ(category->max, -1);
    EXPECT_TRUE(category->required_codes.empty());  // preferred binding
    // value[x] is expanded; the base name is not an element.
    EXPECT_EQ(obs->Find("value"), nullptr);
    const ElementDef* value_quantity = obs->Find("valueQuantity");
    ASSERT_NE(value_quantity, nullptr);
    EXPECT_EQ(value_quantity->choice, "value");
    EXPECT_EQ(value_quantity->kind, Kind::kComplex);
    ASSERT_NE(value_quantity->type_def, nullptr);
    EXPECT_EQ(value_quantity->type_def->name, "Quantity");
    const ChoiceGroupDef* value_group = obs->FindChoiceGroup("value");
    ASSERT_NE(value_group, nullptr);
    EXPECT_EQ(value_group->variants.size(), 11u);
    // Backbone elements are types named by their path.
    const ElementDef* component = obs->Find("component");
    ASSERT_NE(component, nullptr);
    ASSERT_NE(component->type_def, nullptr);
    EXPECT_EQ(component->type_def->name, "Observation.component");
    EXPECT_NE(component->type_def->Find("modifierExtension"), nullptr);
    // contentReference: Questionnaire.item.item is a Questionnaire.item.
    const TypeDef* item = R4().FindType("Questionnaire.item");
    ASSERT_NE(item, nullptr);
    ASSERT_NE(item->Find("item"), nullptr);
    EXPECT_EQ(item->Find("item")->type_def, item);
    // Resource.id is an id, Element.id a string.
    EXPECT_EQ(R4().FindType("Patient")->Find("id")->kind, Kind::kId);
    EXPECT_EQ(R4().FindType("HumanName")->Find("id")->kind, Kind::kString);
    EXPECT_EQ(R4().FindType("Patient")->Find("contained")->kind, Kind::kResource);
    // Required elements (min 1).
    const TypeDef* ext = R4().FindType("Extension");
    ASSERT_NE(ext, nullptr);
    ASSERT_EQ(ext->required.size(), 1u);
    EXPECT_EQ(ext->required[0]->name, "url");
}

TEST(DefinitionsTest, SearchParams) {
    const SearchParamDef* code = R4().FindSearchParam("Observation", "code");
    ASSERT_NE(code, nullptr);
    EXPECT_EQ(code->type, "token");
    ASSERT_EQ(code->paths.size(), 1u);
    EXPECT_EQ(code->paths[0].steps, std::vector<std::string>{"code"});
    EXPECT_EQ(code->paths[0].leaf_type, "CodeableConcept");

    // Observation.effective (no `as`): every concrete variant.
    const SearchParamDef* date = R4().FindSearchParam("Observation", "date");
    ASSERT_NE(date, nullptr);
    std::vector<std::string> date_paths;
    for (const auto& p : date->paths) date_paths.push_back(p.steps[0]);
    EXPECT_EQ(date_paths, (std::vector<std::string>{"effectiveDateTime", "effectiveInstant",
                                                    "effectivePeriod", "effectiveTiming"}));

    // (Observation.value as Quantity) | (Observation.value as SampledData)
    const SearchParamDef* vq = R4().FindSearchParam("Observation", "value-quantity");
    ASSERT_NE(vq, nullptr);
    ASSERT_EQ(vq->paths.size(), 2u);
    EXPECT_EQ(vq->paths[0].steps, std::vector<std::string>{"valueQuantity"});

    // Observation.subject.where(resolve() is Patient)
    const SearchParamDef* patient = R4().FindSearchParam("Observation", "patient");
    ASSERT_NE(patient, nullptr);
    EXPECT_EQ(patient->type, "reference");
    ASSERT_EQ(patient->paths.size(), 1u);
    EXPECT_EQ(patient->paths[0].target_filter, "Patient");
    EXPECT_EQ(patient->targets, std::vector<std::string>{"Patient"});

    // Condition.abatement.as(Age) style, and nested paths.
    const SearchParamDef* family = R4().FindSearchParam("Patient", "family");
    ASSERT_NE(family, nullptr);
    EXPECT_EQ(family->paths[0].steps, (std::vector<std::string>{"name", "family"}));
    const SearchParamDef* abatement_age = R4().FindSearchParam("Condition", "abatement-age");
    ASSERT_NE(abatement_age, nullptr);
    EXPECT_EQ(abatement_age->paths[0].steps, std::vector<std::string>{"abatementAge"});

    // Patient.telecom.where(system='email')
    const SearchParamDef* email = R4().FindSearchParam("Patient", "email");
    ASSERT_NE(email, nullptr);
    EXPECT_EQ(email->paths[0].where_child, "system");
    EXPECT_EQ(email->paths[0].where_value, "email");

    // Composite: known with its components, not indexed.
    const SearchParamDef* cvq = R4().FindSearchParam("Observation", "code-value-quantity");
    ASSERT_NE(cvq, nullptr);
    EXPECT_EQ(cvq->type, "composite");
    EXPECT_TRUE(cvq->paths.empty());
    EXPECT_EQ(cvq->components, (std::vector<std::string>{"code", "value-quantity"}));

    // Common parameters, on every resource type.
    for (std::string_view common : {"_id", "_lastUpdated", "_tag", "_profile", "_security"}) {
        EXPECT_NE(R4().FindSearchParam("Observation", common), nullptr) << common;
        EXPECT_NE(R4().FindSearchParam("Basic", common), nullptr) << common;
    }
    EXPECT_EQ(R4().FindSearchParam("Observation", "_lastUpdated")->paths[0].steps,
              (std::vector<std::string>{"meta", "lastUpdated"}));
    EXPECT_EQ(R4().FindSearchParam("Observation", "nope"), nullptr);
    EXPECT_EQ(R4().FindSearchParam("Nope", "_id"), nullptr);

    const auto all = R4().SearchParams("Patient");
    EXPECT_GT(all.size(), 20u);
    EXPECT_TRUE(std::any_of(all.begin(), all.end(), [](auto* p) { return p->code == "_id"; }));
    EXPECT_TRUE(std::any_of(all.begin(), all.end(), [](auto* p) { return p->code == "name"; }));
    EXPECT_TRUE(R4().SearchParams("Nope").empty());
}

TEST(DefinitionsTest, PatientCompartment) {
    EXPECT_EQ(R4().PatientCompartmentParams("Observation"),
              (std::vector<std::string>{"subject", "performer"}));
    EXPECT_EQ(R4().PatientCompartmentParams("Immunization"), std::vector<std::string>{"patient"});
    EXPECT_EQ(R4().PatientCompartmentParams("Patient"), std::vector<std::string>{"link"});
    EXPECT_TRUE(R4().PatientCompartmentParams("Practitioner").empty());
    EXPECT_TRUE(R4().PatientCompartmentParams("Organization").empty());
    EXPECT_TRUE(R4().PatientCompartmentParams("Nope").empty());
    // Every compartment param is a known search parameter of the type.
    for (const auto& type : R4().ResourceTypes()) {
        for (const auto& param : R4().PatientCompartmentParams(type)) {
            EXPECT_NE(R4().FindSearchParam(type, param), nullptr) << type << "." << param;
        }
    }
}

TEST(DefinitionsTest, ParseRejectsMalformedTables) {
    EXPECT_FALSE(Definitions::Parse("").ok());
    EXPECT_FALSE(Definitions::Parse("[]").ok());
    EXPECT_FALSE(Definitions::Parse(R"({"fhirVersion": "4.0.1"})").ok());
    auto tiny = Definitions::Parse(R"({"fhirVersion": "x", "resources": ["Thing"],
        "primitives": ["string"], "codes": [],
        "types": {"Thing": [["name", "string", 1, 1, -1]]},
        "search": {"Resource": [["_id", "token", [["id", "id"]], []]]}, "compartment": {}})");
    ASSERT_TRUE(tiny.ok()) << tiny.error().detail;
    EXPECT_TRUE((*tiny)->IsResourceType("Thing"));
    EXPECT_NE((*tiny)->FindSearchParam("Thing", "_id"), nullptr);
    EXPECT_FALSE(Definitions::Parse(R"({"fhirVersion": "x", "resources": ["Thing"],
        "primitives": [], "codes": [], "types": {"Thing": [["a", "Missing", 0, 1, -1]]},
        "search": {"Resource": []}, "compartment": {}})")
                     .ok());
}

}  // namespace
}  // namespace carnet::fhir
