#include "access/service.hpp"

#include <sodium.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json.hpp>
#include <map>
#include <set>

#include "access/obligations.hpp"
#include "auth/internal.hpp"
#include "auth/primitives.hpp"
#include "auth/service.hpp"
#include "core/ids.hpp"
#include "core/outcome.hpp"
#include "core/text.hpp"
#include "fhir/json.hpp"
#include "notify/notify.hpp"

namespace carnet::access {

namespace json = boost::json;
using store::AsInt;
using store::AsText;
using store::IsNull;
using store::Value;

// ---- codes ------------------------------------------------------------------------------

std::string GroupAccessCode(std::string_view code) {
    std::string out;
    for (size_t i = 0; i < code.size(); ++i) {
        if (i > 0 && i % 4 == 0) out.push_back('-');
        out.push_back(code[i]);
    }
    return out;
}

std::string NormalizeAccessCode(std::string_view text) {
    if (text.size() > 64) return {};
    std::string out = auth::detail::NormalizeActivationCode(text);
    if (out.size() != kCodeLength) return {};
    for (char c : out) {
        if (auth::detail::kCrockford.find(c) == std::string_view::npos) return {};
    }
    return out;
}

namespace {

/// 10 characters from the CSPRNG (50 bits), Crockford's alphabet.
std::string NewAccessCode() {
    std::string out;
    for (size_t i = 0; i < kCodeLength; ++i) {
        out.push_back(auth::detail::kCrockford[randombytes_uniform(32)]);
    }
    return out;
}

Target RecordTarget(const std::string& pid) {
    Target t;
    t.patient_id = pid;
    t.category = Category::kRecord;
    return t;
}

/// Whether the actor already stands in a relation to the record (refusals then say why).
bool HasRelation(const Relationship& r) {
    return r.self || r.representative || r.caregiver || r.authorised || r.blocked ||
           r.medecin_traitant || r.sage_femme_referente || r.pharmacien_correspondant ||
           r.administrator || r.emergency_until_us > 0;
}

std::string_view ReasonText(Reason r) {
    switch (r) {
        case Reason::kAllowed:
            return "autorisé";
        case Reason::kNeverContent:
            return "ce compte n'a jamais accès au contenu des dossiers";
        case Reason::kRecordInactive:
            return "ce dossier n'est plus actif";
        case Reason::kRecordReadOnly:
            return "ce dossier est clos : il ne peut plus être modifié";
        case Reason::kBlocked:
            return "le titulaire du dossier vous a bloqué";
        case Reason::kNoBasis:
            return "aucune autorisation sur ce dossier";
        case Reason::kEmergencyOnly:
            return "le titulaire n'ouvre son dossier aux professionnels qu'en urgence";
        case Reason::kEmergencyDisabled:
            return "le titulaire a désactivé ce mode d'accès d'urgence";
        case Reason::kNotRegulator:
            return "réservé aux médecins régulateurs du SAMU";
        case Reason::kNeedsFreshAuth:
            return "un accès d'urgence demande une authentification de moins de 5 minutes";
        case Reason::kNeedsReason:
            return "un accès d'urgence demande un motif écrit";
        case Reason::kGrid:
            return "votre profession n'a pas accès à ce type de document";
        case Reason::kMasked:
            return "document masqué par le titulaire";
        case Reason::kHiddenFromPatient:
            return "document pas encore accessible";
        case Reason::kHiddenFromDelegates:
            return "document non accessible aux représentants";
        case Reason::kNotAuthor:
            return "seul l'auteur du document peut faire cela";
        case Reason::kNotPermitted:
            return "action non permise pour ce compte";
    }
    return "action non permise";
}

Error Forbidden(Reason r) {
    return Error::Make(Code::kForbidden, "forbidden",
                       std::string(ReasonName(r)) + ": " + std::string(ReasonText(r)));
}

std::string Trim(std::string_view s) { return auth::detail::Trim(s); }

std::vector<std::string> SplitRoles(const std::string& text) {
    std::vector<std::string> out;
    size_t pos = 0;
    while (pos <= text.size()) {
        size_t end = text.find(',', pos);
        if (end == std::string::npos) end = text.size();
        if (end > pos) out.push_back(text.substr(pos, end - pos));
        pos = end + 1;
    }
    return out;
}

std::string JoinRoles(const std::vector<std::string>& roles) {
    std::string out;
    for (const auto& r : roles) {
        if (!out.empty()) out += ",";
        out += r;
    }
    return out;
}

bool UniqueRole(std::string_view role) {
    return role == kRoleMedecinTraitant || role == kRoleSageFemme || role == kRolePharmacien;
}

/// The profession a role needs ("" : any).
std::string_view RoleProfession(std::string_view role) {
    if (role == kRoleMedecinTraitant) return "medecin";
    if (role == kRoleSageFemme) return "sage-femme";
    if (role == kRolePharmacien) return "pharmacien";
    return "";
}

std::string ProfessionLabel(const std::string& code) {
    for (const auto& [c, label] : auth::Professions())
        if (c == code) return label;
    return code;
}

std::string NameOf(const std::string& given, const std::string& family) {
    if (given.empty()) return family;
    if (family.empty()) return given;
    return given + " " + family;
}

/// Display names of accounts, looked up once per account.
class Names {
  public:
    explicit Names(store::Reader& txn) : txn_(txn) {}
    Result<std::string> Of(const std::string& account) {
        if (account.empty()) return std::string("Carnet");
        auto it = cache_.find(account);
        if (it != cache_.end()) return it->second;
        CARNET_TRY(auto rows,
                   txn_.Query("SELECT given, family FROM accounts WHERE id = ?", {account}));
        std::string name =
            rows.empty() ? std::string() : NameOf(AsText(rows[0][0]), AsText(rows[0][1]));
        cache_[account] = name;
        return name;
    }

  private:
    store::Reader& txn_;
    std::map<std::string, std::string> cache_;
};

/// Title of a DocumentReference: description, else type.text, else the first coding's display.
std::string TitleOf(const json::object& doc) {
    if (const auto* d = doc.if_contains("description"); d && d->is_string()) {
        return std::string(d->as_string());
    }
    const auto* type = doc.if_contains("type");
    if (!type || !type->is_object()) return {};
    if (const auto* t = type->as_object().if_contains("text"); t && t->is_string()) {
        return std::string(t->as_string());
    }
    if (const auto* codings = type->as_object().if_contains("coding");
        codings && codings->is_array()) {
        for (const auto& c : codings->as_array()) {
            if (!c.is_object()) continue;
            if (const auto* d = c.as_object().if_contains("display"); d && d->is_string()) {
                return std::string(d->as_string());
            }
        }
    }
    return {};
}

std::string StringAt(const json::object& o, const char* key) {
    const auto* v = o.if_contains(key);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

/// First author's display in the body (when Carnet does not know the author's account).
/// The first attachment of a DocumentReference: its Binary (when it is one of Carnet's, a
/// relative "Binary/{id}"), type and size.
void ContentOf(const json::object& doc, DocumentInfo& info) {
    const auto* content = doc.if_contains("content");
    if (!content || !content->is_array() || content->as_array().empty()) return;
    const auto& first = content->as_array()[0];
    if (!first.is_object()) return;
    const auto* att = first.as_object().if_contains("attachment");
    if (!att || !att->is_object()) return;
    const auto& a = att->as_object();
    if (const auto* url = a.if_contains("url"); url && url->is_string()) {
        const std::string_view u = url->as_string();
        if (u.rfind("Binary/", 0) == 0 && IsValidFhirId(u.substr(7))) {
            info.binary_id = std::string(u.substr(7));
        }
    }
    if (const auto* t = a.if_contains("contentType"); t && t->is_string()) {
        info.content_type = std::string(t->as_string());
    }
    if (const auto* n = a.if_contains("size"); n && n->is_int64()) info.size = n->as_int64();
    if (const auto* n = a.if_contains("size"); n && n->is_uint64()) {
        info.size = static_cast<int64_t>(n->as_uint64());
    }
}

std::string AuthorDisplay(const json::object& doc) {
    const auto* authors = doc.if_contains("author");
    if (!authors || !authors->is_array()) return {};
    for (const auto& a : authors->as_array()) {
        if (!a.is_object()) continue;
        std::string d = StringAt(a.as_object(), "display");
        if (!d.empty()) return d;
    }
    return {};
}

/// Writes the fields `change` names (a first write stores `merged`, the whole row): two
/// changes of different switches at once both hold.
Status SaveSettings(store::WriteTxn& txn, const std::string& pid, const Settings& merged,
                    const SettingsChange& change, const std::string& by, int64_t now_us) {
    auto b = [](bool v) { return Value(int64_t{v ? 1 : 0}); };
    std::string set;
    auto column = [&](const char* name, const std::optional<bool>& v) {
        if (!v) return;
        set += std::string(name) + " = excluded." + name + ", ";
    };
    column("etreat", change.etreat);
    column("btg", change.btg);
    column("emergency_masked", change.emergency_masked);
    column("emergency_only", change.emergency_only);
    column("mask_new", change.mask_new);
    column("notify_email", change.notify_email);
    column("notify_sms", change.notify_sms);
    CARNET_CHECK(txn.Exec(
        "INSERT INTO access_settings(patient_id, etreat, btg, emergency_masked, emergency_only, "
        "mask_new, notify_email, notify_sms, updated_at, updated_by) VALUES (?, ?, ?, ?, ?, ?, "
        "?, ?, ?, ?) ON CONFLICT(patient_id) DO UPDATE SET " +
            set + "updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        {pid, b(merged.etreat), b(merged.btg), b(merged.emergency_masked), b(merged.emergency_only),
         b(merged.mask_new), b(merged.notify_email), b(merged.notify_sms), now_us, by}));
    return Ok();
}

}  // namespace

Error RefusalOf(const RecordFacts& facts, bool exists, Reason reason, std::string_view not_found) {
    if (exists && HasRelation(facts.rel)) return Forbidden(reason);
    return Error::NotFound(std::string(not_found));
}

DocumentInfo DescribeDocument(const store::ResourceVersion& doc, const DocFlags* flags,
                              Category category, const std::string& reader, int64_t now_us) {
    DocumentInfo info;
    info.type = doc.type;
    info.id = doc.id;
    info.category = std::string(CategoryCode(category));
    info.masked = flags != nullptr && flags->masked;
    info.hidden_until =
        flags != nullptr && flags->hidden_until_us > now_us ? flags->hidden_until_us : 0;
    auto body = fhir::ParseJson(doc.json, 64);
    if (body.ok() && body->is_object()) DescribeDocument(body->as_object(), info);
    info.own = flags != nullptr && !reader.empty() && flags->author_account == reader;
    return info;
}

// ---- the gate ---------------------------------------------------------------------------

struct AccessService::Gate {
    bool exists = false;  // false: no such record (nothing is logged)
    RecordFacts facts;
    Decision decision;
    Target target;
    Action action = Action::kRead;
    Purpose purpose = Purpose::kTreatment;
    int64_t now_us = 0;
    std::string resource_id;      // for the log entry
    std::string reason_override;  // the log's reason when the effect refused (wrong code)

    [[nodiscard]] bool relation() const { return exists && HasRelation(facts.rel); }
    /// The answer to a refusal: the rule for those who know the record, else `not_found`.
    [[nodiscard]] Error Refusal(std::string_view not_found = kNoRecord) const {
        return RefusalOf(facts, exists, decision.reason, not_found);
    }
};

AccessService::AccessService(store::Store& store, const Clock& clock, GridStore& grids,
                             std::string secret_key, std::string portal_url)
    : store_(store),
      clock_(clock),
      grids_(grids),
      secret_key_(std::move(secret_key)),
      portal_url_(std::move(portal_url)) {}

Result<AccessService::Gate> AccessService::Ask(store::WriteTxn& txn, const Actor& actor,
                                               const std::string& pid, Action action,
                                               const Target& target, Purpose purpose,
                                               int64_t now_us) {
    Gate g;
    g.target = target;
    g.action = action;
    g.purpose = purpose;
    g.now_us = now_us;
    if (pid.empty() || !IsValidFhirId(pid)) {
        g.decision = Decision{};  // refused, no basis
        return g;
    }
    CARNET_TRY(g.facts, LoadRecordFacts(txn, actor, pid, now_us));
    if (!g.facts.holder_account.empty()) {
        g.exists = true;
    } else {
        CARNET_TRY(auto patient, txn.ReadCurrent("Patient", pid));
        g.exists = patient.has_value() && !patient->deleted;
    }
    if (!g.exists) {
        g.decision = Decision{};
        return g;
    }
    CARNET_TRY(auto grid, grids_.Current(txn));
    DecisionInput in;
    in.actor = actor;
    in.patient = g.facts.patient;
    in.rel = g.facts.rel;
    in.target = target;
    in.target.patient_id = pid;
    in.action = action;
    in.purpose = purpose;
    in.now_us = now_us;
    g.decision = access::Decide(*grid, in);
    return g;
}

Status AccessService::Log(store::WriteTxn& txn, const Gate& gate, const Actor& actor,
                          const std::string& request_id, int64_t count) {
    if (!gate.exists) return Ok();  // no record: nobody's log to write to
    audit::Entry e = EntryFor(actor, gate.decision, gate.action, gate.target, gate.purpose,
                              request_id, gate.now_us, count);
    e.patient_id = gate.facts.patient_id;
    e.resource_id = gate.resource_id;
    if (!gate.reason_override.empty()) e.reason = gate.reason_override;
    return access::Honour(txn, gate.facts, actor, gate.decision, e, portal_url_, gate.now_us);
}

template <typename T, typename Body>
Result<T> AccessService::Managed(const Actor& actor, const std::string& pid,
                                 const std::string& request_id, const Body& body) {
    Outcome<T> out;
    Status s = store_.Write([&](store::WriteTxn& txn) -> Status {
        out.Reset();
        CARNET_TRY(Gate g, Ask(txn, actor, pid, Action::kManage, RecordTarget(pid),
                               Purpose::kTreatment, clock_.NowMicros()));
        CARNET_CHECK(Log(txn, g, actor, request_id));
        if (!g.exists || !g.decision.allow) {
            out.refusal = g.Refusal();
            return Ok();
        }
        return body(txn, g, out);
    });
    return out.Finish(s);
}

std::string AccessService::CodeHash(const std::string& pid, const std::string& code) const {
    return auth::HashSecret("access-code:" + pid + ":" + code, secret_key_);
}

// ---- settings ---------------------------------------------------------------------------

Result<Settings> AccessService::GetSettings(const Actor& actor, const std::string& pid,
                                            const std::string& request_id) {
    return Managed<Settings>(actor, pid, request_id,
                             [&](store::WriteTxn&, Gate& g, Outcome<Settings>& out) -> Status {
                                 out.value = g.facts.settings;
                                 return Ok();
                             });
}

Result<Settings> AccessService::PutSettings(const Actor& actor, const std::string& pid,
                                            const std::string& request_id,
                                            const SettingsChange& change) {
    return Managed<Settings>(
        actor, pid, request_id,
        [&](store::WriteTxn& txn, Gate& g, Outcome<Settings>& out) -> Status {
            const int64_t now = g.now_us;
            Settings next = g.facts.settings;
            auto apply = [](bool& field, const std::optional<bool>& v) {
                if (v) field = *v;
            };
            apply(next.etreat, change.etreat);
            apply(next.btg, change.btg);
            apply(next.emergency_masked, change.emergency_masked);
            apply(next.emergency_only, change.emergency_only);
            apply(next.mask_new, change.mask_new);
            apply(next.notify_email, change.notify_email);
            apply(next.notify_sms, change.notify_sms);
            CARNET_CHECK(SaveSettings(txn, pid, next, change, actor.account_id, now));
            CARNET_TRY(out.value, LoadSettings(txn, pid));
            return Ok();
        });
}

// ---- professionals ----------------------------------------------------------------------

Result<ProfessionalRow> AccessService::LoadProfessional(store::Reader& txn, const std::string& pid,
                                                        const std::string& account) {
    ProfessionalRow row;
    row.account_id = account;
    row.status = "known";
    CARNET_TRY(auto acc, txn.Query("SELECT given, family, profession, specialty, rpps FROM "
                                   "accounts WHERE id = ?",
                                   {account}));
    if (!acc.empty()) {
        row.name = NameOf(AsText(acc[0][0]), AsText(acc[0][1]));
        row.profession = AsText(acc[0][2]);
        row.profession_label = ProfessionLabel(row.profession);
        row.specialty = AsText(acc[0][3]);
        row.rpps = AsText(acc[0][4]);
    }
    CARNET_TRY(auto rel, txn.Query("SELECT status, via_code, roles FROM access_relations WHERE "
                                   "patient_id = ? AND professional_account = ?",
                                   {pid, account}));
    if (!rel.empty()) {
        row.status = AsText(rel[0][0]);
        row.via_code = AsInt(rel[0][1]) != 0;
        row.roles = SplitRoles(AsText(rel[0][2]));
    }
    CARNET_TRY(auto seen,
               txn.Query("SELECT MAX(at) FROM audit_log WHERE patient_id = ? AND "
                         "actor_account = ? AND outcome = 'allow' AND action <> 'read-audit'",
                         {pid, account}));
    if (!seen.empty() && !IsNull(seen[0][0])) row.last_access_at = AsInt(seen[0][0]);
    return row;
}

Result<std::vector<ProfessionalRow>> AccessService::ListProfessionals(
    const Actor& actor, const std::string& pid, const std::string& request_id) {
    return Managed<std::vector<ProfessionalRow>>(
        actor, pid, request_id,
        [&](store::WriteTxn& txn, Gate&, Outcome<std::vector<ProfessionalRow>>& out) -> Status {
            // Relations first, then whoever appears in the log as a professional.
            std::map<std::string, ProfessionalRow> rows;
            CARNET_TRY(auto rels,
                       txn.Query("SELECT r.professional_account, r.status, r.via_code, r.roles, "
                                 "a.given, a.family, a.profession, a.specialty, a.rpps FROM "
                                 "access_relations r LEFT JOIN accounts a ON a.id = "
                                 "r.professional_account WHERE r.patient_id = ?",
                                 {pid}));
            for (const auto& r : rels) {
                ProfessionalRow row;
                row.account_id = AsText(r[0]);
                row.status = AsText(r[1]);
                row.via_code = AsInt(r[2]) != 0;
                row.roles = SplitRoles(AsText(r[3]));
                row.name = NameOf(AsText(r[4]), AsText(r[5]));
                row.profession = AsText(r[6]);
                row.profession_label = ProfessionLabel(row.profession);
                row.specialty = AsText(r[7]);
                row.rpps = AsText(r[8]);
                rows[row.account_id] = std::move(row);
            }
            CARNET_TRY(
                auto seen,
                txn.Query("SELECT l.actor_account, MAX(CASE WHEN l.outcome = 'allow' AND "
                          "l.action <> 'read-audit' THEN l.at END), a.given, a.family, "
                          "a.profession, a.specialty, a.rpps "
                          "FROM audit_log l LEFT JOIN accounts a ON a.id = l.actor_account "
                          "WHERE l.patient_id = ? AND l.actor_kind = 'professional' GROUP BY "
                          "l.actor_account, a.given, a.family, a.profession, a.specialty, "
                          "a.rpps",
                          {pid}));
            for (const auto& r : seen) {
                const std::string account = AsText(r[0]);
                if (account.empty()) continue;
                auto [it, inserted] = rows.try_emplace(account);
                ProfessionalRow& row = it->second;
                if (inserted) {
                    row.account_id = account;
                    row.status = "known";
                    row.name = NameOf(AsText(r[2]), AsText(r[3]));
                    row.profession = AsText(r[4]);
                    row.profession_label = ProfessionLabel(row.profession);
                    row.specialty = AsText(r[5]);
                    row.rpps = AsText(r[6]);
                }
                if (!IsNull(r[1])) row.last_access_at = AsInt(r[1]);
            }
            std::vector<ProfessionalRow> list;
            list.reserve(rows.size());
            for (auto& [_, row] : rows) list.push_back(std::move(row));
            std::stable_sort(
                list.begin(), list.end(),
                [](const ProfessionalRow& a, const ProfessionalRow& b) { return a.name < b.name; });
            out.value = std::move(list);
            return Ok();
        });
}

Result<ProfessionalRow> AccessService::PutProfessional(const Actor& actor, const std::string& pid,
                                                       const std::string& request_id,
                                                       const std::string& account,
                                                       const ProfessionalChange& change) {
    // The input's shape first: it says nothing of any record.
    if (change.status && *change.status != "authorised" && *change.status != "blocked" &&
        *change.status != "known") {
        return Error::Invalid("statut : authorised, blocked ou known", "status");
    }
    std::vector<std::string> roles;
    if (change.roles) {
        for (const auto& r : *change.roles) {
            if (!UniqueRole(r) && r != kRoleAdministrator) {
                return Error::Invalid("rôle inconnu : " + r.substr(0, 40), "roles");
            }
            if (std::find(roles.begin(), roles.end(), r) == roles.end()) roles.push_back(r);
        }
    }
    return Managed<ProfessionalRow>(
        actor, pid, request_id,
        [&](store::WriteTxn& txn, Gate& g, Outcome<ProfessionalRow>& out) -> Status {
            const int64_t now = g.now_us;
            CARNET_TRY(auto pro,
                       txn.Query("SELECT profession FROM accounts WHERE id = ? AND kind = "
                                 "'professional'",
                                 {account}));
            if (pro.empty()) {
                out.refusal = Error::NotFound("professionnel inconnu de l'annuaire");
                return Ok();
            }
            const std::string profession = AsText(pro[0][0]);
            for (const auto& r : roles) {
                const auto needed = RoleProfession(r);
                if (!needed.empty() && profession != needed) {
                    out.refusal = Error::Invalid(
                        "le rôle " + r + " demande la profession " + std::string(needed), "roles");
                    return Ok();
                }
            }
            CARNET_TRY(auto existing, txn.Query("SELECT status, via_code, roles FROM "
                                                "access_relations WHERE patient_id = ? AND "
                                                "professional_account = ?",
                                                {pid, account}));
            if (existing.empty()) {
                const std::string status =
                    change.status.value_or(roles.empty() ? "known" : "authorised");
                CARNET_CHECK(
                    txn.Exec("INSERT INTO access_relations(patient_id, professional_account, "
                             "status, via_code, roles, created_at, updated_at, updated_by) "
                             "VALUES (?, ?, ?, 0, ?, ?, ?, ?)",
                             {pid, account, status, JoinRoles(roles), now, now, actor.account_id}));
            } else {
                const std::string status = change.status.value_or(AsText(existing[0][0]));
                // The holder's own say replaces an authorisation that came from a code.
                const int64_t via_code = change.status ? 0 : AsInt(existing[0][1]);
                const std::string joined = change.roles ? JoinRoles(roles) : AsText(existing[0][2]);
                CARNET_CHECK(
                    txn.Exec("UPDATE access_relations SET status = ?, via_code = ?, roles = "
                             "?, updated_at = ?, updated_by = ? WHERE patient_id = ? AND "
                             "professional_account = ?",
                             {status, via_code, joined, now, actor.account_id, pid, account}));
            }
            // Médecin traitant, sage-femme référente, pharmacien correspondant: one each. Naming
            // a new one takes the role from the previous one.
            if (change.roles) {
                std::vector<std::string> moved;
                for (const auto& r : roles)
                    if (UniqueRole(r)) moved.push_back(r);
                if (!moved.empty()) {
                    CARNET_TRY(auto others, txn.Query("SELECT professional_account, roles FROM "
                                                      "access_relations WHERE patient_id = ? AND "
                                                      "professional_account <> ? AND roles <> ''",
                                                      {pid, account}));
                    for (const auto& o : others) {
                        auto theirs = SplitRoles(AsText(o[1]));
                        const size_t before = theirs.size();
                        std::erase_if(theirs, [&](const std::string& r) {
                            return std::find(moved.begin(), moved.end(), r) != moved.end();
                        });
                        if (theirs.size() == before) continue;
                        CARNET_CHECK(txn.Exec(
                            "UPDATE access_relations SET roles = ?, updated_at = ?, "
                            "updated_by = ? WHERE patient_id = ? AND "
                            "professional_account = ?",
                            {JoinRoles(theirs), now, actor.account_id, pid, AsText(o[0])}));
                    }
                }
            }
            CARNET_TRY(out.value, LoadProfessional(txn, pid, account));
            return Ok();
        });
}

Status AccessService::RemoveProfessional(const Actor& actor, const std::string& pid,
                                         const std::string& request_id,
                                         const std::string& account) {
    return Managed<Unit>(
        actor, pid, request_id, [&](store::WriteTxn& txn, Gate& g, Outcome<Unit>& out) -> Status {
            const int64_t now = g.now_us;
            CARNET_CHECK(
                txn.Exec("UPDATE access_relations SET status = 'known', via_code = 0, roles "
                         "= '', updated_at = ?, updated_by = ? WHERE patient_id = ? AND "
                         "professional_account = ?",
                         {now, actor.account_id, pid, account}));
            out.value = Unit{};
            return Ok();
        });
}

// ---- codes ------------------------------------------------------------------------------

Result<NewCode> AccessService::CreateCode(const Actor& actor, const std::string& pid,
                                          const std::string& request_id) {
    return Managed<NewCode>(
        actor, pid, request_id,
        [&](store::WriteTxn& txn, Gate& g, Outcome<NewCode>& out) -> Status {
            const int64_t now = g.now_us;
            CARNET_TRY(auto open,
                       txn.Query("SELECT COUNT(*) FROM access_codes WHERE patient_id = ? "
                                 "AND used_at IS NULL AND revoked_at IS NULL AND "
                                 "expires_at > ? AND tries < ?",
                                 {pid, now, kCodeTries}));
            if (!open.empty() && AsInt(open[0][0]) >= kMaxOpenCodes) {
                out.refusal = Error::Make(Code::kConflict, "conflict",
                                          "trop de codes en cours : révoquez-en un d'abord");
                return Ok();
            }
            NewCode c;
            c.id = NewUuid();
            const std::string code = NewAccessCode();
            c.code = GroupAccessCode(code);
            c.expires_at = now + kCodeDurationUs;
            CARNET_CHECK(
                txn.Exec("INSERT INTO access_codes(patient_id, id, code_hash, created_at, "
                         "created_by, expires_at, tries) VALUES (?, ?, ?, ?, ?, ?, 0)",
                         {pid, c.id, CodeHash(pid, code), now, actor.account_id, c.expires_at}));
            out.value = std::move(c);
            return Ok();
        });
}

Result<std::vector<CodeInfo>> AccessService::ListCodes(const Actor& actor, const std::string& pid,
                                                       const std::string& request_id) {
    return Managed<std::vector<CodeInfo>>(
        actor, pid, request_id,
        [&](store::WriteTxn& txn, Gate& g, Outcome<std::vector<CodeInfo>>& out) -> Status {
            const int64_t now = g.now_us;
            CARNET_TRY(auto rows,
                       txn.Query("SELECT id, created_at, expires_at, tries, used_at, "
                                 "used_by, revoked_at FROM access_codes WHERE patient_id "
                                 "= ? ORDER BY created_at DESC, id LIMIT 100",
                                 {pid}));
            Names names(txn);
            std::vector<CodeInfo> list;
            for (const auto& r : rows) {
                CodeInfo c;
                c.id = AsText(r[0]);
                c.created_at = AsInt(r[1]);
                c.expires_at = AsInt(r[2]);
                if (!IsNull(r[4])) {
                    c.status = "used";
                    CARNET_TRY(c.used_by_name, names.Of(AsText(r[5])));
                } else if (!IsNull(r[6])) {
                    c.status = "revoked";
                } else if (AsInt(r[3]) >= kCodeTries) {
                    c.status = "void";
                } else if (c.expires_at <= now) {
                    c.status = "expired";
                } else {
                    c.status = "active";
                }
                list.push_back(std::move(c));
            }
            out.value = std::move(list);
            return Ok();
        });
}

Status AccessService::RevokeCode(const Actor& actor, const std::string& pid,
                                 const std::string& request_id, const std::string& code_id) {
    Outcome<Unit> out;
    Status s = store_.Write([&](store::WriteTxn& txn) -> Status {
        out.Reset();
        const int64_t now = clock_.NowMicros();
        CARNET_TRY(Gate g, Ask(txn, actor, pid, Action::kManage, RecordTarget(pid),
                               Purpose::kTreatment, now));
        if (!g.exists || !g.decision.allow) {
            CARNET_CHECK(Log(txn, g, actor, request_id));
            out.refusal = g.Refusal();
            return Ok();
        }
        // The code row is locked before the log's head, in the order RedeemCode takes them:
        // on PostgreSQL a revocation and a redemption at once would deadlock otherwise.
        CARNET_CHECK(
            txn.Exec("UPDATE access_codes SET revoked_at = ? WHERE patient_id = ? AND id "
                     "= ? AND used_at IS NULL AND revoked_at IS NULL",
                     {now, pid, code_id}));
        CARNET_CHECK(Log(txn, g, actor, request_id));
        CARNET_TRY(auto found, txn.Query("SELECT used_at FROM access_codes WHERE patient_id = ? "
                                         "AND id = ?",
                                         {pid, code_id}));
        if (found.empty()) {
            out.refusal = Error::NotFound("code introuvable");
            return Ok();
        }
        out.value = Unit{};
        return Ok();
    });
    return out.Finish(s);
}

Result<std::string> AccessService::RecordOfIns(const std::string& ins) {
    const auto canonical = auth::NormalizeIns(ins);
    if (!canonical) return Error::Invalid("INS invalide", "ins");
    CARNET_TRY(auto reader, store_.OpenReader());
    CARNET_TRY(auto rows, reader->Query("SELECT patient_id FROM accounts WHERE ins = ? AND kind "
                                        "= 'patient'",
                                        {*canonical}));
    if (rows.empty() || store::AsText(rows[0][0]).empty()) {
        return Error::NotFound("dossier introuvable");
    }
    return store::AsText(rows[0][0]);
}

Result<Redeemed> AccessService::RedeemCode(const Actor& actor, const std::string& request_id,
                                           const std::string& ins, const std::string& patient,
                                           const std::string& code_text) {
    // One answer for an unknown record, a wrong, used, revoked, expired or void code, and a
    // refusal to a professional the record does not know.
    static constexpr std::string_view kBadCode = "code invalide ou expiré";
    const std::string code = NormalizeAccessCode(code_text);
    if (code.empty()) return Error::Invalid("un code a 10 caractères (XXXX-XXXX-XX)", "code");
    std::optional<std::string> canonical_ins;
    if (!ins.empty()) {
        canonical_ins = auth::NormalizeIns(ins);
        if (!canonical_ins) return Error::Invalid("INS invalide", "ins");
    } else if (patient.empty()) {
        return Error::Invalid("champ requis : ins (ou patient)", "ins");
    }
    Outcome<Redeemed> out;
    Status s = store_.Write([&](store::WriteTxn& txn) -> Status {
        out.Reset();
        const int64_t now = clock_.NowMicros();
        std::string pid = patient;
        if (canonical_ins) {
            CARNET_TRY(auto rows, txn.Query("SELECT patient_id FROM accounts WHERE ins = ? AND "
                                            "kind = 'patient'",
                                            {*canonical_ins}));
            pid = rows.empty() ? std::string() : AsText(rows[0][0]);
        }
        CARNET_TRY(Gate g, Ask(txn, actor, pid, Action::kRedeemCode, RecordTarget(pid),
                               Purpose::kTreatment, now));
        if (!g.exists || !g.decision.allow) {
            // Refused before the code is looked at: a blocked professional does not use it up.
            CARNET_CHECK(Log(txn, g, actor, request_id));
            out.refusal = g.Refusal(kBadCode);
            return Ok();
        }
        CARNET_TRY(auto open, txn.Query("SELECT id, code_hash FROM access_codes WHERE patient_id "
                                        "= ? AND used_at IS NULL AND revoked_at IS NULL AND "
                                        "expires_at > ? AND tries < ?",
                                        {pid, now, kCodeTries}));
        const std::string hash = CodeHash(pid, code);
        std::string matched;
        for (const auto& r : open) {
            if (auth::ConstantTimeEquals(AsText(r[1]), hash)) matched = AsText(r[0]);
        }
        int64_t used = 0;
        if (!matched.empty()) {
            // Guarded: of two redemptions at once, one wins.
            CARNET_TRY(used, txn.Exec("UPDATE access_codes SET used_at = ?, used_by = ? WHERE "
                                      "patient_id = ? AND id = ? AND used_at IS NULL AND "
                                      "revoked_at IS NULL",
                                      {now, actor.account_id, pid, matched}));
        }
        if (used != 1) {
            // A wrong code: one try more on every open code of the record (void at 5).
            CARNET_CHECK(
                txn.Exec("UPDATE access_codes SET tries = tries + 1 WHERE patient_id = ? "
                         "AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ? "
                         "AND tries < ?",
                         {pid, now, kCodeTries}));
            g.decision.allow = false;
            g.decision.notice = Notice::kNone;
            g.decision.reason = Reason::kNoBasis;
            g.reason_override = "invalid-code";
            CARNET_CHECK(Log(txn, g, actor, request_id));
            out.refusal = Error::NotFound(std::string(kBadCode));
            return Ok();
        }
        CARNET_CHECK(Log(txn, g, actor, request_id));
        // Guarded: a block that committed since the decision wins (PostgreSQL runs the two
        // at once; the log's head lock, taken just above, orders them).
        CARNET_TRY(int64_t authorised,
                   txn.Exec("INSERT INTO access_relations(patient_id, professional_account, "
                            "status, via_code, roles, created_at, updated_at, updated_by) VALUES "
                            "(?, ?, 'authorised', 1, '', ?, ?, ?) ON CONFLICT(patient_id, "
                            "professional_account) DO UPDATE SET status = 'authorised', via_code "
                            "= 1, updated_at = excluded.updated_at, updated_by = "
                            "excluded.updated_by WHERE access_relations.status <> 'blocked'",
                            {pid, actor.account_id, now, now, actor.account_id}));
        if (authorised != 1) {
            // Undo it all (the code stays unused); the next attempt is decided afresh.
            return Error::Make(Code::kConflict, "conflict",
                               "le dossier a changé pendant la demande : réessayez");
        }
        Redeemed r;
        r.patient_id = pid;
        if (!g.facts.holder_account.empty()) {
            Names names(txn);
            CARNET_TRY(r.name, names.Of(g.facts.holder_account));
        }
        out.value = std::move(r);
        return Ok();
    });
    return out.Finish(s);
}

// ---- documents --------------------------------------------------------------------------

std::string ReplacedIdOf(const json::object& doc) {
    const auto* rel = doc.if_contains("relatesTo");
    if (rel == nullptr || !rel->is_array()) return {};
    for (const auto& r : rel->as_array()) {
        if (!r.is_object() || StringAt(r.as_object(), "code") != "replaces") continue;
        const auto* target = r.as_object().if_contains("target");
        if (target == nullptr || !target->is_object()) continue;
        std::string_view ref;
        if (const auto* v = target->as_object().if_contains("reference"); v && v->is_string()) {
            ref = v->as_string();
        }
        if (auto h = ref.find("/_history/"); h != std::string_view::npos) ref = ref.substr(0, h);
        constexpr std::string_view kPrefix = "DocumentReference/";
        if (ref.substr(0, kPrefix.size()) != kPrefix) continue;
        const std::string_view id = ref.substr(kPrefix.size());
        if (IsValidFhirId(id)) return std::string(id);
    }
    return {};
}

void DescribeDocument(const json::object& doc, DocumentInfo& info) {
    info.date = StringAt(doc, "date");
    info.title = TitleOf(doc);
    info.author_name = AuthorDisplay(doc);
    ContentOf(doc, info);
    const std::string status = StringAt(doc, "status");
    info.status = status.empty() ? "current" : status;
    info.replaces = ReplacedIdOf(doc);
}

void LinkVersions(std::vector<DocumentInfo>& list) {
    std::erase_if(list,
                  [](const DocumentInfo& d) { return d.status == "entered-in-error" && !d.own; });
    std::map<std::string, size_t> at;
    for (size_t i = 0; i < list.size(); ++i) at[list[i].id] = i;
    for (auto& d : list) {
        if (d.replaces.empty()) continue;
        auto it = at.find(d.replaces);
        if (it == at.end() || it->second >= list.size() || list[it->second].id == d.id) {
            d.replaces.clear();
            continue;
        }
        // A document replaced twice (two branches) keeps the newer replacement.
        list[it->second].replaced_by = d.id;
    }
}

Result<std::vector<DocumentInfo>> AccessService::ListDocuments(const Actor& actor,
                                                               const std::string& pid,
                                                               const std::string& request_id) {
    static constexpr size_t kMaxDocuments = 2000;
    Outcome<std::vector<DocumentInfo>> out;
    Status s = store_.Write([&](store::WriteTxn& txn) -> Status {
        out.Reset();
        const int64_t now = clock_.NowMicros();
        Target record = RecordTarget(pid);
        record.resource_type = "DocumentReference";
        // The list with its flags is one of the holder's controls.
        CARNET_TRY(Gate g, Ask(txn, actor, pid, Action::kManage, record, Purpose::kTreatment, now));
        g.action = Action::kRead;  // what the entry records: a read of the documents
        if (!g.exists || !g.decision.allow) {
            CARNET_CHECK(Log(txn, g, actor, request_id));
            out.refusal = g.Refusal();
            return Ok();
        }
        std::vector<store::ResourceVersion> docs;
        store::SearchQuery q;
        q.type = "DocumentReference";
        store::Predicate p;
        p.kind = store::Predicate::Kind::kReference;
        p.param = "patient";
        p.target_type = "Patient";
        p.target_id = pid;
        q.all_of.push_back(store::Clause{{p}});
        q.count = 200;
        do {
            CARNET_TRY(auto page, txn.Search(q));
            for (auto& rv : page.resources) docs.push_back(std::move(rv));
            q.cursor = page.next_cursor;
        } while (!q.cursor.empty() && docs.size() < kMaxDocuments);

        std::vector<std::pair<std::string, std::string>> keys;
        keys.reserve(docs.size());
        for (const auto& d : docs) keys.emplace_back(d.type, d.id);
        CARNET_TRY(auto flags, LoadFlags(txn, pid, keys));
        CARNET_TRY(auto grid, grids_.Current(txn));
        Names names(txn);
        std::vector<DocumentInfo> list;
        for (const auto& d : docs) {
            if (d.deleted || d.patient_id != pid) continue;
            auto f = flags.find({d.type, d.id});
            const DocFlags* fl = f == flags.end() ? nullptr : &f->second;
            DecisionInput in;
            in.actor = actor;
            in.patient = g.facts.patient;
            in.rel = g.facts.rel;
            in.target = TargetOf(d, fl);
            in.action = Action::kRead;
            in.now_us = now;
            if (!access::Decide(*grid, in).allow) continue;  // hidden from this reader
            DocumentInfo info = DescribeDocument(d, fl, in.target.category, actor.account_id, now);
            if (fl != nullptr && !fl->author_account.empty()) {
                CARNET_TRY(std::string name, names.Of(fl->author_account));
                if (!name.empty()) info.author_name = name;
            }
            list.push_back(std::move(info));
        }
        LinkVersions(list);
        CARNET_CHECK(Log(txn, g, actor, request_id, static_cast<int64_t>(list.size())));
        out.value = std::move(list);
        return Ok();
    });
    return out.Finish(s);
}

namespace {

/// The document `type/id` of record `pid`, or nullopt (absent, deleted, another record's).
Result<std::optional<store::ResourceVersion>> DocumentOf(store::Reader& txn, const std::string& pid,
                                                         const std::string& type,
                                                         const std::string& id) {
    if (!LooksLikeResourceType(type) || !IsValidFhirId(id) || type == "Patient") {
        return std::optional<store::ResourceVersion>();
    }
    CARNET_TRY(auto rv, txn.ReadCurrent(type, id));
    if (!rv || rv->deleted || rv->patient_id != pid) return std::optional<store::ResourceVersion>();
    return rv;
}

}  // namespace

Status AccessService::SetMasked(const Actor& actor, const std::string& pid,
                                const std::string& request_id, const std::string& type,
                                const std::string& id, bool masked) {
    static constexpr std::string_view kNoDocument = "document introuvable";
    Outcome<Unit> out;
    Status s = store_.Write([&](store::WriteTxn& txn) -> Status {
        out.Reset();
        const int64_t now = clock_.NowMicros();
        Target target = RecordTarget(pid);
        target.resource_type = LooksLikeResourceType(type) ? type : "";
        CARNET_TRY(Gate g, Ask(txn, actor, pid, Action::kManage, target, Purpose::kTreatment, now));
        CARNET_TRY(auto doc, DocumentOf(txn, pid, type, id));
        std::optional<DocFlags> flags;
        if (doc) {
            CARNET_TRY(auto fl, LoadFlags(txn, pid, {{type, id}}));
            if (auto it = fl.find({type, id}); it != fl.end()) flags = it->second;
            g.target = TargetOf(*doc, flags ? &*flags : nullptr);
            g.resource_id = id;
        }
        CARNET_CHECK(Log(txn, g, actor, request_id));
        if (!g.exists || !g.decision.allow) {
            out.refusal = g.Refusal(kNoDocument);
            return Ok();
        }
        if (doc) {
            // What the caller may not read does not exist for them (a document still hidden
            // from the patient).
            CARNET_TRY(auto grid, grids_.Current(txn));
            DecisionInput in;
            in.actor = actor;
            in.patient = g.facts.patient;
            in.rel = g.facts.rel;
            in.target = g.target;
            in.action = Action::kRead;
            in.now_us = now;
            if (!access::Decide(*grid, in).allow) doc.reset();
        }
        if (!doc) {
            out.refusal = Error::NotFound(std::string(kNoDocument));
            return Ok();
        }
        CARNET_CHECK(
            txn.Exec("INSERT INTO access_flags(patient_id, type, id, author_account, "
                     "author_kind, masked, hidden_until, hidden_repr, created_at) VALUES "
                     "(?, ?, ?, '', '', ?, 0, 0, ?) ON CONFLICT(patient_id, type, id) DO "
                     "UPDATE SET masked = excluded.masked",
                     {pid, type, id, int64_t{masked ? 1 : 0}, now}));
        out.value = Unit{};
        return Ok();
    });
    return out.Finish(s);
}

Status AccessService::ReleaseDocument(const Actor& actor, const std::string& pid,
                                      const std::string& request_id, const std::string& type,
                                      const std::string& id) {
    // One answer for "no such document here" and "not yours to release" (to a stranger).
    static constexpr std::string_view kNoDocument = "document introuvable";
    Outcome<Unit> out;
    Status s = store_.Write([&](store::WriteTxn& txn) -> Status {
        out.Reset();
        const int64_t now = clock_.NowMicros();
        CARNET_TRY(auto doc, DocumentOf(txn, pid, type, id));
        if (!doc) {
            out.refusal = Error::NotFound(std::string(kNoDocument));
            return Ok();
        }
        CARNET_TRY(auto fl, LoadFlags(txn, pid, {{type, id}}));
        const auto it = fl.find({type, id});
        const DocFlags* flags = it == fl.end() ? nullptr : &it->second;
        CARNET_TRY(Gate g, Ask(txn, actor, pid, Action::kReleaseDocument, TargetOf(*doc, flags),
                               Purpose::kTreatment, now));
        g.resource_id = id;
        CARNET_CHECK(Log(txn, g, actor, request_id));
        if (!g.exists || !g.decision.allow) {
            out.refusal = g.Refusal(kNoDocument);
            return Ok();
        }
        CARNET_CHECK(
            txn.Exec("UPDATE access_flags SET hidden_until = 0 WHERE patient_id = ? AND "
                     "type = ? AND id = ?",
                     {pid, type, id}));
        out.value = Unit{};
        return Ok();
    });
    return out.Finish(s);
}

Result<int> AccessService::SweepHidden(int64_t now_us) {
    int announced = 0;
    Status s = store_.Write([&](store::WriteTxn& txn) -> Status {
        announced = 0;
        CARNET_TRY(auto rows, txn.Query("SELECT patient_id, type, id FROM access_flags WHERE "
                                        "warned_at IS NULL AND hidden_until > ? AND hidden_until "
                                        "<= ? ORDER BY patient_id, hidden_until LIMIT 1000",
                                        {now_us, now_us + kHiddenWarningUs}));
        Actor system;
        system.kind = ActorKind::kSystem;
        std::map<std::string, RecordFacts> facts;
        for (const auto& r : rows) {
            const std::string pid = AsText(r[0]);
            auto it = facts.find(pid);
            if (it == facts.end()) {
                CARNET_TRY(RecordFacts f, LoadRecordFacts(txn, system, pid, now_us));
                it = facts.emplace(pid, std::move(f)).first;
            }
            const RecordFacts& f = it->second;
            const bool reachable = f.patient.status == "active" || f.patient.status == "pending";
            if (reachable) {
                CARNET_CHECK(
                    NotifyHolder(txn, f, "hidden_document_notice", false, portal_url_, now_us));
            }
            CARNET_CHECK(
                txn.Exec("UPDATE access_flags SET warned_at = ? WHERE patient_id = ? AND "
                         "type = ? AND id = ?",
                         {now_us, pid, AsText(r[1]), AsText(r[2])}));
            if (reachable) ++announced;
        }
        return Ok();
    });
    if (!s.ok()) return s.error();
    return announced;
}

// ---- emergencies ------------------------------------------------------------------------

Result<int64_t> AccessService::OpenEmergency(const Actor& actor, const std::string& pid,
                                             const std::string& request_id,
                                             const std::string& purpose_text,
                                             const std::string& reason_text) {
    Purpose purpose;
    if (purpose_text == "BTG") {
        purpose = Purpose::kBtg;
    } else if (purpose_text == "ETREAT") {
        purpose = Purpose::kEtreat;
    } else {
        return Error::Invalid("purpose : BTG ou ETREAT", "purpose");
    }
    const std::string reason = Trim(reason_text);
    if (reason.size() > 2000) return Error::Invalid("motif trop long", "reason");
    const bool reason_given = CodePoints(reason) >= kMinBtgReason;
    // Break-the-glass preconditions answer the same whatever the record: they say nothing
    // of it (checked again by Decide, and logged, when the record exists).
    std::optional<Error> precondition;
    if (purpose == Purpose::kBtg && !reason_given) {
        precondition = Error::Invalid(
            "un motif d'au moins " + std::to_string(kMinBtgReason) + " caractères est requis",
            "reason");
    } else if (purpose == Purpose::kBtg && !actor.fresh_auth) {
        precondition = Forbidden(Reason::kNeedsFreshAuth);
    }
    Outcome<int64_t> out;
    Status s = store_.Write([&](store::WriteTxn& txn) -> Status {
        out.Reset();
        const int64_t now = clock_.NowMicros();
        Target target = RecordTarget(pid);
        target.reason_given = reason_given;
        CARNET_TRY(Gate g, Ask(txn, actor, pid, Action::kOpenEmergency, target, purpose, now));
        CARNET_CHECK(Log(txn, g, actor, request_id));
        if (!g.exists || !g.decision.allow) {
            out.refusal = precondition ? *precondition : g.Refusal();
            return Ok();
        }
        if (precondition) {  // Decide agreed to what these forbid: fail closed
            return Error::Internal("access: emergency allowed without its preconditions");
        }
        const int64_t until = now + kEmergencyDurationUs;
        CARNET_CHECK(
            txn.Exec("INSERT INTO emergency_grants(patient_id, id, professional_account, "
                     "kind, reason, opened_at, until_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                     {pid, NewUuid(), actor.account_id, std::string(PurposeName(purpose)), reason,
                      now, until}));
        out.value = until;
        return Ok();
    });
    return out.Finish(s);
}

Result<std::vector<EmergencyInfo>> AccessService::ListEmergencies(const Actor& actor,
                                                                  const std::string& pid,
                                                                  const std::string& request_id) {
    return Managed<std::vector<EmergencyInfo>>(
        actor, pid, request_id,
        [&](store::WriteTxn& txn, Gate&, Outcome<std::vector<EmergencyInfo>>& out) -> Status {
            CARNET_TRY(auto rows, txn.Query("SELECT id, professional_account, kind, reason, "
                                            "opened_at, until_at FROM emergency_grants WHERE "
                                            "patient_id = ? ORDER BY opened_at DESC, id LIMIT 200",
                                            {pid}));
            Names names(txn);
            std::vector<EmergencyInfo> list;
            for (const auto& r : rows) {
                EmergencyInfo e;
                e.id = AsText(r[0]);
                CARNET_TRY(e.professional_name, names.Of(AsText(r[1])));
                e.kind = AsText(r[2]);
                e.reason = AsText(r[3]);
                e.opened_at = AsInt(r[4]);
                e.until = AsInt(r[5]);
                list.push_back(std::move(e));
            }
            out.value = std::move(list);
            return Ok();
        });
}

Result<std::vector<ReachableRecord>> AccessService::ReachablePatients(const Actor& actor) {
    if (actor.kind != ActorKind::kProfessional) {
        return Error::Make(Code::kForbidden, "forbidden", "réservé aux professionnels");
    }
    CARNET_TRY(auto reader, store_.OpenReader());
    const int64_t now = clock_.NowMicros();
    CARNET_TRY(auto rows,
               reader->Query("SELECT patient_id FROM access_relations WHERE professional_account "
                             "= ? AND status <> 'blocked' AND (status = 'authorised' OR roles "
                             "<> '') UNION SELECT patient_id FROM emergency_grants WHERE "
                             "professional_account = ? AND until_at > ? LIMIT 1000",
                             {actor.account_id, actor.account_id, now}));
    CARNET_TRY(auto grid, grids_.Current(*reader));
    Names names(*reader);
    std::vector<ReachableRecord> list;
    for (const auto& r : rows) {
        const std::string pid = AsText(r[0]);
        CARNET_TRY(RecordFacts f, LoadRecordFacts(*reader, actor, pid, now));
        DecisionInput in;
        in.actor = actor;
        in.patient = f.patient;
        in.rel = f.rel;
        in.target = RecordTarget(pid);
        in.action = Action::kRead;
        in.now_us = now;
        const Decision d = access::Decide(*grid, in);
        if (!d.allow) continue;
        ReachableRecord rec;
        rec.patient_id = pid;
        rec.basis = std::string(BasisName(d.basis));
        if (d.basis == Basis::kBtg || d.basis == Basis::kEtreat)
            rec.until = f.rel.emergency_until_us;
        if (!f.holder_account.empty()) {
            CARNET_TRY(rec.name, names.Of(f.holder_account));
        }
        list.push_back(std::move(rec));
    }
    std::stable_sort(
        list.begin(), list.end(),
        [](const ReachableRecord& a, const ReachableRecord& b) { return a.name < b.name; });
    return list;
}

// ---- the log ----------------------------------------------------------------------------

Result<LogPage> AccessService::List(store::Reader& txn, audit::Filter filter) {
    filter.limit = std::clamp(filter.limit, 1, 200);
    CARNET_TRY(auto entries, audit::List(txn, filter));
    Names names(txn);
    LogPage page;
    for (auto& e : entries) {
        LogLine line;
        CARNET_TRY(line.actor_name, names.Of(e.entry.actor_account));
        line.stored = std::move(e);
        page.entries.push_back(std::move(line));
    }
    if (static_cast<int>(page.entries.size()) < filter.limit || page.entries.empty()) return page;
    if (!filter.patient_id.empty()) {
        page.next_before = page.entries.back().stored.seq;  // one chain: seq pages it
        return page;
    }
    // Across records seq means nothing: the next page is the entries before the last time
    // shown. Entries sharing that time move to the next page whole (unless the page is
    // nothing but that time).
    const int64_t last = page.entries.back().stored.entry.at_us;
    size_t keep = page.entries.size();
    while (keep > 0 && page.entries[keep - 1].stored.entry.at_us == last) --keep;
    if (keep > 0) {
        page.entries.resize(keep);
        page.next_until = last;
    } else {
        page.next_until = last;  // a page of one instant: go on strictly before it
    }
    return page;
}

namespace {

audit::Filter FilterOf(const LogQuery& q) {
    audit::Filter f;
    f.outcome = q.outcome;
    f.emergency_only = q.emergency_only;
    f.since_us = q.since_us;
    f.until_us = q.until_us;
    f.before_seq = q.before_seq;
    f.limit = q.limit;
    return f;
}

}  // namespace

Result<LogPage> AccessService::ReadLog(const Actor& actor, const std::string& pid,
                                       const std::string& request_id, const LogQuery& query) {
    Outcome<LogPage> out;
    Status s = store_.Write([&](store::WriteTxn& txn) -> Status {
        out.Reset();
        CARNET_TRY(Gate g, Ask(txn, actor, pid, Action::kReadAudit, RecordTarget(pid),
                               Purpose::kTreatment, clock_.NowMicros()));
        if (!g.exists && actor.kind == ActorKind::kProfessional && !NeverContent(actor)) {
            // A professional reads their own entries of any record: of one that does not
            // exist, there are none — the answer a record without their entries gives.
            out.value = LogPage{};
            return Ok();
        }
        if (!g.exists || !g.decision.allow) {
            CARNET_CHECK(Log(txn, g, actor, request_id));
            out.refusal = g.Refusal();
            return Ok();
        }
        audit::Filter f = FilterOf(query);
        f.patient_id = pid;
        // Professionals read their own entries only.
        if (actor.kind != ActorKind::kPatient) f.actor_account = actor.account_id;
        CARNET_TRY(LogPage page, List(txn, f));
        // This reading is itself logged (it shows in the next page read).
        CARNET_CHECK(Log(txn, g, actor, request_id, static_cast<int64_t>(page.entries.size())));
        out.value = std::move(page);
        return Ok();
    });
    return out.Finish(s);
}

Result<LogPage> AccessService::OwnLog(const Actor& actor, const LogQuery& query) {
    if (actor.kind != ActorKind::kProfessional) {
        return Error::Make(Code::kForbidden, "forbidden", "réservé aux professionnels");
    }
    CARNET_TRY(auto reader, store_.OpenReader());
    audit::Filter f = FilterOf(query);
    f.actor_account = actor.account_id;
    return List(*reader, f);
}

// ---- the grid ---------------------------------------------------------------------------

Result<GridAnswer> AccessService::GetGrid() {
    CARNET_TRY(auto reader, store_.OpenReader());
    CARNET_TRY(auto rows, reader->Query("SELECT version, grid, created_at, created_by FROM "
                                        "access_grid ORDER BY version DESC LIMIT 1"));
    GridAnswer a;
    if (rows.empty()) {
        a.grid_json = Grid::Default().ToJson();
        return a;
    }
    a.version.version = AsInt(rows[0][0]);
    a.grid_json = AsText(rows[0][1]);
    a.version.created_at = AsInt(rows[0][2]);
    a.version.created_by = AsText(rows[0][3]);
    return a;
}

Result<std::vector<GridVersion>> AccessService::GridVersions() {
    CARNET_TRY(auto reader, store_.OpenReader());
    CARNET_TRY(auto rows, reader->Query("SELECT version, created_at, created_by FROM access_grid "
                                        "ORDER BY version DESC LIMIT 500"));
    std::vector<GridVersion> out;
    for (const auto& r : rows) {
        out.push_back(GridVersion{AsInt(r[0]), AsInt(r[1]), AsText(r[2])});
    }
    out.push_back(GridVersion{});  // version 0: the grid shipped with Carnet
    return out;
}

Result<GridVersion> AccessService::PutGrid(const Actor& actor, const std::string& request_id,
                                           const std::string& grid_json) {
    if (actor.kind != ActorKind::kAdmin) {
        return Error::Make(Code::kForbidden, "forbidden", "réservé aux administrateurs");
    }
    CARNET_TRY(Grid grid, Grid::FromJson(grid_json));
    // Every profession of the directory that may read content has its row; nothing else.
    std::set<std::string> expected;
    for (const auto& [code, _] : auth::Professions()) {
        Actor probe;
        probe.kind = ActorKind::kProfessional;
        probe.profession = code;
        if (!NeverContent(probe)) expected.insert(code);
    }
    const auto rows = grid.Professions();
    for (const auto& p : rows) {
        if (!expected.contains(p)) {
            return Error::Invalid(
                "profession inconnue ou sans accès au contenu : " + p.substr(0, 40), "professions");
        }
    }
    for (const auto& p : expected) {
        if (std::find(rows.begin(), rows.end(), p) == rows.end()) {
            return Error::Invalid("ligne manquante : " + p, "professions");
        }
    }
    GridVersion v;
    Status s = store_.Write([&](store::WriteTxn& txn) -> Status {
        v.created_at = clock_.NowMicros();
        v.created_by = actor.account_id;
        CARNET_TRY(v.version, grids_.Save(txn, grid, actor.account_id, v.created_at));
        return Ok();
    });
    if (!s.ok()) return s.error();
    spdlog::info("access grid: version {} saved by {} (request {})", v.version, actor.account_id,
                 request_id);
    return v;
}

}  // namespace carnet::access
