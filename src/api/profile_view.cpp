#include "api/profile_view.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <map>
#include <optional>

#include "access/classify.hpp"
#include "access/context.hpp"
#include "core/clock.hpp"
#include "core/ids.hpp"
#include "fhir/json.hpp"
#include "profile/measures.hpp"
#include "profile/sections.hpp"
#include "profile/summary.hpp"
#include "profile/vaccines.hpp"

namespace carnet::api {

namespace json = boost::json;

namespace {

/// Profile entries of one type in one record are many for a long life (Synthea gives a
/// 70-year-old thousands of vital signs): read in pages, up to this many per type.
constexpr size_t kMaxPerType = 5000;

struct Item {
    store::ResourceVersion rv;
    json::object body;
    std::string section;
    access::DocFlags flags;
    std::string date;  // clinical date, for sorting
};

struct Collected {
    store::ResourceVersion patient;
    json::object patient_body;
    std::vector<Item> items;
    bool withheld = false;
    bool minor = false;
    /// The grid lets the caller read vaccinations: the booklet is theirs to see (computed
    /// from only some doses, it would show vaccines as due that were given).
    bool reads_immunizations = true;
    std::map<std::string, bool, std::less<>> can_add;
    /// The caller may change or delete this entry now (the author, while the record is open).
    std::map<std::pair<std::string, std::string>, bool> editable;
};

std::string Str(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

/// "YYYY-MM-DD" → a date; nullopt when it is not one.
std::optional<std::chrono::year_month_day> ParseDay(std::string_view s) {
    if (s.size() < 10 || s[4] != '-' || s[7] != '-') return std::nullopt;
    int y = 0, m = 0, d = 0;
    for (size_t i : {0, 1, 2, 3}) {
        if (s[i] < '0' || s[i] > '9') return std::nullopt;
        y = y * 10 + (s[i] - '0');
    }
    for (size_t i : {5, 6}) {
        if (s[i] < '0' || s[i] > '9') return std::nullopt;
        m = m * 10 + (s[i] - '0');
    }
    for (size_t i : {8, 9}) {
        if (s[i] < '0' || s[i] > '9') return std::nullopt;
        d = d * 10 + (s[i] - '0');
    }
    std::chrono::year_month_day ymd{std::chrono::year(y),
                                    std::chrono::month(static_cast<unsigned>(m)),
                                    std::chrono::day(static_cast<unsigned>(d))};
    if (!ymd.ok()) return std::nullopt;
    return ymd;
}

std::chrono::year_month_day DayOf(int64_t micros) {
    return std::chrono::year_month_day{std::chrono::floor<std::chrono::days>(
        std::chrono::sys_time<std::chrono::microseconds>(std::chrono::microseconds(micros)))};
}

std::string FormatDay(std::chrono::year_month_day d) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(d.year()),
                  static_cast<unsigned>(d.month()), static_cast<unsigned>(d.day()));
    return buf;
}

/// Full years from `birth` to `today`; -1 when born later.
int AgeOn(std::chrono::year_month_day birth, std::chrono::year_month_day today) {
    int age = static_cast<int>(today.year()) - static_cast<int>(birth.year());
    if (std::pair(static_cast<unsigned>(today.month()), static_cast<unsigned>(today.day())) <
        std::pair(static_cast<unsigned>(birth.month()), static_cast<unsigned>(birth.day()))) {
        --age;
    }
    return age;
}

/// "Camille Martin" from Patient.name[0] (text, else given + family).
std::string NameOf(const json::object& patient) {
    const auto* names = patient.if_contains("name");
    if (names == nullptr || !names->is_array() || names->as_array().empty()) return {};
    const auto& n = names->as_array().front();
    if (!n.is_object()) return {};
    const auto& o = n.as_object();
    if (std::string text = Str(o, "text"); !text.empty()) return text;
    std::string out;
    if (const auto* given = o.if_contains("given"); given != nullptr && given->is_array()) {
        for (const auto& g : given->as_array()) {
            if (!g.is_string()) continue;
            if (!out.empty()) out += ' ';
            out += g.as_string();
        }
    }
    if (std::string family = Str(o, "family"); !family.empty()) {
        if (!out.empty()) out += ' ';
        out += family;
    }
    return out;
}

/// The record's profile entries the caller may read, on one snapshot (`scope` null: the
/// system, which reads everything).
Status Collect(store::Reader& txn, Scope* scope, const std::string& pid, int64_t now,
               Collected& out) {
    out = Collected{};
    if (!IsValidFhirId(pid)) return Error::NotFound("resource not found");
    CARNET_TRY(auto patient, txn.ReadCurrent("Patient", pid));
    if (patient && !patient->deleted) {
        out.patient = *patient;
        if (auto body = fhir::ParseJson(patient->json, 64); body.ok() && body->is_object()) {
            out.patient_body = std::move(body->as_object());
        }
    } else {
        // A record opened by an account before any Patient resource was filed in it: who
        // it is comes from the account.
        CARNET_TRY(auto rows, txn.Query("SELECT given, family, birth_date FROM accounts WHERE "
                                        "patient_id = ? AND kind = 'patient'",
                                        {pid}));
        if (rows.empty()) return Error::NotFound("resource not found");
        out.patient.type = "Patient";
        out.patient.id = pid;
        out.patient.patient_id = pid;
        out.patient_body = json::object{
            {"resourceType", "Patient"},
            {"id", pid},
            {"name", json::array{json::object{
                         {"family", store::AsText(rows[0][1])},
                         {"given", json::array{json::string(store::AsText(rows[0][0]))}}}}}};
        if (std::string birth = store::AsText(rows[0][2]); !birth.empty()) {
            out.patient_body["birthDate"] = birth;
        }
    }
    if (scope != nullptr) CARNET_CHECK(OpenRecordView(txn, *scope, pid));
    for (const std::string& type : profile::ProfileTypes()) {
        auto each = [&](std::vector<store::ResourceVersion>& page,
                        const PageFlags& flags) -> Status {
            for (auto& rv : page) {
                if (rv.deleted || rv.patient_id != pid) continue;
                auto body = fhir::ParseJson(rv.json, 64);
                if (!body.ok() || !body->is_object()) continue;
                // Not a profile entry (a laboratory result, another kind of Consent): not
                // read here, not decided, not logged.
                const std::string_view section = profile::SectionOf(body->as_object());
                if (section.empty()) continue;
                Item item;
                if (scope != nullptr) {
                    CARNET_TRY(auto d, scope->Check(txn, rv, access::Action::kRead, false));
                    if (!d.allow) {
                        // Said to professionals only: an entry hidden from the holder side (a
                        // diagnosis awaiting its announcement consultation, a minor's entry
                        // hidden from the representatives) must not show, even as "something".
                        if (scope->caller().actor.kind == access::ActorKind::kProfessional)
                            out.withheld = true;
                        continue;
                    }
                    CARNET_TRY(const access::DocFlags* f, scope->FlagsOf(txn, pid, rv.type, rv.id));
                    item.flags = *f;
                    CARNET_TRY(auto w,
                               scope->Would(txn, access::TargetOf(rv, f), access::Action::kUpdate));
                    out.editable[{rv.type, rv.id}] = w.allow;
                } else {
                    auto it = flags.find({rv.type, rv.id});
                    if (it != flags.end()) item.flags = it->second;
                    out.editable[{rv.type, rv.id}] = false;
                }
                item.section = std::string(section);
                item.body = std::move(body->as_object());
                item.date = profile::ClinicalDate(item.body);
                item.rv = std::move(rv);
                out.items.push_back(std::move(item));
            }
            return Ok();
        };
        CARNET_CHECK(ForRecordPages(txn, scope, pid, type, 500, kMaxPerType, each));
    }
    // Newest first: by clinical date, else by last update.
    std::stable_sort(out.items.begin(), out.items.end(), [](const Item& a, const Item& b) {
        const std::string_view da = a.date.empty() ? std::string_view() : a.date;
        const std::string_view db = b.date.empty() ? std::string_view() : b.date;
        if (da.substr(0, 10) != db.substr(0, 10)) return da.substr(0, 10) > db.substr(0, 10);
        return a.rv.last_updated_us > b.rv.last_updated_us;
    });

    const auto birth = ParseDay(Str(out.patient_body, "birthDate"));
    if (scope != nullptr) {
        CARNET_TRY(const access::RecordFacts* f, scope->Facts(txn, pid));
        out.minor = f->patient.minor;
    } else if (birth) {
        const int age = AgeOn(*birth, DayOf(now));
        out.minor = age >= 0 && age < 18;
    }
    if (scope != nullptr) {
        access::Target t;
        t.resource_type = "Immunization";
        t.patient_id = pid;
        t.category = access::Category::kImmunizations;
        CARNET_TRY(auto d, scope->Would(txn, t, access::Action::kRead));
        out.reads_immunizations = d.allow;
    }
    // What the caller may add: each section's new entry, as the write would be decided.
    for (std::string_view key : profile::SectionKeys()) {
        bool allowed = true;
        if (scope != nullptr) {
            const std::string type(profile::TypeOfSection(key));
            const json::object blank{{"resourceType", type}};
            const access::Actor& actor = scope->caller().actor;
            const access::Classification c =
                access::Classify(blank, actor.kind == access::ActorKind::kPatient);
            access::Target t;
            t.resource_type = type;
            t.patient_id = pid;
            t.category = c.category;
            t.sensitive = c.sensitive;
            t.author_account = actor.account_id;
            CARNET_TRY(auto d, scope->Would(txn, t, access::Action::kCreate));
            allowed = d.allow;
        }
        if (key == "advance_directives" && out.minor) allowed = false;
        // The person's own declarations: only the holder side writes them.
        if (scope != nullptr && profile::HolderOnly(key) &&
            scope->caller().actor.kind != access::ActorKind::kPatient) {
            allowed = false;
        }
        // The insurer's feed writes dispensations; nobody adds them by hand.
        if (key == "dispensations") allowed = false;
        out.can_add[std::string(key)] = allowed;
    }
    return Ok();
}

}  // namespace

Result<json::object> ProfileView(FhirService& service, const std::string& patient_id,
                                 const Caller& caller) {
    Collected c;
    std::map<std::string, std::string> names;  // account → name, for the authors
    int64_t now = 0;
    CARNET_CHECK(service.WithReadScope(caller, [&](store::Reader& txn, Scope* scope) -> Status {
        now = scope != nullptr ? scope->now() : service.clock().NowMicros();
        names.clear();
        CARNET_CHECK(Collect(txn, scope, patient_id, now, c));
        for (const auto& item : c.items) {
            const auto& account = item.flags.author_account;
            if (account.empty() || names.count(account) != 0) continue;
            CARNET_TRY(names[account], access::AccountName(txn, account));
        }
        return Ok();
    }));

    const std::string& me = caller.actor.account_id;
    json::object sections;
    for (std::string_view key : profile::SectionKeys()) sections[key] = json::array();
    std::vector<const json::object*> observations;
    std::vector<profile::Dose> doses;
    for (const auto& item : c.items) {
        json::object author;
        const std::string& kind = item.flags.author_kind;
        author["kind"] = kind.empty() ? "system" : kind;
        if (kind == "insurer") {
            author["name"] = FeedSource{}.display;
        } else if (!item.flags.author_account.empty()) {
            author["name"] = names[item.flags.author_account];
        } else {
            author["name"] = "";
        }
        const bool own = !me.empty() && item.flags.author_account == me;
        auto e = c.editable.find({item.rv.type, item.rv.id});
        json::object entry{{"type", item.rv.type},
                           {"id", item.rv.id},
                           {"version", std::to_string(item.rv.version)},
                           {"updated", FormatInstant(item.rv.last_updated_us)},
                           {"resource", item.body},
                           {"author", std::move(author)},
                           {"own", own},
                           {"editable", e != c.editable.end() && e->second}};
        sections[item.section].as_array().push_back(std::move(entry));
        if (item.section == "measurements") observations.push_back(&item.body);
        if (item.rv.type == "Immunization") {
            if (auto dose = profile::DoseOf(item.body, item.rv.id)) doses.push_back(*dose);
        }
    }

    const std::string birth = Str(c.patient_body, "birthDate");
    const auto today = DayOf(now);
    json::object patient{{"id", c.patient.id},
                         {"name", NameOf(c.patient_body)},
                         {"birth_date", birth},
                         {"gender", Str(c.patient_body, "gender")},
                         {"minor", c.minor}};
    if (auto b = ParseDay(birth)) {
        patient["age"] = AgeOn(*b, today);
    } else {
        patient["age"] = nullptr;
    }
    json::object can_add;
    for (const auto& [k, v] : c.can_add) can_add[k] = v;

    json::object out{{"patient", std::move(patient)},
                     {"sections", std::move(sections)},
                     {"can_add", std::move(can_add)},
                     {"vaccines", profile::VaccineCatalogue()},
                     {"withheld", c.withheld}};
    if (!c.reads_immunizations) {
        out["booklet"] = nullptr;
    } else {
        out["booklet"] = birth.empty()
                             ? json::array()
                             : profile::ToJson(profile::Booklet(birth, FormatDay(today), doses));
    }
    json::object measures = profile::ToJson(profile::Measure(observations));
    out["bmi"] = measures["bmi"];
    out["series"] = measures["series"];
    return out;
}

Result<std::string> PatientSummary(FhirService& service, const std::string& patient_id,
                                   const Caller& caller, const std::string& base_url) {
    Collected c;
    int64_t now = 0;
    CARNET_CHECK(service.WithReadScope(caller, [&](store::Reader& txn, Scope* scope) -> Status {
        now = scope != nullptr ? scope->now() : service.clock().NowMicros();
        return Collect(txn, scope, patient_id, now, c);
    }));
    profile::SummaryInput in;
    in.patient = &c.patient_body;
    for (const auto& item : c.items) in.entries.push_back(&item.body);
    in.base_url = base_url;
    in.bundle_id = NewUuid();
    in.now_us = now;
    return json::serialize(profile::BuildSummary(in));
}

}  // namespace carnet::api
