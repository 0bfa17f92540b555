#include "access/context.hpp"

#include <boost/json.hpp>

#include "access/classify.hpp"
#include "auth/service.hpp"
#include "fhir/json.hpp"

namespace carnet::access {

using store::AsInt;
using store::AsText;
using store::IsNull;

namespace {

/// The seven switches of an access_settings row, from column `at` on (etreat, btg,
/// emergency_masked, emergency_only, mask_new, notify_email, notify_sms); a NULL first column (no
/// row) leaves the defaults.
Settings SettingsFrom(const store::Row& r, size_t at) {
    Settings s;
    if (IsNull(r[at])) return s;
    s.etreat = AsInt(r[at]) != 0;
    s.btg = AsInt(r[at + 1]) != 0;
    s.emergency_masked = AsInt(r[at + 2]) != 0;
    s.emergency_only = AsInt(r[at + 3]) != 0;
    s.mask_new = AsInt(r[at + 4]) != 0;
    s.notify_email = AsInt(r[at + 5]) != 0;
    s.notify_sms = AsInt(r[at + 6]) != 0;
    return s;
}

}  // namespace

Result<Settings> LoadSettings(store::Reader& txn, const std::string& patient_id) {
    CARNET_TRY(auto rows, txn.Query("SELECT etreat, btg, emergency_masked, emergency_only, "
                                    "mask_new, notify_email, notify_sms FROM access_settings "
                                    "WHERE patient_id = ?",
                                    {patient_id}));
    return rows.empty() ? Settings{} : SettingsFrom(rows[0], 0);
}

Result<std::string> AccountName(store::Reader& txn, const std::string& account_id) {
    if (account_id.empty()) return std::string();
    CARNET_TRY(auto rows,
               txn.Query("SELECT given, family FROM accounts WHERE id = ?", {account_id}));
    if (rows.empty()) return std::string();
    std::string given = AsText(rows[0][0]), family = AsText(rows[0][1]);
    if (given.empty()) return family;
    if (family.empty()) return given;
    return given + " " + family;
}

Result<RecordFacts> LoadRecordFacts(store::Reader& txn, const Actor& actor,
                                    const std::string& patient_id, int64_t now_us) {
    RecordFacts f;
    f.patient_id = patient_id;
    // One statement for the record's epoch, its holder, the settings and (professionals) the
    // relation and the latest live grant: one snapshot on every engine, one round trip on
    // PostgreSQL (this runs for every record a request touches).
    const std::string professional =
        actor.kind == ActorKind::kProfessional ? actor.account_id : std::string();
    CARNET_TRY(
        auto one,
        txn.Query("SELECT (SELECT n FROM access_epochs WHERE patient_id = k.pid), a.id, "
                  "a.status, a.birth_date, s.etreat, s.btg, s.emergency_masked, "
                  "s.emergency_only, s.mask_new, s.notify_email, s.notify_sms, r.status, "
                  "r.via_code, r.roles, (SELECT kind FROM emergency_grants g WHERE g.patient_id "
                  "= k.pid AND g.professional_account = k.pro AND g.until_at > k.now ORDER BY "
                  "g.until_at DESC LIMIT 1), (SELECT MAX(until_at) FROM emergency_grants g WHERE "
                  "g.patient_id = k.pid AND g.professional_account = k.pro AND g.until_at > "
                  "k.now) FROM (SELECT CAST(? AS TEXT) AS pid, CAST(? AS TEXT) AS pro, CAST(? AS "
                  "BIGINT) AS now) k LEFT JOIN accounts a ON a.patient_id = k.pid AND a.kind = "
                  "'patient' LEFT JOIN access_settings s ON s.patient_id = k.pid LEFT JOIN "
                  "access_relations r ON r.patient_id = k.pid AND r.professional_account = k.pro",
                  {patient_id, professional, now_us}));
    if (one.empty()) return Error::Internal("access: the facts query returned no row");
    const auto& x = one[0];
    f.epoch = IsNull(x[0]) ? 0 : AsInt(x[0]);
    if (IsNull(x[1])) {
        f.patient.status = "none";
    } else {
        f.holder_account = AsText(x[1]);
        f.patient.status = AsText(x[2]);
        const int age = auth::AgeInYears(AsText(x[3]), now_us);
        f.patient.minor = age >= 0 && age < kMajorityAge;
    }
    f.settings = SettingsFrom(x, 4);
    f.patient.etreat_enabled = f.settings.etreat;
    f.patient.btg_enabled = f.settings.btg;
    f.patient.emergency_includes_masked = f.settings.emergency_masked;
    f.patient.emergency_only = f.settings.emergency_only;

    Relationship& r = f.rel;
    if (actor.kind == ActorKind::kPatient) {
        r.self = !f.holder_account.empty() && actor.account_id == f.holder_account;
        if (!r.self) {
            CARNET_TRY(auto rows, txn.Query("SELECT kind FROM delegations WHERE patient_id = ? AND "
                                            "delegate_account = ? AND status = 'active'",
                                            {patient_id, actor.account_id}));
            for (const auto& row : rows) {
                const std::string kind = AsText(row[0]);
                // Representation ends at majority (checked on every request).
                if (kind == "representative" && f.patient.minor) r.representative = true;
                if (kind == "caregiver") r.caregiver = true;
            }
        }
    } else if (actor.kind == ActorKind::kProfessional) {
        if (!IsNull(x[11])) {
            const std::string status = AsText(x[11]);
            r.blocked = status == "blocked";
            r.authorised = status == "authorised";
            r.via_code = AsInt(x[12]) != 0;
            const std::string roles = "," + AsText(x[13]) + ",";
            if (!r.blocked) {
                r.medecin_traitant = roles.find(",medecin-traitant,") != std::string::npos;
                r.sage_femme_referente = roles.find(",sage-femme-referente,") != std::string::npos;
                r.pharmacien_correspondant =
                    roles.find(",pharmacien-correspondant,") != std::string::npos;
                r.administrator = roles.find(",administrator,") != std::string::npos;
            }
        }
        if (!IsNull(x[15])) {
            r.emergency_until_us = AsInt(x[15]);
            r.emergency_kind = AsText(x[14]) == "ETREAT" ? Purpose::kEtreat : Purpose::kBtg;
        }
    }
    return f;
}

Result<std::map<std::string, int64_t>> LoadEpochs(store::Reader& txn,
                                                  const std::vector<std::string>& patient_ids) {
    std::map<std::string, int64_t> out;
    if (patient_ids.empty()) return out;
    std::string sql = "SELECT patient_id, n FROM access_epochs WHERE patient_id IN (";
    std::vector<store::Value> params;
    params.reserve(patient_ids.size());
    for (const auto& id : patient_ids) {
        sql += params.empty() ? "?" : ", ?";
        params.emplace_back(id);
        out[id] = 0;
    }
    sql += ")";
    CARNET_TRY(auto rows, txn.Query(sql, params));
    for (const auto& row : rows) out[AsText(row[0])] = AsInt(row[1]);
    return out;
}

Result<std::map<std::pair<std::string, std::string>, DocFlags>> LoadFlags(
    store::Reader& txn, const std::string& patient_id,
    const std::vector<std::pair<std::string, std::string>>& keys) {
    std::map<std::pair<std::string, std::string>, DocFlags> out;
    if (keys.empty()) return out;
    // One query for the page: (type, id) pairs as "type/id" strings.
    std::string sql =
        "SELECT type, id, author_account, author_kind, masked, hidden_until, hidden_repr FROM "
        "access_flags WHERE patient_id = ? AND type || '/' || id IN (";
    std::vector<store::Value> params{patient_id};
    for (size_t i = 0; i < keys.size(); ++i) {
        sql += i == 0 ? "?" : ", ?";
        params.emplace_back(keys[i].first + "/" + keys[i].second);
    }
    sql += ")";
    CARNET_TRY(auto rows, txn.Query(sql, params));
    for (const auto& row : rows) {
        DocFlags f;
        f.author_account = AsText(row[2]);
        f.author_kind = AsText(row[3]);
        f.masked = AsInt(row[4]) != 0;
        f.hidden_until_us = AsInt(row[5]);
        f.hidden_repr = AsInt(row[6]) != 0;
        out[{AsText(row[0]), AsText(row[1])}] = std::move(f);
    }
    return out;
}

Target TargetOf(const store::ResourceVersion& rv, const DocFlags* flags) {
    Target t;
    t.resource_type = rv.type;
    t.resource_id = rv.id;
    t.patient_id = rv.patient_id;
    const bool by_patient = flags != nullptr && flags->author_kind == "patient";
    Classification c{CategoryOfType(rv.type), false};
    // Only a few types are classified from their content; the others by their type alone,
    // without parsing the body (this runs for every search result).
    const bool needs_body = rv.type == "DocumentReference" || rv.type == "Composition" ||
                            rv.type == "Observation" || rv.type == "DiagnosticReport";
    if (by_patient && rv.type != "Patient" && !IsProfileCategory(c.category)) {
        c = {Category::kC90, false};
    } else if (needs_body && !rv.json.empty()) {
        // A stack arena: no heap allocation per node (the parse is thrown away at once).
        unsigned char arena[16384];
        boost::json::monotonic_resource mr(arena, sizeof arena);
        boost::json::parse_options opt;
        opt.max_depth = 64;
        boost::system::error_code ec;
        boost::json::value v = boost::json::parse(rv.json, ec, &mr, opt);
        if (!ec && v.is_object()) c = Classify(v.as_object(), false);
    }
    t.category = c.category;
    t.sensitive = c.sensitive;
    if (flags != nullptr) {
        t.author_account = flags->author_account;
        t.masked = flags->masked;
        t.hidden_from_patient_until_us = flags->hidden_until_us;
        t.hidden_from_representatives = flags->hidden_repr;
    }
    return t;
}

Result<std::shared_ptr<const Grid>> GridStore::Current(store::Reader& txn) {
    CARNET_TRY(auto rows, txn.Query("SELECT version, created_at FROM access_grid ORDER BY "
                                    "version DESC LIMIT 1"));
    const int64_t version = rows.empty() ? 0 : AsInt(rows[0][0]);
    // The creation time is part of the key: a version saved in a transaction that rolled
    // back must not be taken for the one saved later under the same number.
    const int64_t created = rows.empty() ? 0 : AsInt(rows[0][1]);
    {
        std::lock_guard lock(mu_);
        if (version == version_ && created == created_ && grid_) return grid_;
    }
    std::shared_ptr<const Grid> grid;
    if (version == 0) {
        grid = std::make_shared<const Grid>(Grid::Default());
    } else {
        CARNET_TRY(auto g, txn.Query("SELECT grid FROM access_grid WHERE version = ?", {version}));
        if (g.empty()) return Error::Internal("the grid version vanished");
        CARNET_TRY(auto parsed, Grid::FromJson(AsText(g[0][0])));
        grid = std::make_shared<const Grid>(std::move(parsed));
    }
    std::lock_guard lock(mu_);
    version_ = version;
    created_ = created;
    grid_ = grid;
    return grid;
}

Result<int64_t> GridStore::Save(store::WriteTxn& txn, const Grid& grid, const std::string& by,
                                int64_t now_us) {
    // What is saved must read back: a grid that does not survive its own round trip is
    // refused here rather than failing every later decision.
    CARNET_CHECK(Grid::FromJson(grid.ToJson()));
    CARNET_TRY(auto rows, txn.Query("SELECT version FROM access_grid ORDER BY version DESC "
                                    "LIMIT 1"));
    const int64_t version = (rows.empty() ? 0 : AsInt(rows[0][0])) + 1;
    CARNET_CHECK(
        txn.Exec("INSERT INTO access_grid(version, grid, created_at, created_by) VALUES "
                 "(?, ?, ?, ?)",
                 {version, grid.ToJson(), now_us, by}));
    return version;
}

}  // namespace carnet::access
