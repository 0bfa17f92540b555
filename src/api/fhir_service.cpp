#include "api/fhir_service.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <boost/url.hpp>
#include <charconv>
#include <map>
#include <set>
#include <unordered_map>

#include "access/classify.hpp"
#include "access/service.hpp"
#include "core/ids.hpp"
#include "crypto/crypto.hpp"
#include "fhir/definitions.hpp"
#include "fhir/index.hpp"
#include "fhir/json.hpp"
#include "fhir/validate.hpp"
#include "http/types.hpp"
#include "profile/sections.hpp"

namespace carnet::api {

namespace json = boost::json;
using store::ResourceVersion;
using store::WriteTxn;

std::string ETagFor(int64_t version) { return "W/\"" + std::to_string(version) + "\""; }

std::optional<int64_t> ParseETag(const std::string& etag) {
    std::string_view v = etag;
    if (v.substr(0, 2) == "W/") v.remove_prefix(2);
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
    int64_t n = 0;
    auto r = std::from_chars(v.data(), v.data() + v.size(), n);
    if (r.ec != std::errc() || r.ptr != v.data() + v.size() || n < 1) return std::nullopt;
    return n;
}

namespace {
int HexValue(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::string PercentDecode(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '+') {
            out.push_back(' ');
        } else if (s[i] == '%' && i + 2 < s.size() && HexValue(s[i + 1]) >= 0 &&
                   HexValue(s[i + 2]) >= 0) {
            out.push_back(static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2])));
            i += 2;
        } else {
            out.push_back(s[i]);
        }
    }
    return out;
}
}  // namespace

// Lenient on purpose: conditional references and ifNoneExist values written by clinical
// software (Synthea among them) carry raw '|' and ':' that RFC 3986 would want encoded.
QueryParams ParseQueryString(std::string_view text) {
    QueryParams out;
    while (!text.empty()) {
        auto amp = text.find('&');
        std::string_view pair = text.substr(0, amp);
        if (!pair.empty()) {
            auto eq = pair.find('=');
            out.emplace_back(
                PercentDecode(pair.substr(0, eq)),
                eq == std::string_view::npos ? std::string() : PercentDecode(pair.substr(eq + 1)));
        }
        if (amp == std::string_view::npos) break;
        text.remove_prefix(amp + 1);
    }
    return out;
}

namespace {

constexpr int kConditionalProbe = 2;  // enough rows to tell "one" from "several"

Error PreconditionFailed(std::string why) {
    return Error::Make(Code::kPreconditionFailed, "conflict", std::move(why));
}

/// The resource as stored: resourceType, id and meta first, then the rest as given.
std::string Stamp(json::object& obj, const std::string& type, const std::string& id,
                  int64_t version, int64_t when) {
    json::object meta;
    if (auto* m = obj.if_contains("meta"); m && m->is_object()) meta = m->as_object();
    meta["versionId"] = std::to_string(version);
    meta["lastUpdated"] = FormatInstant(when);
    json::object out;
    out.reserve(obj.size() + 3);
    out["resourceType"] = type;
    out["id"] = id;
    out["meta"] = std::move(meta);
    for (auto& kv : obj) {
        if (kv.key() == "resourceType" || kv.key() == "id" || kv.key() == "meta") continue;
        out[kv.key()] = std::move(kv.value());
    }
    obj = std::move(out);
    return json::serialize(obj);
}

// Content equality ignoring the server-managed meta fields.
bool SameContent(const std::string& stored_json, const json::object& incoming) {
    auto parsed = fhir::ParseJson(stored_json);
    if (!parsed.ok() || !parsed->is_object()) return false;
    auto strip = [](json::object o) {
        if (auto* m = o.if_contains("meta"); m && m->is_object()) {
            m->as_object().erase("versionId");
            m->as_object().erase("lastUpdated");
            if (m->as_object().empty()) o.erase("meta");
        }
        return o;
    };
    return strip(parsed->as_object()) == strip(incoming);
}

/// The resources matching conditional-operation criteria. With a scope, only among the
/// records the caller may open, and a match the caller may not read refuses the operation.
Result<std::vector<ResourceVersion>> FindMatches(store::Reader& reader, const std::string& type,
                                                 const QueryParams& criteria,
                                                 Scope* scope = nullptr) {
    if (criteria.empty()) {
        return Error::Make(Code::kInvalid, "processing", "conditional operation without criteria");
    }
    CARNET_TRY(ParsedSearch parsed, ParseSearch(type, criteria, false));
    parsed.query.count = kConditionalProbe;
    if (scope != nullptr) {
        CARNET_TRY(parsed.query.patients, scope->SearchablePatients(reader));
    }
    CARNET_TRY(auto page, reader.Search(parsed.query));
    if (scope != nullptr) {
        for (const auto& m : page.resources) {
            CARNET_TRY(auto d, scope->Check(reader, m, access::Action::kRead, true));
            if (!d.allow) {
                return PreconditionFailed("the criteria match a resource you may not read");
            }
        }
    }
    return std::move(page.resources);
}

/// meta.security codings a professional sets on a new document (docs/ACCESS-API.md); kept
/// as access flags, removed from the stored body.
constexpr std::string_view kAccessLabels = "https://carnet.health/fhir/CodeSystem/access";

struct AccessLabels {
    bool hidden_from_patient = false;
    bool hidden_from_representatives = false;
};

AccessLabels TakeAccessLabels(json::object& obj) {
    AccessLabels out;
    auto* meta = obj.if_contains("meta");
    if (!meta || !meta->is_object()) return out;
    auto* security = meta->as_object().if_contains("security");
    if (!security || !security->is_array()) return out;
    json::array kept;
    for (auto& c : security->as_array()) {
        const auto* sys = c.is_object() ? c.as_object().if_contains("system") : nullptr;
        const auto* code = c.is_object() ? c.as_object().if_contains("code") : nullptr;
        if (sys && sys->is_string() && sys->as_string() == kAccessLabels) {
            if (code && code->is_string() && code->as_string() == "hidden-from-patient")
                out.hidden_from_patient = true;
            if (code && code->is_string() && code->as_string() == "hidden-from-representatives")
                out.hidden_from_representatives = true;
            continue;
        }
        kept.push_back(std::move(c));
    }
    if (kept.empty()) {
        meta->as_object().erase("security");
        if (meta->as_object().empty()) obj.erase("meta");
    } else {
        *security = std::move(kept);
    }
    return out;
}

bool IsDocumentType(std::string_view type) {
    return type == "DocumentReference" || type == "Composition" || type == "DiagnosticReport" ||
           type == "ImagingStudy" || type == "Media" || type == "Binary";
}

/// The record a resource belongs to. A Binary is in no compartment in R4: it belongs to the
/// record its securityContext points into.
Result<std::string> OwnerOf(store::Reader& txn, const std::string& type, const json::object& obj) {
    std::string owner = fhir::OwnerPatient(obj);
    if (!owner.empty() || (type != "Binary" && type != "Provenance")) return owner;
    // A Binary belongs to the record its securityContext names; a Provenance to the record of
    // its first target (R4 puts a Provenance in a patient's compartment only when it targets
    // the Patient itself: one about a Condition would otherwise be nobody's, readable by all).
    const json::value* ref = nullptr;
    if (type == "Binary") {
        const auto* ctx = obj.if_contains("securityContext");
        if (!ctx || !ctx->is_object()) return owner;
        ref = ctx->as_object().if_contains("reference");
    } else {
        const auto* targets = obj.if_contains("target");
        if (!targets || !targets->is_array() || targets->as_array().empty()) return owner;
        const auto& first = targets->as_array().front();
        if (!first.is_object()) return owner;
        ref = first.as_object().if_contains("reference");
    }
    if (!ref || !ref->is_string()) return owner;
    std::string_view r = ref->as_string();
    if (auto h = r.find("/_history/"); h != std::string_view::npos) r = r.substr(0, h);
    const auto slash = r.find('/');
    if (slash == std::string_view::npos) return owner;
    const std::string t(r.substr(0, slash)), id(r.substr(slash + 1));
    if (t == "Patient") return IsValidFhirId(id) ? id : owner;  // "Patient/../x": no record
    if (!fhir::Definitions::R4().IsResourceType(t) || !IsValidFhirId(id)) return owner;
    CARNET_TRY(auto target, txn.ReadCurrent(t, id));
    if (target) owner = target->patient_id;
    return owner;
}

/// The answer to a refused write: 403 with the rule when the caller may open the record
/// (they know it exists), else exactly the answer for a record that does not exist.
Error WriteRefusal(store::Reader& txn, Scope& scope, const std::string& patient_id,
                   const access::Decision& d) {
    auto sees = scope.MaySeeRecord(txn, patient_id);
    if (!sees.ok()) return sees.error();
    if (!*sees) return Error::NotFound("resource not found");
    return Error::Make(Code::kForbidden, "forbidden",
                       "access refused (" + std::string(access::ReasonName(d.reason)) + ")");
}

/// Writes a new version of type/id over `current` (inside the caller's transaction).
/// `skip_if_same`: an identical body makes no new version. With a scope, the write is
/// decided first (the current version: update; the new content: create or update).
/// How a Binary's content reaches the store from PutVersion: the policy, the store (to
/// compare re-posted content with a stored blob) and, for a raw upload, its bytes.
struct BinaryContext {
    const ContentPolicy* policy = nullptr;
    store::Store* store = nullptr;
    const store::ChunkSource* raw = nullptr;  // POST of raw bytes
    /// A system write on behalf of a feed (the insurer's): its author.
    const FeedSource* feed = nullptr;
};

std::string ContentTypeOf(const json::object& obj) {
    const auto* t = obj.if_contains("contentType");
    return t != nullptr && t->is_string() ? std::string(t->as_string()) : std::string();
}

/// Resources whose versions get a Provenance when a person or a feed writes them: what a
/// record holds, not its content's bytes (Binary: its DocumentReference has one), not the
/// record itself, and not the Provenances and log entries that describe the others.
bool NeedsProvenance(const std::string& type) {
    return type != "Patient" && type != "Binary" && type != "Provenance" && type != "AuditEvent";
}

/// Who the scope's caller is, for a Provenance: the reference type and their name.
Result<std::pair<std::string, std::string>> AgentOf(store::Reader& txn, Scope& scope,
                                                    const std::string& patient_id) {
    const access::Actor& a = scope.caller().actor;
    std::string who_type = "Organization";
    if (a.kind == access::ActorKind::kProfessional) {
        who_type = "Practitioner";
    } else if (a.kind == access::ActorKind::kPatient) {
        CARNET_TRY(const access::RecordFacts* f, scope.Facts(txn, patient_id));
        who_type = f->rel.self ? "Patient" : "RelatedPerson";
    }
    CARNET_TRY(std::string name, access::AccountName(txn, a.account_id));
    return std::make_pair(who_type, name.empty() ? std::string("Carnet") : name);
}

/// The Provenance of one version (docs/PROFILE.md, "Who wrote each entry"), in the
/// transaction that wrote it: it belongs to the same record, so it is read under the same
/// decision as the rest of the record.
Status WriteProvenance(WriteTxn& txn, const ResourceVersion& rv, const char* activity, Scope* scope,
                       const FeedSource* feed, int64_t now) {
    std::string who_type = "Organization", name;
    if (scope != nullptr) {
        CARNET_TRY(auto agent, AgentOf(txn, *scope, rv.patient_id));
        who_type = std::move(agent.first);
        name = std::move(agent.second);
    } else if (feed != nullptr) {
        name = feed->display;
    }
    json::object who{{"type", who_type}, {"display", name}};
    if (who_type == "Patient") who["reference"] = "Patient/" + rv.patient_id;
    json::object prov{
        {"resourceType", "Provenance"},
        {"target", json::array{json::object{{"reference", rv.type + "/" + rv.id + "/_history/" +
                                                              std::to_string(rv.version)}}}},
        {"recorded", FormatInstant(now)},
        {"activity",
         json::object{
             {"coding", json::array{json::object{
                            {"system", "http://terminology.hl7.org/CodeSystem/v3-DataOperation"},
                            {"code", activity}}}}}},
        {"agent",
         json::array{json::object{
             {"type",
              json::object{
                  {"coding",
                   json::array{json::object{
                       {"system",
                        "http://terminology.hl7.org/CodeSystem/provenance-participant-type"},
                       {"code", "author"}}}}}},
             {"who", std::move(who)}}}}};
    const std::string id = NewUuid();
    store::PutRequest req;
    req.resource.json = Stamp(prov, "Provenance", id, 1, now);
    req.resource.type = "Provenance";
    req.resource.id = id;
    req.resource.version = 1;
    req.resource.last_updated_us = now;
    req.resource.patient_id = rv.patient_id;
    req.index = fhir::ExtractIndex(prov);
    req.expected_previous_version = 0;
    return txn.Put(req);
}

Result<WriteOutcome> PutVersion(WriteTxn& txn, const std::string& type, const std::string& id,
                                json::object obj, const std::optional<ResourceVersion>& current,
                                bool skip_if_same, int64_t now, Scope* scope = nullptr,
                                const BinaryContext* content = nullptr);

/// A stored DocumentReference with its body, for changing its status.
struct StoredDocument {
    ResourceVersion rv;
    json::object body;
};

/// The current version of DocumentReference `id` when it is live, in record `pid`, and its
/// status is `status`; nullopt otherwise.
Result<std::optional<StoredDocument>> DocumentWithStatus(store::Reader& txn, const std::string& id,
                                                         const std::string& pid,
                                                         std::string_view status) {
    CARNET_TRY(auto rv, txn.ReadCurrent("DocumentReference", id));
    if (!rv || rv->deleted || rv->patient_id != pid) return std::optional<StoredDocument>();
    auto body = fhir::ParseJson(rv->json, 64);
    if (!body.ok() || !body->is_object()) return std::optional<StoredDocument>();
    const auto* st = body->as_object().if_contains("status");
    if (st == nullptr || !st->is_string() || st->as_string() != status) {
        return std::optional<StoredDocument>();
    }
    return std::optional<StoredDocument>(
        StoredDocument{std::move(*rv), std::move(body->as_object())});
}

/// The document a DocumentReference replaces (`relatesTo` with code "replaces"), when this
/// version adds that link: it must be a current document of the same record, and it gets a
/// new version with status "superseded", written like any update (decided for the caller:
/// only its author; its own Provenance). One already named by the version in `current` was
/// handled when that version was written. Fails (the caller's transaction undoes all) with
/// 422 when the document is absent, in another record, not current, or unreadable by the
/// caller (who must not learn that it exists), with the write's refusal otherwise.
Status SupersedeReplaced(WriteTxn& txn, const json::object& obj,
                         const std::optional<ResourceVersion>& current, const std::string& owner,
                         int64_t now, Scope* scope, const BinaryContext* content) {
    const auto* rel = obj.if_contains("relatesTo");
    if (rel == nullptr || !rel->is_array() || rel->as_array().empty()) return Ok();
    std::string before;
    if (current && !current->deleted) {
        if (auto prev = fhir::ParseJson(current->json, 64); prev.ok() && prev->is_object()) {
            before = access::ReplacedIdOf(prev->as_object());
        }
    }
    // Every "replaces" link must name a document this server can supersede.
    for (const auto& r : rel->as_array()) {
        if (!r.is_object()) continue;
        const auto* code = r.as_object().if_contains("code");
        if (code == nullptr || !code->is_string() || code->as_string() != "replaces") continue;
        const json::object one{{"relatesTo", json::array{r}}};
        if (access::ReplacedIdOf(one).empty()) {
            return Error::Make(Code::kUnprocessable, "business-rule",
                               "relatesTo replaces must name a DocumentReference/{id}",
                               "DocumentReference.relatesTo");
        }
    }
    const std::string replaced = access::ReplacedIdOf(obj);
    if (replaced.empty() || replaced == before) return Ok();
    auto not_replaceable = [] {
        return Error::Make(Code::kUnprocessable, "business-rule",
                           "the replaced document must be a current document of the same record",
                           "DocumentReference.relatesTo");
    };
    if (owner.empty() || (current && current->id == replaced)) return not_replaceable();
    CARNET_TRY(auto old, DocumentWithStatus(txn, replaced, owner, "current"));
    if (!old) return not_replaceable();
    if (scope != nullptr) {
        CARNET_TRY(const access::DocFlags* f,
                   scope->FlagsOf(txn, old->rv.patient_id, old->rv.type, old->rv.id));
        CARNET_TRY(auto seen,
                   scope->Would(txn, access::TargetOf(old->rv, f), access::Action::kRead));
        if (!seen.allow) return not_replaceable();
    }
    old->body["status"] = "superseded";
    CARNET_TRY(auto superseded,
               PutVersion(txn, "DocumentReference", old->rv.id, std::move(old->body), old->rv,
                          false, now, scope, content));
    (void)superseded;
    return Ok();
}

/// The document a withdrawn replacement had superseded comes back. When `replacement`, the
/// live version of a *current* DocumentReference that replaces X, is retracted
/// (`entered-in-error`) or deleted, X, if it is still superseded, gets a new version with
/// status "current": the replacement was an error, so the document it displaced is the
/// record's again. That write is decided like any update of X for the caller (X's author,
/// since only they could replace it); when the caller may no longer change X, X stays
/// superseded and the retraction still happens (the decision is not logged: nothing of X is
/// read or changed).
Status RestoreReplaced(WriteTxn& txn, const ResourceVersion& replacement, int64_t now,
                       Scope* scope) {
    if (replacement.type != "DocumentReference" || replacement.deleted) return Ok();
    auto parsed = fhir::ParseJson(replacement.json, 64);
    if (!parsed.ok() || !parsed->is_object()) return Ok();
    const auto* was = parsed->as_object().if_contains("status");
    if (was == nullptr || !was->is_string() || was->as_string() != "current") return Ok();
    const std::string replaced = access::ReplacedIdOf(parsed->as_object());
    if (replaced.empty()) return Ok();
    CARNET_TRY(auto old, DocumentWithStatus(txn, replaced, replacement.patient_id, "superseded"));
    if (!old) return Ok();
    if (scope != nullptr) {
        CARNET_TRY(const access::DocFlags* f,
                   scope->FlagsOf(txn, old->rv.patient_id, old->rv.type, old->rv.id));
        CARNET_TRY(auto may,
                   scope->Would(txn, access::TargetOf(old->rv, f), access::Action::kUpdate));
        if (!may.allow) return Ok();
    }
    old->body["status"] = "current";
    CARNET_TRY(auto restored, PutVersion(txn, "DocumentReference", old->rv.id, std::move(old->body),
                                         old->rv, false, now, scope, nullptr));
    (void)restored;
    return Ok();
}

Result<WriteOutcome> PutVersion(WriteTxn& txn, const std::string& type, const std::string& id,
                                json::object obj, const std::optional<ResourceVersion>& current,
                                bool skip_if_same, int64_t now, Scope* scope,
                                const BinaryContext* content) {
    const bool live = current && !current->deleted;
    const AccessLabels labels = TakeAccessLabels(obj);
    // A Binary of a record keeps its bytes in a blob, not in its JSON. Its content never
    // changes (a new document is a new Binary): re-posting the same bytes is no change.
    std::optional<std::string> binary_data;
    std::optional<store::BlobMeta> stored_blob;
    if (type == "Binary" && content != nullptr) {
        if (const auto* d = obj.if_contains("data"); d != nullptr) {
            if (!d->is_string()) return Error::Invalid("Binary.data must be base64", "Binary.data");
            CARNET_TRY(auto bytes, crypto::Base64Decode(d->as_string()));
            binary_data = std::move(bytes);
        }
    }
    if (live && skip_if_same && SameContent(current->json, obj)) {
        if (scope != nullptr) {
            CARNET_TRY(auto d, scope->Check(txn, *current, access::Action::kRead, true));
            if (!d.allow) {
                return WriteRefusal(txn, *scope, current->patient_id, d);
            }
        }
        return WriteOutcome{*current, 200, false};
    }
    CARNET_TRY(std::string owner, OwnerOf(txn, type, obj));
    if (scope != nullptr) {
        if (type == "Binary" && owner.empty()) {
            return Error::Make(Code::kUnprocessable, "business-rule",
                               "a Binary needs a securityContext that points into a record");
        }
        if (live) {
            CARNET_TRY(auto d, scope->Check(txn, *current, access::Action::kUpdate, true));
            if (!d.allow) {
                return WriteRefusal(txn, *scope, current->patient_id, d);
            }
        }
        if (!owner.empty()) {
            const access::Actor& actor = scope->caller().actor;
            access::Classification c =
                access::Classify(obj, !live && actor.kind == access::ActorKind::kPatient);
            access::Target t;
            t.resource_type = type;
            t.patient_id = owner;
            t.category = c.category;
            t.sensitive = c.sensitive;
            t.author_account = actor.account_id;
            if (live) {
                // The author stays who wrote the first version.
                CARNET_TRY(auto flags, access::LoadFlags(txn, owner, {{type, id}}));
                auto it = flags.find({type, id});
                t.author_account = it == flags.end() ? std::string() : it->second.author_account;
                if (it != flags.end() && it->second.author_kind == "patient")
                    t.category = access::Classify(obj, true).category;
            }
            CARNET_TRY(auto d,
                       scope->CheckTarget(
                           txn, t, live ? access::Action::kUpdate : access::Action::kCreate, id));
            if (!d.allow) {
                return WriteRefusal(txn, *scope, owner, d);
            }
        } else {
            access::Target t;
            t.resource_type = type;
            CARNET_TRY(auto d,
                       scope->CheckTarget(
                           txn, t, live ? access::Action::kUpdate : access::Action::kCreate, id));
            if (!d.allow) return Error::Make(Code::kForbidden, "forbidden", "access refused");
        }
    }
    // A person's own declarations (advance directives, trusted person, organ donation) are
    // written by the holder side only: a professional's would speak for the patient.
    if (scope != nullptr && !owner.empty() &&
        scope->caller().actor.kind != access::ActorKind::kPatient &&
        profile::HolderOnly(profile::SectionOf(obj))) {
        return Error::Make(Code::kForbidden, "forbidden",
                           "access refused (this is the patient's own declaration)");
    }
    // Advance directives are an adult's (Code de la santé publique, art. L1111-11): not in
    // a minor's record, whoever writes.
    if (scope != nullptr && !owner.empty() && type == "Consent" &&
        profile::IsAdvanceDirective(obj)) {
        CARNET_TRY(const access::RecordFacts* f, scope->Facts(txn, owner));
        if (f->patient.minor) {
            return Error::Make(Code::kUnprocessable, "business-rule",
                               "advance directives are written by adults: this record is a "
                               "minor's");
        }
    }
    // A new version of a document: the one it replaces becomes "superseded", in this
    // transaction (docs/DOCUMENTS.md, "Versions").
    if (type == "DocumentReference") {
        CARNET_CHECK(SupersedeReplaced(txn, obj, current, owner, now, scope, content));
        // A retracted replacement gives the document it replaced back (docs/DOCUMENTS.md).
        const auto* st = obj.if_contains("status");
        if (live && st != nullptr && st->is_string() && st->as_string() == "entered-in-error") {
            CARNET_CHECK(RestoreReplaced(txn, *current, now, scope));
        }
    }
    // Only now, once the write is allowed, does the stored content matter (a refused caller
    // must not learn anything from how the content compares).
    if (type == "Binary" && content != nullptr && live) {
        CARNET_TRY(stored_blob, txn.BlobMetaOf(current->patient_id, id));
    }
    if (stored_blob) {
        if (content->raw != nullptr) {
            return Error::Make(Code::kConflict, "duplicate", "this Binary has its content");
        }
        if (binary_data) {
            CARNET_TRY(bool same, SameAsStored(*content->store, *stored_blob, ContentTypeOf(obj),
                                               *binary_data));
            if (!same) {
                return Error::Make(Code::kUnprocessable, "business-rule",
                                   "the content of a document does not change: send a new "
                                   "Binary and a DocumentReference that replaces the old one");
            }
            binary_data.reset();
            obj.erase("data");
        }
        obj["contentType"] = stored_blob->content_type;
        // The same content re-posted with the same rest: no new version (imports re-run).
        if (skip_if_same && SameContent(current->json, obj)) {
            return WriteOutcome{*current, 200, false};
        }
    }
    if (stored_blob && owner != stored_blob->patient_id) {
        return Error::Make(Code::kUnprocessable, "business-rule",
                           "a document's content stays in the record it was filed in");
    }
    if (content != nullptr && type == "Binary" && !owner.empty() &&
        (binary_data || content->raw != nullptr)) {
        const int64_t limit =
            UploadLimitFor(*content->policy, scope != nullptr ? scope->caller().actor.kind
                                                              : access::ActorKind::kSystem);
        const store::ChunkSource one =
            binary_data ? OnePiece(std::move(*binary_data)) : store::ChunkSource();
        CARNET_TRY(auto meta,
                   StoreContent(txn, owner, id, ContentTypeOf(obj),
                                content->raw != nullptr ? *content->raw : one, limit, now));
        obj.erase("data");
        obj["contentType"] = meta.content_type;
    } else if (content != nullptr && content->raw != nullptr) {
        return Error::Make(Code::kUnprocessable, "business-rule",
                           "a Binary needs a securityContext that points into a record");
    }
    store::PutRequest req;
    const int64_t version = current ? current->version + 1 : 1;
    // Timestamps stay monotonic per resource even if the wall clock steps back.
    const int64_t when = current ? std::max(now, current->last_updated_us + 1) : now;
    req.resource.json = Stamp(obj, type, id, version, when);
    req.resource.type = type;
    req.resource.id = id;
    req.resource.version = version;
    req.resource.last_updated_us = when;
    req.resource.patient_id = owner;
    req.index = fhir::ExtractIndex(obj);
    req.expected_previous_version = current ? current->version : 0;
    CARNET_CHECK(txn.Put(req));
    const FeedSource* feed = content != nullptr ? content->feed : nullptr;
    if (!owner.empty() && NeedsProvenance(type) && (scope != nullptr || feed != nullptr)) {
        CARNET_CHECK(
            WriteProvenance(txn, req.resource, live ? "UPDATE" : "CREATE", scope, feed, now));
    }
    if (!live && !owner.empty() && type != "Patient") {
        // Who wrote it, and the flags it starts with: masked when the holder masks new
        // documents, hidden from the patient or the representatives when its author said so.
        std::string author, author_kind = "system";
        if (scope != nullptr) {
            const access::Actor& actor = scope->caller().actor;
            author = actor.account_id;
            author_kind = std::string(access::ActorKindName(actor.kind));
        } else if (feed != nullptr) {
            author_kind = feed->kind;  // no account: nobody may change what a feed wrote
        }
        const bool from_patient = author_kind == "patient";
        CARNET_TRY(auto settings, access::LoadSettings(txn, owner));
        const bool masked = settings.mask_new && IsDocumentType(type);
        const int64_t hidden_until =
            labels.hidden_from_patient && !from_patient ? now + access::kHiddenFromPatientUs : 0;
        const bool hidden_repr = labels.hidden_from_representatives && !from_patient;
        if (scope != nullptr || feed != nullptr || masked || hidden_until != 0 || hidden_repr) {
            CARNET_CHECK(txn.Exec(
                "INSERT INTO access_flags(patient_id, type, id, author_account, author_kind, "
                "masked, hidden_until, hidden_repr, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, "
                "?) ON CONFLICT(patient_id, type, id) DO UPDATE SET author_account = "
                "excluded.author_account, author_kind = excluded.author_kind, masked = "
                "excluded.masked, hidden_until = excluded.hidden_until, hidden_repr = "
                "excluded.hidden_repr, warned_at = NULL",
                {owner, type, id, author, author_kind, int64_t{masked}, hidden_until,
                 int64_t{hidden_repr}, now}));
        }
    }
    return WriteOutcome{std::move(req.resource), live ? 200 : 201, true};
}

Result<std::optional<int64_t>> ExpectedFromIfMatch(const std::optional<std::string>& if_match) {
    if (!if_match) return std::optional<int64_t>();
    auto v = ParseETag(*if_match);
    if (!v)
        return Error::Make(Code::kInvalid, "processing", "If-Match must be an ETag like W/\"1\"");
    return std::optional<int64_t>(*v);
}

void AppendEntry(std::string& out, bool& first, const std::string& base, const ResourceVersion& r,
                 const char* mode) {
    if (!first) out += ',';
    first = false;
    out += "{\"fullUrl\":";
    out += json::serialize(json::string(base + "/" + r.type + "/" + r.id));
    out += ",\"resource\":";
    out += r.json;
    out += ",\"search\":{\"mode\":\"";
    out += mode;
    out += "\"}}";
}

std::string EncodeQuery(const QueryParams& params) {
    boost::urls::url u("x:");
    for (const auto& [k, v] : params) u.params().append({k, v});
    return std::string(u.encoded_query());
}

// Walks every "reference" string of a resource, calling fn on it (may rewrite it).
template <typename Fn>
void ForEachReference(json::value& v, const Fn& fn) {
    if (v.is_object()) {
        auto& o = v.as_object();
        for (auto& kv : o) {
            if (kv.key() == "reference" && kv.value().is_string()) {
                fn(kv.value().as_string());
            } else if (kv.key() != "contained") {
                ForEachReference(kv.value(), fn);
            }
        }
    } else if (v.is_array()) {
        for (auto& e : v.as_array()) ForEachReference(e, fn);
    }
}

// Walks every "url" string that is a urn (an Attachment's url pointing at a Bundle entry,
// e.g. a DocumentReference's content and the Binary of the same transaction).
template <typename Fn>
void ForEachUrnUrl(json::value& v, const Fn& fn) {
    if (v.is_object()) {
        for (auto& kv : v.as_object()) {
            if (kv.key() == "url" && kv.value().is_string() &&
                kv.value().as_string().starts_with("urn:")) {
                fn(kv.value().as_string());
            } else if (kv.key() != "contained") {
                ForEachUrnUrl(kv.value(), fn);
            }
        }
    } else if (v.is_array()) {
        for (auto& e : v.as_array()) ForEachUrnUrl(e, fn);
    }
}

/// "Type/id" or "Type?criteria" split from a request url relative to the base.
struct EntryUrl {
    std::string type;
    std::string id;
    std::string vid;
    bool has_query = false;
    QueryParams query;
};

Result<EntryUrl> ParseEntryUrl(std::string url) {
    EntryUrl e;
    // Absolute URLs of this server and relative ones are accepted alike.
    if (auto fhir = url.find("/fhir/"); url.rfind("http", 0) == 0 && fhir != std::string::npos) {
        url = url.substr(fhir + 6);
    }
    if (!url.empty() && url[0] == '/') url.erase(0, 1);
    auto q = url.find('?');
    if (q != std::string::npos) {
        e.has_query = true;
        e.query = ParseQueryString(std::string_view(url).substr(q + 1));
        url = url.substr(0, q);
    }
    std::vector<std::string> segs;
    size_t start = 0;
    while (start <= url.size()) {
        auto slash = url.find('/', start);
        segs.push_back(
            url.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
        if (slash == std::string::npos) break;
        start = slash + 1;
    }
    if (segs.empty() || !fhir::Definitions::R4().IsResourceType(segs[0])) {
        return Error::Make(Code::kInvalid, "processing",
                           "entry request url must start with a known resource type");
    }
    e.type = segs[0];
    if (segs.size() >= 2) e.id = segs[1];
    if (segs.size() == 4 && segs[2] == "_history") e.vid = segs[3];
    if (segs.size() > 4 || segs.size() == 3 || (segs.size() == 4 && segs[2] != "_history") ||
        (!e.id.empty() && !IsValidFhirId(e.id))) {
        return Error::Make(Code::kInvalid, "processing", "malformed entry request url");
    }
    return e;
}

// Status and OperationOutcome mapping have one home: http/error_map.cpp.
std::string ErrorOutcomeJson(const Error& e) { return http::OperationOutcomeJson(e.issues); }

std::string StatusText(int status) {
    switch (status) {
        case 200:
            return "200 OK";
        case 201:
            return "201 Created";
        case 204:
            return "204 No Content";
        default:
            return std::to_string(status);
    }
}

}  // namespace

namespace {

/// A write transaction whose Put first asks the gate about the owning patient.
class GatedTxn final : public WriteTxn {
  public:
    GatedTxn(WriteTxn& inner, const FhirService::WriteGate& gate) : inner_(inner), gate_(gate) {}
    Result<std::optional<ResourceVersion>> ReadCurrent(const std::string& type,
                                                       const std::string& id) override {
        return inner_.ReadCurrent(type, id);
    }
    Result<bool> Exists(const std::string& type, const std::string& id) override {
        return inner_.Exists(type, id);
    }
    Result<std::optional<ResourceVersion>> ReadVersion(const std::string& type,
                                                       const std::string& id,
                                                       int64_t version) override {
        return inner_.ReadVersion(type, id, version);
    }
    Result<store::SearchPage> Search(const store::SearchQuery& query) override {
        return inner_.Search(query);
    }
    Result<store::HistoryPage> History(const store::HistoryQuery& query) override {
        return inner_.History(query);
    }
    Result<std::vector<store::Row>> Query(const std::string& sql,
                                          const std::vector<store::Value>& params) override {
        return inner_.Query(sql, params);
    }
    bool SoleWriter() const override { return inner_.SoleWriter(); }
    Result<std::optional<store::BlobMeta>> BlobMetaOf(const std::string& patient_id,
                                                      const std::string& id) override {
        return inner_.BlobMetaOf(patient_id, id);
    }
    Result<store::BlobMeta> PutBlob(store::BlobMeta meta, const store::ChunkSource& source,
                                    int64_t max_bytes) override {
        CARNET_CHECK(gate_(inner_, meta.patient_id));
        return inner_.PutBlob(std::move(meta), source, max_bytes);
    }
    Result<bool> DeleteBlob(const std::string& patient_id, const std::string& id) override {
        CARNET_CHECK(gate_(inner_, patient_id));
        return inner_.DeleteBlob(patient_id, id);
    }
    Status Put(const store::PutRequest& request) override {
        const std::string& owner = request.resource.patient_id;
        if (!owner.empty()) CARNET_CHECK(gate_(inner_, owner));
        if (request.expected_previous_version > 0) {
            // A new version may move the resource out of its compartment (another subject):
            // the record it leaves must accept the change too.
            CARNET_TRY(auto rows, inner_.Query("SELECT patient_id FROM resources WHERE type = ? "
                                               "AND id = ?",
                                               {request.resource.type, request.resource.id}));
            if (!rows.empty()) {
                const std::string previous = store::AsText(rows[0][0]);
                if (!previous.empty() && previous != owner) CARNET_CHECK(gate_(inner_, previous));
            }
        }
        return inner_.Put(request);
    }
    Status Nested(const std::function<Status()>& fn) override { return inner_.Nested(fn); }
    Result<int64_t> Exec(const std::string& sql, const std::vector<store::Value>& params) override {
        return inner_.Exec(sql, params);
    }

  private:
    WriteTxn& inner_;
    const FhirService::WriteGate& gate_;
};

}  // namespace

Status FhirService::Write(const std::function<Status(WriteTxn&)>& job) {
    if (!write_gate_) return store_.Write(job);
    return store_.Write([&](WriteTxn& raw) -> Status {
        GatedTxn txn(raw, write_gate_);
        return job(txn);
    });
}

Status FhirService::CheckResource(const std::string& type, const json::object& resource) {
    const auto* rt = resource.if_contains("resourceType");
    if (!rt || !rt->is_string()) {
        return Error::Invalid("resourceType is required", "resourceType");
    }
    if (rt->as_string() != type) {
        return Error::Invalid("resourceType does not match the URL (" + type + ")", "resourceType");
    }
    if (type == "AuditEvent") {
        return Error::Make(Code::kForbidden, "forbidden",
                           "the access log is written by Carnet alone (GET /fhir/AuditEvent)");
    }
    return fhir::Validate(resource);
}

Status FhirService::WithScope(const Caller& caller,
                              const std::function<Status(WriteTxn&, Scope*)>& job) {
    if (caller.IsSystem() || access_.grids == nullptr) {
        return Write([&](WriteTxn& txn) { return job(txn, nullptr); });
    }
    // On PostgreSQL another transaction may change the record's access between the facts
    // this one read and its commit: the log appends (Flush) lock the records' heads, then
    // the decisions are re-made from what is committed; if one changed, all of it is rolled
    // back and done again. SQLite runs one writer at a time: the first try always holds.
    for (int attempt = 0;; ++attempt) {
        Status inner = Ok();
        bool stale = false;
        Status written = Write([&](WriteTxn& txn) -> Status {
            CARNET_TRY(auto grid, access_.grids->Current(txn));
            const int64_t now = clock_.NowMicros();
            Scope scope(caller, std::move(grid), access_.portal_url, now);
            inner = txn.Nested([&] { return job(txn, &scope); });
            // The decisions made are logged whether or not the data work succeeded.
            CARNET_CHECK(scope.Flush(txn));
            CARNET_TRY(bool valid, scope.StillValid(txn, *access_.grids, now));
            if (!valid && attempt < 3) {
                stale = true;
                return Error::Make(Code::kConflict, "conflict", "access changed meanwhile");
            }
            return Ok();
        });
        if (stale) continue;
        CARNET_CHECK(written);
        return inner;
    }
}

Status FhirService::WithReadScope(const Caller& caller,
                                  const std::function<Status(store::Reader&, Scope*)>& job) {
    if (caller.IsSystem() || access_.grids == nullptr) {
        CARNET_TRY(auto reader, store_.OpenReader());
        return job(*reader, nullptr);
    }
    {
        CARNET_TRY(auto reader, store_.OpenReader());
        CARNET_TRY(auto grid, access_.grids->Current(*reader));
        Scope scope(caller, std::move(grid), access_.portal_url, clock_.NowMicros());
        Status inner = job(*reader, &scope);
        reader.reset();
        if (!scope.HasDecisions()) return inner;  // nobody's record was touched
        bool stale = false;
        Status written = store_.Write([&](WriteTxn& txn) -> Status {
            CARNET_CHECK(scope.Flush(txn));
            CARNET_TRY(bool valid, scope.StillValid(txn, *access_.grids, clock_.NowMicros()));
            if (!valid) {
                stale = true;
                return Error::Make(Code::kConflict, "conflict", "access changed during the read");
            }
            return Ok();
        });
        if (!stale) {
            CARNET_CHECK(written);
            return inner;
        }
    }
    // The record's access changed while it was read: decide again, in the writer.
    return WithScope(caller, [&](WriteTxn& txn, Scope* scope) { return job(txn, scope); });
}

Result<ResourceVersion> FhirService::Read(const std::string& type, const std::string& id,
                                          const Caller& caller) {
    CARNET_TRY(auto rv, ReadDecided(type, id, caller));
    if (type == "Binary") return WithBinaryData(std::move(rv));
    return rv;
}

Result<ResourceVersion> FhirService::WithBinaryData(ResourceVersion rv) {
    if (rv.patient_id.empty() || rv.deleted) return rv;
    auto source = store_.OpenBlob(rv.patient_id, rv.id);
    if (!source.ok()) {
        if (source.error().code == Code::kNotFound) return rv;  // kept inline
        return source.error();
    }
    std::string bytes;
    bytes.reserve(static_cast<size_t>((*source)->Meta().size));
    for (;;) {
        CARNET_TRY(auto piece, (*source)->Next());
        if (!piece) break;
        bytes += *piece;
    }
    CARNET_TRY(auto parsed, fhir::ParseJson(rv.json));
    auto& obj = parsed.as_object();
    obj["data"] = crypto::Base64Encode(bytes);
    rv.json = json::serialize(obj);
    return rv;
}

Result<FhirService::BinaryContent> FhirService::ReadBinary(const std::string& id,
                                                           const Caller& caller) {
    CARNET_TRY(auto rv, ReadDecided("Binary", id, caller));
    BinaryContent out;
    if (!rv.patient_id.empty()) {
        auto source = store_.OpenBlob(rv.patient_id, id);
        if (source.ok()) {
            out.content = std::move(source).value();
        } else if (source.error().code != Code::kNotFound) {
            return source.error();
        }
    }
    out.resource = std::move(rv);
    return out;
}

Result<WriteOutcome> FhirService::CreateBinary(const std::string& declared_type,
                                               const std::string& security_context,
                                               const store::ChunkSource& raw,
                                               const Caller& caller) {
    json::object obj;
    obj["resourceType"] = "Binary";
    obj["contentType"] = declared_type;
    obj["securityContext"] = json::object{{"reference", security_context}};
    CARNET_CHECK(CheckResource("Binary", obj));
    const std::string id = NewUuid();
    const BinaryContext content{&content_, &store_, &raw};
    std::optional<WriteOutcome> out;
    CARNET_CHECK(WithScope(caller, [&](WriteTxn& txn, Scope* scope) -> Status {
        CARNET_TRY(out, PutVersion(txn, "Binary", id, obj, std::nullopt, false, clock_.NowMicros(),
                                   scope, &content));
        return Ok();
    }));
    return std::move(*out);
}

Result<ResourceVersion> FhirService::ReadDecided(const std::string& type, const std::string& id,
                                                 const Caller& caller) {
    if (!IsValidFhirId(id)) return Error::NotFound("resource not found");
    if (caller.IsSystem() || access_.grids == nullptr) {
        CARNET_TRY(auto reader, store_.OpenReader());
        CARNET_TRY(auto cur, reader->ReadCurrent(type, id));
        if (!cur) return Error::NotFound("resource not found");
        if (cur->deleted) return Error::Make(Code::kGone, "deleted", "the resource was deleted");
        return std::move(*cur);
    }
    std::optional<ResourceVersion> out;
    CARNET_CHECK(WithReadScope(caller, [&](store::Reader& txn, Scope* scope) -> Status {
        CARNET_TRY(auto cur, txn.ReadCurrent(type, id));
        if (!cur) return Error::NotFound("resource not found");
        CARNET_TRY(auto d, scope->Check(txn, *cur, access::Action::kRead, true));
        // Refused: the same answer as for a resource that does not exist.
        if (!d.allow) return Error::NotFound("resource not found");
        if (cur->deleted) return Error::Make(Code::kGone, "deleted", "the resource was deleted");
        out = std::move(cur);
        return Ok();
    }));
    return std::move(*out);
}

Result<ResourceVersion> FhirService::VRead(const std::string& type, const std::string& id,
                                           const std::string& version, const Caller& caller) {
    CARNET_TRY(auto rv, VReadDecided(type, id, version, caller));
    if (type == "Binary") return WithBinaryData(std::move(rv));
    return rv;
}

Result<ResourceVersion> FhirService::VReadDecided(const std::string& type, const std::string& id,
                                                  const std::string& version,
                                                  const Caller& caller) {
    int64_t v = 0;
    auto r = std::from_chars(version.data(), version.data() + version.size(), v);
    if (r.ec != std::errc() || r.ptr != version.data() + version.size() || v < 1 ||
        !IsValidFhirId(id)) {
        return Error::NotFound("version not found");
    }
    if (caller.IsSystem() || access_.grids == nullptr) {
        CARNET_TRY(auto reader, store_.OpenReader());
        CARNET_TRY(auto rv, reader->ReadVersion(type, id, v));
        if (!rv) return Error::NotFound("version not found");
        if (rv->deleted) return Error::Make(Code::kGone, "deleted", "this version is a deletion");
        return std::move(*rv);
    }
    std::optional<ResourceVersion> out;
    CARNET_CHECK(WithReadScope(caller, [&](store::Reader& txn, Scope* scope) -> Status {
        CARNET_TRY(auto rv, txn.ReadVersion(type, id, v));
        if (!rv) return Error::NotFound("version not found");
        CARNET_TRY(auto d, scope->Check(txn, *rv, access::Action::kRead, true));
        if (!d.allow) return Error::NotFound("version not found");
        if (rv->deleted) return Error::Make(Code::kGone, "deleted", "this version is a deletion");
        out = std::move(rv);
        return Ok();
    }));
    return std::move(*out);
}

Result<WriteOutcome> FhirService::Create(const std::string& type, json::object resource,
                                         const std::optional<std::string>& if_none_exist,
                                         const Caller& caller) {
    const BinaryContext bc{&content_, &store_, nullptr};
    CARNET_CHECK(CheckResource(type, resource));
    QueryParams criteria;
    if (if_none_exist) {
        std::string_view q = *if_none_exist;
        if (auto pos = q.find('?'); pos != std::string_view::npos) q = q.substr(pos + 1);
        criteria = ParseQueryString(q);
        // Fail fast, before taking the writer, on criteria that cannot parse.
        CARNET_CHECK(ParseSearch(type, criteria, false));
    }
    // R4 http 3.1.0.8 create: the server assigns the id; a client id is ignored.
    const std::string id = NewUuid();
    std::unique_lock conditional(conditional_write_mu_, std::defer_lock);
    if (if_none_exist) conditional.lock();
    std::optional<WriteOutcome> out;
    CARNET_CHECK(WithScope(caller, [&](WriteTxn& txn, Scope* scope) -> Status {
        if (if_none_exist) {
            CARNET_TRY(auto matches, FindMatches(txn, type, criteria, scope));
            if (matches.size() > 1) {
                return PreconditionFailed("If-None-Exist matched several resources");
            }
            if (matches.size() == 1) {
                out = WriteOutcome{std::move(matches.front()), 200, false};
                return Ok();
            }
        }
        CARNET_TRY(out, PutVersion(txn, type, id, resource, std::nullopt, false, clock_.NowMicros(),
                                   scope, &bc));
        return Ok();
    }));
    return std::move(*out);
}

Result<WriteOutcome> FhirService::Update(const std::string& type, const std::string& id,
                                         json::object resource,
                                         const std::optional<std::string>& if_match,
                                         const Caller& caller) {
    const BinaryContext bc{&content_, &store_, nullptr};
    if (!IsValidFhirId(id)) return Error::Invalid("invalid resource id in the URL");
    CARNET_CHECK(CheckResource(type, resource));
    const auto* body_id = resource.if_contains("id");
    if (!body_id || !body_id->is_string() || body_id->as_string() != id) {
        return Error::Invalid("the resource id must match the id in the URL", type + ".id");
    }
    CARNET_TRY(auto expected, ExpectedFromIfMatch(if_match));
    std::optional<WriteOutcome> out;
    CARNET_CHECK(WithScope(caller, [&](WriteTxn& txn, Scope* scope) -> Status {
        CARNET_TRY(auto current, txn.ReadCurrent(type, id));
        if (expected) {
            if (!current || current->deleted || current->version != *expected) {
                if (scope != nullptr && current) {
                    // Whether it exists is the caller's business only if they may read it.
                    CARNET_TRY(auto d, scope->Check(txn, *current, access::Action::kRead, true));
                    if (!d.allow) return Error::NotFound("resource not found");
                }
                return PreconditionFailed("If-Match does not match the current version");
            }
        }
        CARNET_TRY(out, PutVersion(txn, type, id, resource, current, true, clock_.NowMicros(),
                                   scope, &bc));
        return Ok();
    }));
    return std::move(*out);
}

Result<WriteOutcome> FhirService::ConditionalUpdate(const std::string& type,
                                                    const QueryParams& criteria,
                                                    json::object resource, const Caller& caller) {
    const BinaryContext bc{&content_, &store_, nullptr};
    CARNET_CHECK(CheckResource(type, resource));
    CARNET_CHECK(ParseSearch(type, criteria, false));
    std::lock_guard conditional(conditional_write_mu_);
    std::optional<WriteOutcome> out;
    CARNET_CHECK(WithScope(caller, [&](WriteTxn& txn, Scope* scope) -> Status {
        CARNET_TRY(auto matches, FindMatches(txn, type, criteria, scope));
        if (matches.size() > 1) return PreconditionFailed("the criteria matched several resources");
        std::string id;
        std::optional<ResourceVersion> current;
        const auto* body_id = resource.if_contains("id");
        if (matches.size() == 1) {
            id = matches.front().id;
            if (body_id && (!body_id->is_string() || body_id->as_string() != id)) {
                return Error::Invalid("the resource id differs from the matched resource",
                                      type + ".id");
            }
            current = std::move(matches.front());
        } else if (body_id && body_id->is_string() && IsValidFhirId(body_id->as_string())) {
            id = std::string(body_id->as_string());
            CARNET_TRY(current, txn.ReadCurrent(type, id));
        } else {
            id = NewUuid();
        }
        CARNET_TRY(out, PutVersion(txn, type, id, resource, current, true, clock_.NowMicros(),
                                   scope, &bc));
        return Ok();
    }));
    return std::move(*out);
}

namespace {

/// The deletion marker of `current` (decided first when there is a scope).
Status DeleteVersion(WriteTxn& txn, const ResourceVersion& current, int64_t now, Scope* scope) {
    if (scope != nullptr) {
        CARNET_TRY(auto d, scope->Check(txn, current, access::Action::kDelete, true));
        if (!d.allow) {
            return WriteRefusal(txn, *scope, current.patient_id, d);
        }
    }
    // A deleted replacement gives the document it replaced back, like a retracted one.
    CARNET_CHECK(RestoreReplaced(txn, current, now, scope));
    store::PutRequest req;
    req.resource.type = current.type;
    req.resource.id = current.id;
    req.resource.version = current.version + 1;
    req.resource.last_updated_us = std::max(now, current.last_updated_us + 1);
    req.resource.patient_id = current.patient_id;
    req.resource.deleted = true;
    req.expected_previous_version = current.version;
    CARNET_CHECK(txn.Put(req));
    if (scope != nullptr && !current.patient_id.empty() && NeedsProvenance(current.type)) {
        CARNET_CHECK(WriteProvenance(txn, req.resource, "DELETE", scope, nullptr, now));
    }
    // A deleted document's content goes (its earlier versions' JSON stays in history).
    if (current.type == "Binary" && !current.patient_id.empty()) {
        CARNET_TRY(bool dropped, txn.DeleteBlob(current.patient_id, current.id));
        (void)dropped;
    }
    return Ok();
}

}  // namespace

Result<WriteOutcome> FhirService::Delete(const std::string& type, const std::string& id,
                                         const Caller& caller) {
    if (!IsValidFhirId(id)) return Error::NotFound("resource not found");
    std::optional<WriteOutcome> out;
    CARNET_CHECK(WithScope(caller, [&](WriteTxn& txn, Scope* scope) -> Status {
        CARNET_TRY(auto current, txn.ReadCurrent(type, id));
        // Deleting what is absent or already deleted succeeds and changes nothing.
        if (!current || current->deleted) {
            out = WriteOutcome{current.value_or(ResourceVersion{}), 204, false};
            return Ok();
        }
        Status deleted = DeleteVersion(txn, *current, clock_.NowMicros(), scope);
        if (!deleted.ok() && deleted.error().code == Code::kNotFound) {
            // Refused on a record the caller cannot open: the answer for an absent resource.
            out = WriteOutcome{ResourceVersion{}, 204, false};
            return Ok();
        }
        CARNET_CHECK(deleted);
        ResourceVersion marker = *current;
        marker.version += 1;
        marker.deleted = true;
        marker.json.clear();
        out = WriteOutcome{std::move(marker), 204, true};
        return Ok();
    }));
    return std::move(*out);
}

Result<WriteOutcome> FhirService::Retract(const std::string& patient_id, const std::string& id,
                                          const Caller& caller) {
    const BinaryContext bc{&content_, &store_, nullptr};
    if (!IsValidFhirId(id) || !IsValidFhirId(patient_id)) {
        return Error::NotFound("resource not found");
    }
    std::optional<WriteOutcome> out;
    CARNET_CHECK(WithScope(caller, [&](WriteTxn& txn, Scope* scope) -> Status {
        CARNET_TRY(auto current, txn.ReadCurrent("DocumentReference", id));
        if (!current || current->deleted || current->patient_id != patient_id) {
            return Error::NotFound("resource not found");
        }
        if (scope != nullptr) {
            // What the caller may not read does not exist for them (the update below is the
            // decision that is logged).
            CARNET_TRY(const access::DocFlags* f,
                       scope->FlagsOf(txn, current->patient_id, current->type, current->id));
            CARNET_TRY(auto seen,
                       scope->Would(txn, access::TargetOf(*current, f), access::Action::kRead));
            if (!seen.allow) return Error::NotFound("resource not found");
        }
        CARNET_TRY(auto body, fhir::ParseJson(current->json, 64));
        if (!body.is_object()) return Error::Internal("stored document unreadable");
        json::object obj = std::move(body.as_object());
        obj["status"] = "entered-in-error";
        CARNET_TRY(out, PutVersion(txn, "DocumentReference", id, std::move(obj), current, true,
                                   clock_.NowMicros(), scope, &bc));
        return Ok();
    }));
    return std::move(*out);
}

namespace {

/// Records a search names explicitly (patient=, subject=, Patient?_id=).
std::vector<std::string> NamedPatients(const std::string& type, const store::SearchQuery& q) {
    std::vector<std::string> out;
    for (const auto& clause : q.all_of) {
        for (const auto& p : clause.any_of) {
            if (p.kind == store::Predicate::Kind::kReference && p.target_type == "Patient") {
                out.push_back(p.target_id);
            }
            if (p.kind == store::Predicate::Kind::kId && type == "Patient") out.push_back(p.id);
        }
    }
    return out;
}

/// The searchset Bundle, read in `reader`; with a scope, narrowed to the records the caller
/// may open and every result (matches and includes) decided.
Result<std::string> SearchBundle(store::Reader& reader, Scope* scope, const std::string& type,
                                 ParsedSearch parsed, const std::string& base_url, int64_t now) {
    if (scope != nullptr) {
        CARNET_TRY(auto patients, scope->SearchablePatients(reader));
        for (const auto& named : NamedPatients(type, parsed.query)) {
            if (!std::binary_search(patients.begin(), patients.end(), named)) {
                CARNET_CHECK(scope->NoteRecordSearch(reader, named, type));
            }
        }
        parsed.query.patients = std::move(patients);
        if (parsed.summary_count) {
            // A count over what the caller may not see would tell what is hidden: count what
            // the decision allows, page by page.
            store::SearchQuery q = parsed.query;
            q.count = 1000;
            q.want_total = false;
            int64_t allowed = 0;
            for (int pages = 0; pages < 100; ++pages) {
                CARNET_TRY(store::SearchPage chunk, reader.Search(q));
                CARNET_CHECK(scope->Prefetch(reader, chunk.resources));
                for (const auto& r : chunk.resources) {
                    CARNET_TRY(auto d, scope->Check(reader, r, access::Action::kRead, false));
                    if (d.allow) ++allowed;
                }
                if (chunk.next_cursor.empty()) break;
                q.cursor = chunk.next_cursor;
            }
            std::string out = "{\"resourceType\":\"Bundle\",\"id\":\"" + NewUuid() +
                              "\",\"type\":\"searchset\",\"total\":" + std::to_string(allowed) +
                              ",\"entry\":[]}";
            return out;
        }
    }
    CARNET_TRY(store::SearchPage page, reader.Search(parsed.query));
    if (scope != nullptr) {
        CARNET_CHECK(scope->Prefetch(reader, page.resources));
        std::vector<ResourceVersion> allowed;
        allowed.reserve(page.resources.size());
        for (auto& r : page.resources) {
            CARNET_TRY(auto d, scope->Check(reader, r, access::Action::kRead, false));
            if (d.allow) allowed.push_back(std::move(r));
        }
        page.resources = std::move(allowed);
        // A count over what the caller may not see would tell what is hidden.
        page.total.reset();
    }
    // A first page that is not full holds everything: its size is the total, for free.
    if (!page.total && parsed.query.cursor.empty() && page.next_cursor.empty() &&
        parsed.query.count > 0) {
        page.total = static_cast<int64_t>(page.resources.size());
    }

    std::string out = "{\"resourceType\":\"Bundle\",\"id\":\"" + NewUuid() +
                      "\",\"meta\":{\"lastUpdated\":\"" + FormatInstant(now) +
                      "\"},\"type\":\"searchset\"";
    if (page.total) out += ",\"total\":" + std::to_string(*page.total);
    const std::string self_query = EncodeQuery(parsed.echoed);
    out += ",\"link\":[{\"relation\":\"self\",\"url\":" +
           json::serialize(
               json::string(base_url + "/" + type + (self_query.empty() ? "" : "?") + self_query)) +
           "}";
    if (!page.next_cursor.empty()) {
        QueryParams next = parsed.echoed;
        next.emplace_back("_cursor", page.next_cursor);
        out += ",{\"relation\":\"next\",\"url\":" +
               json::serialize(json::string(base_url + "/" + type + "?" + EncodeQuery(next))) + "}";
    }
    out += "],\"entry\":[";
    bool first = true;
    std::set<std::string> seen;
    for (const auto& r : page.resources) {
        seen.insert(r.type + "/" + r.id);
        AppendEntry(out, first, base_url, r, "match");
    }
    // _include: follow the named reference parameter of each match (one level).
    for (const auto& inc : parsed.includes) {
        for (const auto& r : page.resources) {
            auto obj = fhir::ParseJson(r.json);
            if (!obj.ok() || !obj->is_object()) continue;
            for (const auto& ref : fhir::ExtractIndex(obj->as_object()).references) {
                if (ref.param != inc.param || ref.target_type.empty()) continue;
                if (!inc.target_type.empty() && ref.target_type != inc.target_type) continue;
                std::string key = ref.target_type + "/" + ref.target_id;
                if (seen.count(key)) continue;
                CARNET_TRY(auto target, reader.ReadCurrent(ref.target_type, ref.target_id));
                if (!target || target->deleted) continue;
                if (scope != nullptr) {
                    CARNET_TRY(auto d, scope->Check(reader, *target, access::Action::kRead, false));
                    if (!d.allow) continue;
                }
                seen.insert(key);
                AppendEntry(out, first, base_url, *target, "include");
            }
        }
    }
    // _revinclude: resources of the named type whose parameter points at a match.
    for (const auto& rev : parsed.revincludes) {
        if (page.resources.empty()) break;
        store::SearchQuery q;
        q.type = rev.source_type;
        q.count = 1000;
        if (scope != nullptr) q.patients = parsed.query.patients;
        store::Clause any;
        for (const auto& r : page.resources) {
            if (!rev.target_type.empty() && rev.target_type != r.type) continue;
            store::Predicate p;
            p.kind = store::Predicate::Kind::kReference;
            p.param = rev.param;
            p.target_type = r.type;
            p.target_id = r.id;
            any.any_of.push_back(std::move(p));
        }
        if (any.any_of.empty()) continue;
        q.all_of.push_back(std::move(any));
        CARNET_TRY(auto revs, reader.Search(q));
        if (scope != nullptr) CARNET_CHECK(scope->Prefetch(reader, revs.resources));
        for (const auto& r : revs.resources) {
            if (seen.count(r.type + "/" + r.id)) continue;
            if (scope != nullptr) {
                CARNET_TRY(auto d, scope->Check(reader, r, access::Action::kRead, false));
                if (!d.allow) continue;
            }
            seen.insert(r.type + "/" + r.id);
            AppendEntry(out, first, base_url, r, "include");
        }
    }
    if (!parsed.ignored.empty()) {
        Error warn;
        warn.issues = parsed.ignored;
        if (!first) out += ',';
        out += "{\"resource\":" + ErrorOutcomeJson(warn) + ",\"search\":{\"mode\":\"outcome\"}}";
    }
    out += "]}";
    return out;
}

}  // namespace

Result<std::string> FhirService::Search(const std::string& type, const QueryParams& params,
                                        bool lenient, const std::string& base_url,
                                        const Caller& caller) {
    CARNET_TRY(ParsedSearch parsed, ParseSearch(type, params, lenient));
    if (caller.IsSystem() || access_.grids == nullptr) {
        CARNET_TRY(auto reader, store_.OpenReader());
        return SearchBundle(*reader, nullptr, type, std::move(parsed), base_url,
                            clock_.NowMicros());
    }
    std::string out;
    CARNET_CHECK(WithReadScope(caller, [&](store::Reader& txn, Scope* scope) -> Status {
        CARNET_TRY(out, SearchBundle(txn, scope, type, parsed, base_url, clock_.NowMicros()));
        return Ok();
    }));
    return out;
}

Result<std::string> FhirService::History(const std::string& type, const std::string& id,
                                         const QueryParams& params, const std::string& base_url,
                                         const Caller& caller) {
    store::HistoryQuery q;
    q.type = type;
    q.id = id;
    QueryParams echoed;
    for (const auto& [k, v] : params) {
        if (k == "_count") {
            int n = -1;
            auto r = std::from_chars(v.data(), v.data() + v.size(), n);
            if (r.ec != std::errc() || r.ptr != v.data() + v.size() || n < 0 || n > 1000) {
                return Error::Make(Code::kInvalid, "processing",
                                   "_count must be between 0 and 1000");
            }
            q.count = n;
            echoed.emplace_back(k, v);
        } else if (k == "_since") {
            int64_t low = 0, high = 0;
            if (!ParseFhirDateRange(v, low, high)) {
                return Error::Make(Code::kInvalid, "processing", "_since must be an instant");
            }
            q.since_us = low;
            echoed.emplace_back(k, v);
        } else if (k == "_cursor") {
            q.cursor = v;
        } else if (k != "_format" && k != "_pretty") {
            return Error::Make(Code::kInvalid, "not-supported",
                               "unsupported history parameter '" + k + "'");
        }
    }
    if (!id.empty() && !IsValidFhirId(id)) return Error::NotFound("resource not found");
    store::HistoryPage page;
    auto read = [&](store::Reader& reader, Scope* scope) -> Status {
        if (!id.empty()) {
            CARNET_TRY(auto cur, reader.ReadCurrent(type, id));
            if (!cur) return Error::NotFound("resource not found");
            if (scope != nullptr) {
                CARNET_TRY(auto d, scope->Check(reader, *cur, access::Action::kRead, true));
                if (!d.allow) return Error::NotFound("resource not found");
            }
        }
        CARNET_TRY(page, reader.History(q));
        if (scope != nullptr) {
            // Each version is decided (type and system history cross records).
            CARNET_CHECK(scope->Prefetch(reader, page.versions));
            std::vector<ResourceVersion> allowed;
            for (auto& v : page.versions) {
                CARNET_TRY(auto d, scope->Check(reader, v, access::Action::kRead, false));
                if (d.allow) allowed.push_back(std::move(v));
            }
            page.versions = std::move(allowed);
        }
        return Ok();
    };
    if (caller.IsSystem() || access_.grids == nullptr) {
        CARNET_TRY(auto reader, store_.OpenReader());
        CARNET_CHECK(read(*reader, nullptr));
    } else {
        CARNET_CHECK(WithReadScope(
            caller, [&](store::Reader& txn, Scope* scope) { return read(txn, scope); }));
    }
    std::string path =
        base_url + (type.empty() ? "" : "/" + type) + (id.empty() ? "" : "/" + id) + "/_history";
    std::string out =
        "{\"resourceType\":\"Bundle\",\"id\":\"" + NewUuid() + "\",\"type\":\"history\"";
    const std::string self_query = EncodeQuery(echoed);
    out += ",\"link\":[{\"relation\":\"self\",\"url\":" +
           json::serialize(json::string(path + (self_query.empty() ? "" : "?") + self_query)) + "}";
    if (!page.next_cursor.empty()) {
        QueryParams next = echoed;
        next.emplace_back("_cursor", page.next_cursor);
        out += ",{\"relation\":\"next\",\"url\":" +
               json::serialize(json::string(path + "?" + EncodeQuery(next))) + "}";
    }
    out += "],\"entry\":[";
    bool first = true;
    for (const auto& v : page.versions) {
        if (!first) out += ',';
        first = false;
        const std::string rel = v.type + "/" + v.id;
        out += "{\"fullUrl\":" + json::serialize(json::string(base_url + "/" + rel));
        if (!v.deleted) out += ",\"resource\":" + v.json;
        const char* method = v.deleted ? "DELETE" : (v.version == 1 ? "POST" : "PUT");
        out += ",\"request\":{\"method\":\"" + std::string(method) + "\",\"url\":" +
               json::serialize(json::string(v.version == 1 && !v.deleted ? v.type : rel)) + "}";
        out += ",\"response\":{\"status\":\"" +
               std::string(v.deleted ? "204" : (v.version == 1 ? "201" : "200")) +
               "\",\"etag\":" + json::serialize(json::string(ETagFor(v.version))) +
               ",\"lastModified\":\"" + FormatInstant(v.last_updated_us) + "\"}}";
    }
    out += "]}";
    return out;
}

namespace {

/// One entry of a transaction/batch being processed.
struct BundleEntry {
    size_t index = 0;
    std::string method;
    EntryUrl url;
    std::string full_url;
    std::optional<json::object> resource;
    std::optional<std::string> if_none_exist;
    std::optional<std::string> if_match;
    std::string assigned_id;  // POST: the id it will get
    // Outcome
    int status = 0;
    std::string location;
    std::string etag;
    std::string last_modified;
    std::string body;  // GET result or outcome
    bool changed = false;
    std::optional<Error> error;
};

int MethodOrder(const std::string& m) {
    // R4 http 3.1.0.11.2: DELETE, then POST, then PUT/PATCH, then GET/HEAD.
    if (m == "DELETE") return 0;
    if (m == "POST") return 1;
    if (m == "PUT") return 2;
    return 3;
}

}  // namespace

Result<std::string> FhirService::ProcessBundle(json::object bundle, const std::string& base_url,
                                               const BundleOptions& options, BundleStats* stats,
                                               const Caller& caller) {
    const BinaryContext bc{&content_, &store_, nullptr, options.feed ? &*options.feed : nullptr};
    const auto* type_v = bundle.if_contains("type");
    if (!type_v || !type_v->is_string() ||
        (type_v->as_string() != "transaction" && type_v->as_string() != "batch")) {
        return Error::Invalid("POST /fhir takes a Bundle of type transaction or batch",
                              "Bundle.type");
    }
    const bool is_transaction = type_v->as_string() == "transaction";
    // Validate the envelope (the entries are validated one by one below, so an invalid
    // entry in a batch fails alone).
    std::vector<BundleEntry> entries;
    if (auto* e = bundle.if_contains("entry")) {
        if (!e->is_array()) return Error::Invalid("Bundle.entry must be an array", "Bundle.entry");
        entries.reserve(e->as_array().size());
        size_t i = 0;
        for (auto& item : e->as_array()) {
            BundleEntry be;
            be.index = i;
            const std::string where = "Bundle.entry[" + std::to_string(i) + "]";
            ++i;
            auto fail = [&](Error err) {
                be.error = std::move(err);
                entries.push_back(std::move(be));
            };
            if (!item.is_object()) {
                fail(Error::Invalid("entry must be an object", where));
                continue;
            }
            auto& obj = item.as_object();
            const auto* req = obj.if_contains("request");
            if (!req || !req->is_object()) {
                fail(Error::Invalid("entry.request is required", where + ".request"));
                continue;
            }
            const auto& r = req->as_object();
            const auto* m = r.if_contains("method");
            const auto* u = r.if_contains("url");
            if (!m || !m->is_string() || !u || !u->is_string()) {
                fail(Error::Invalid("entry.request needs method and url", where + ".request"));
                continue;
            }
            be.method = std::string(m->as_string());
            if (be.method != "GET" && be.method != "HEAD" && be.method != "POST" &&
                be.method != "PUT" && be.method != "DELETE") {
                fail(Error::Make(Code::kInvalid, "not-supported", "unsupported entry method",
                                 where + ".request.method"));
                continue;
            }
            auto url = ParseEntryUrl(std::string(u->as_string()));
            if (!url.ok()) {
                Error err = std::move(url).error();
                err.issues.front().expression = where + ".request.url";
                fail(std::move(err));
                continue;
            }
            be.url = std::move(url).value();
            if (view_types_.contains(be.url.type)) {
                fail(Error::Make(Code::kMethodNotAllowed, "not-supported",
                                 be.url.type + " is a read-only view here, not part of a Bundle "
                                               "(docs/MESSAGING.md)",
                                 where + ".request.url"));
                continue;
            }
            if (options.feed && be.method != "GET" && be.method != "HEAD" &&
                !options.feed->Carries(be.url.type)) {
                fail(Error::Make(
                    Code::kUnprocessable, "business-rule",
                    "the " + options.feed->display + " feed does not carry " + be.url.type,
                    where + ".request.url"));
                continue;
            }
            if (const auto* f = obj.if_contains("fullUrl"); f && f->is_string()) {
                be.full_url = std::string(f->as_string());
            }
            if (const auto* v = r.if_contains("ifNoneExist"); v && v->is_string()) {
                be.if_none_exist = std::string(v->as_string());
            }
            if (const auto* v = r.if_contains("ifMatch"); v && v->is_string()) {
                be.if_match = std::string(v->as_string());
            }
            if (be.method == "POST" || be.method == "PUT") {
                auto* res = obj.if_contains("resource");
                if (!res || !res->is_object()) {
                    fail(Error::Invalid("entry.resource is required for " + be.method,
                                        where + ".resource"));
                    continue;
                }
                be.resource = std::move(res->as_object());
                Status check = CheckResource(be.url.type, *be.resource);
                if (!check.ok()) {
                    Error err = std::move(check).error();
                    for (auto& issue : err.issues) {
                        issue.expression = issue.expression.empty()
                                               ? where + ".resource"
                                               : where + ".resource." + issue.expression;
                    }
                    fail(std::move(err));
                    continue;
                }
                if (be.method == "POST") {
                    if (!be.url.id.empty()) {
                        fail(Error::Invalid("POST url must be the resource type",
                                            where + ".request.url"));
                        continue;
                    }
                    std::string candidate;
                    if (options.keep_client_ids) {
                        if (be.full_url.rfind("urn:uuid:", 0) == 0)
                            candidate = be.full_url.substr(9);
                        if (const auto* id = be.resource->if_contains("id");
                            id && id->is_string()) {
                            candidate = std::string(id->as_string());
                        }
                    }
                    be.assigned_id = IsValidFhirId(candidate) ? candidate : NewUuid();
                } else if (!be.url.has_query) {
                    if (be.url.id.empty()) {
                        fail(Error::Invalid("PUT url must be Type/id or Type?criteria",
                                            where + ".request.url"));
                        continue;
                    }
                    const auto* id = be.resource->if_contains("id");
                    if (!id || !id->is_string() || id->as_string() != be.url.id) {
                        fail(Error::Invalid("the resource id must match the entry url",
                                            where + ".resource.id"));
                        continue;
                    }
                }
            }
            entries.push_back(std::move(be));
        }
    }

    if (is_transaction) {
        for (const auto& be : entries) {
            if (be.error) return *be.error;  // a transaction is all or nothing
        }
        // Two entries may not target the same resource (R4 http 3.1.0.11.2).
        std::set<std::string> targets;
        for (const auto& be : entries) {
            if (be.method == "GET" || be.method == "HEAD" || be.url.id.empty()) continue;
            if (!targets.insert(be.url.type + "/" + be.url.id).second) {
                return Error::Invalid("two entries change the same resource " + be.url.type);
            }
        }
    }

    std::vector<size_t> order(entries.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    // Within one method, Binary writes come last: a Binary belongs to the record of what its
    // securityContext names, often a DocumentReference of the same Bundle.
    auto rank = [&](size_t i) {
        return std::make_pair(MethodOrder(entries[i].method), entries[i].url.type == "Binary");
    };
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return rank(a) < rank(b); });

    const int64_t now = clock_.NowMicros();
    // Runs one entry inside the transaction. `resolved` maps fullUrls to "Type/id".
    auto run_entry = [&](WriteTxn& txn, Scope* scope, BundleEntry& be,
                         std::unordered_map<std::string, std::string>& resolved) -> Status {
        if (be.method == "GET" || be.method == "HEAD") {
            if (be.url.has_query || be.url.id.empty()) {
                CARNET_TRY(ParsedSearch parsed, ParseSearch(be.url.type, be.url.query, false));
                CARNET_TRY(be.body,
                           SearchBundle(txn, scope, be.url.type, std::move(parsed), base_url, now));
            } else {
                std::optional<ResourceVersion> r;
                if (!be.url.vid.empty()) {
                    int64_t v = 0;
                    std::from_chars(be.url.vid.data(), be.url.vid.data() + be.url.vid.size(), v);
                    CARNET_TRY(r, txn.ReadVersion(be.url.type, be.url.id, v));
                } else {
                    CARNET_TRY(r, txn.ReadCurrent(be.url.type, be.url.id));
                }
                if (!r) return Error::NotFound("resource not found");
                if (scope != nullptr) {
                    CARNET_TRY(auto d, scope->Check(txn, *r, access::Action::kRead, true));
                    if (!d.allow) return Error::NotFound("resource not found");
                }
                if (r->deleted) return Error::NotFound("resource not found");
                if (be.url.type == "Binary") {
                    CARNET_TRY(auto full, WithBinaryData(std::move(*r)));
                    r = std::move(full);
                }
                be.body = r->json;
                be.etag = ETagFor(r->version);
            }
            be.status = 200;
            return Ok();
        }
        if (be.method == "DELETE") {
            std::vector<std::pair<std::string, std::string>> victims;
            if (be.url.has_query) {
                CARNET_TRY(auto matches, FindMatches(txn, be.url.type, be.url.query, scope));
                if (matches.size() > 1)
                    return PreconditionFailed("conditional delete matched several resources");
                for (auto& m : matches) victims.emplace_back(m.type, m.id);
            } else {
                victims.emplace_back(be.url.type, be.url.id);
            }
            for (auto& [t, id] : victims) {
                CARNET_TRY(auto current, txn.ReadCurrent(t, id));
                if (!current || current->deleted) continue;
                Status deleted = DeleteVersion(txn, *current, now, scope);
                // Refused on a record the caller cannot open: as if it were absent.
                if (!deleted.ok() && deleted.error().code == Code::kNotFound) continue;
                CARNET_CHECK(deleted);
                be.changed = true;
            }
            be.status = 204;
            return Ok();
        }
        // POST / PUT: resolve references to other entries and conditional references.
        json::value as_value(std::move(*be.resource));
        // R4 http 3.1.0.11.2: a urn:uuid of an entry is replaced wherever it appears, urls
        // included (an attachment's url naming the Binary of the same Bundle).
        ForEachUrnUrl(as_value, [&](json::string& url) {
            if (auto it = resolved.find(std::string(url)); it != resolved.end()) url = it->second;
        });
        std::optional<Error> ref_error;
        ForEachReference(as_value, [&](json::string& ref) {
            if (ref_error) return;
            std::string r(ref);
            if (auto it = resolved.find(r); it != resolved.end()) {
                ref = it->second;
                return;
            }
            auto q = r.find('?');
            if (q == std::string::npos || r.rfind("urn:", 0) == 0) return;
            std::string t = r.substr(0, q);
            if (!fhir::Definitions::R4().IsResourceType(t)) return;
            auto matches =
                FindMatches(txn, t, ParseQueryString(std::string_view(r).substr(q + 1)), scope);
            if (!matches.ok()) {
                ref_error = std::move(matches).error();
            } else if (matches->size() != 1) {
                ref_error =
                    matches->empty()
                        ? Error::Make(Code::kInvalid, "not-found",
                                      "conditional reference to " + t + " matched no resource")
                        : PreconditionFailed("conditional reference to " + t +
                                             " matched several resources");
            } else {
                std::string target = t + "/" + matches->front().id;
                resolved[r] = target;
                ref = target;
            }
        });
        be.resource = std::move(as_value.as_object());
        if (ref_error) return *ref_error;

        std::optional<WriteOutcome> out;
        if (be.method == "POST") {
            if (be.if_none_exist) {
                std::string_view q = *be.if_none_exist;
                if (auto pos = q.find('?'); pos != std::string_view::npos) q = q.substr(pos + 1);
                CARNET_TRY(auto matches, FindMatches(txn, be.url.type, ParseQueryString(q), scope));
                if (matches.size() > 1)
                    return PreconditionFailed("ifNoneExist matched several resources");
                if (matches.size() == 1) out = WriteOutcome{std::move(matches.front()), 200, false};
            }
            if (!out) {
                std::optional<ResourceVersion> current;
                if (options.keep_client_ids) {
                    CARNET_TRY(current, txn.ReadCurrent(be.url.type, be.assigned_id));
                }
                if (current && !options.keep_client_ids) {
                    return Error::Make(Code::kConflict, "duplicate", "resource id already exists");
                }
                CARNET_TRY(out,
                           PutVersion(txn, be.url.type, be.assigned_id, std::move(*be.resource),
                                      current, true, now, scope, &bc));
            }
        } else if (be.url.has_query) {
            CARNET_TRY(auto matches, FindMatches(txn, be.url.type, be.url.query, scope));
            if (matches.size() > 1)
                return PreconditionFailed("conditional update matched several resources");
            std::optional<ResourceVersion> current;
            std::string id;
            if (matches.size() == 1) {
                id = matches.front().id;
                current = std::move(matches.front());
            } else if (const auto* bid = be.resource->if_contains("id");
                       bid && bid->is_string() && IsValidFhirId(bid->as_string())) {
                id = std::string(bid->as_string());
                CARNET_TRY(current, txn.ReadCurrent(be.url.type, id));
            } else {
                id = NewUuid();
            }
            CARNET_TRY(out, PutVersion(txn, be.url.type, id, std::move(*be.resource), current, true,
                                       now, scope, &bc));
        } else {
            CARNET_TRY(auto current, txn.ReadCurrent(be.url.type, be.url.id));
            if (be.if_match) {
                auto expected = ParseETag(*be.if_match);
                if (!expected || !current || current->deleted || current->version != *expected) {
                    return PreconditionFailed("ifMatch does not match the current version");
                }
            }
            CARNET_TRY(out, PutVersion(txn, be.url.type, be.url.id, std::move(*be.resource),
                                       current, true, now, scope, &bc));
        }
        be.status = out->status;
        be.changed = out->changed;
        be.location = out->resource.type + "/" + out->resource.id + "/_history/" +
                      std::to_string(out->resource.version);
        be.etag = ETagFor(out->resource.version);
        be.last_modified = FormatInstant(out->resource.last_updated_us);
        if (!be.full_url.empty())
            resolved[be.full_url] = out->resource.type + "/" + out->resource.id;
        return Ok();
    };

    std::unique_lock conditional(conditional_write_mu_, std::defer_lock);
    if (std::any_of(entries.begin(), entries.end(), [](const BundleEntry& be) {
            return !be.error && (be.if_none_exist ||
                                 (be.method != "GET" && be.method != "HEAD" && be.url.has_query));
        })) {
        conditional.lock();
    }
    std::optional<Error> failure;
    Status written = WithScope(caller, [&](WriteTxn& txn, Scope* scope) -> Status {
        std::unordered_map<std::string, std::string> resolved;
        // POSTs are known before anything runs, so references to them resolve whatever the
        // order (a conditional create that matches re-points them when it runs).
        for (auto& be : entries) {
            if (!be.error && be.method == "POST" && !be.full_url.empty()) {
                resolved[be.full_url] = be.url.type + "/" + be.assigned_id;
            }
            if (!be.error && be.method == "PUT" && !be.full_url.empty() && !be.url.id.empty()) {
                resolved[be.full_url] = be.url.type + "/" + be.url.id;
            }
        }
        // Conditional creates run first so that references to them point at the match.
        std::vector<size_t> run_order = order;
        std::stable_partition(run_order.begin(), run_order.end(), [&](size_t i) {
            return entries[i].method == "DELETE" ||
                   (entries[i].method == "POST" && entries[i].if_none_exist);
        });
        for (size_t i : run_order) {
            BundleEntry& be = entries[i];
            if (be.error) continue;
            if (is_transaction) {
                Status s = run_entry(txn, scope, be, resolved);
                if (!s.ok()) {
                    Error err = std::move(s).error();
                    for (auto& issue : err.issues) {
                        if (issue.expression.empty())
                            issue.expression = "Bundle.entry[" + std::to_string(be.index) + "]";
                    }
                    failure = err;
                    return err;
                }
            } else {
                Status s = txn.Nested([&] { return run_entry(txn, scope, be, resolved); });
                if (!s.ok()) be.error = std::move(s).error();
            }
        }
        return Ok();
    });
    if (!written.ok()) return std::move(written).error();

    json::array out_entries;
    for (auto& be : entries) {
        json::object response;
        if (be.error) {
            response["status"] = std::to_string(http::StatusFor(be.error->code));
            response["outcome"] = json::parse(ErrorOutcomeJson(*be.error));
            if (stats) ++stats->failed;
        } else {
            response["status"] = StatusText(be.status);
            if (!be.location.empty()) response["location"] = be.location;
            if (!be.etag.empty()) response["etag"] = be.etag;
            if (!be.last_modified.empty()) response["lastModified"] = be.last_modified;
            if (stats) {
                if (!be.changed) {
                    ++stats->unchanged;
                } else if (be.status == 201) {
                    ++stats->created;
                } else {
                    ++stats->updated;
                }
            }
        }
        json::object entry;
        if (!be.body.empty()) entry["resource"] = json::parse(be.body);
        entry["response"] = std::move(response);
        out_entries.push_back(std::move(entry));
    }
    json::object result{{"resourceType", "Bundle"},
                        {"id", NewUuid()},
                        {"type", is_transaction ? "transaction-response" : "batch-response"},
                        {"entry", std::move(out_entries)}};
    return json::serialize(result);
}

}  // namespace carnet::api
