#include "api/documents_view.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <map>

#include "access/classify.hpp"
#include "access/context.hpp"
#include "access/grid.hpp"
#include "core/ids.hpp"

namespace carnet::api {

namespace json = boost::json;

namespace {

/// A record's documents are many for a long life: read in pages, up to this many.
constexpr size_t kMaxDocuments = 2000;

struct Collected {
    std::vector<access::DocumentInfo> documents;
    bool withheld = false;
    bool can_deposit = false;
};

Status Collect(store::Reader& txn, Scope* scope, const std::string& pid, const Caller& caller,
               Collected& out) {
    out = Collected{};
    if (!IsValidFhirId(pid)) return Error::NotFound("resource not found");
    if (scope != nullptr) {
        CARNET_CHECK(OpenRecordView(txn, *scope, pid));
    } else {
        CARNET_TRY(auto patient, txn.ReadCurrent("Patient", pid));
        CARNET_TRY(auto rows, txn.Query("SELECT 1 FROM accounts WHERE patient_id = ? AND kind = "
                                        "'patient'",
                                        {pid}));
        if ((!patient || patient->deleted) && rows.empty()) {
            return Error::NotFound("resource not found");
        }
    }
    std::map<std::string, std::string> names;  // account → name
    std::vector<std::pair<access::DocumentInfo, int64_t>> list;
    bool refused = false;
    auto each = [&](std::vector<store::ResourceVersion>& page, const PageFlags& flags) -> Status {
        for (const auto& rv : page) {
            if (rv.deleted || rv.patient_id != pid) continue;
            access::DocFlags fl;
            if (scope != nullptr) {
                CARNET_TRY(auto d, scope->Check(txn, rv, access::Action::kRead, false));
                if (!d.allow) {
                    refused = true;
                    continue;
                }
                CARNET_TRY(const access::DocFlags* f, scope->FlagsOf(txn, pid, rv.type, rv.id));
                fl = *f;
            } else if (auto it = flags.find({rv.type, rv.id}); it != flags.end()) {
                fl = it->second;
            }
            access::DocumentInfo info = access::DescribeDocument(
                rv, &fl, access::TargetOf(rv, &fl).category, caller.actor.account_id,
                scope != nullptr ? scope->now() : 0);
            if (!fl.author_account.empty()) {
                auto n = names.find(fl.author_account);
                if (n == names.end()) {
                    CARNET_TRY(std::string name, access::AccountName(txn, fl.author_account));
                    n = names.emplace(fl.author_account, std::move(name)).first;
                }
                if (!n->second.empty()) info.author_name = n->second;
            }
            list.emplace_back(std::move(info), rv.last_updated_us);
        }
        return Ok();
    };
    CARNET_CHECK(ForRecordPages(txn, scope, pid, "DocumentReference", 200, kMaxDocuments, each));
    // Newest first: by the document's date, then by its last change.
    std::stable_sort(list.begin(), list.end(), [](const auto& a, const auto& b) {
        if (a.first.date != b.first.date) return a.first.date > b.first.date;
        return a.second > b.second;
    });
    for (auto& item : list) out.documents.push_back(std::move(item.first));
    access::LinkVersions(out.documents);
    // Said to professionals only: what is hidden from the holder side (a result awaiting
    // its announcement consultation) must not show, even as "something".
    out.withheld = refused && caller.actor.kind == access::ActorKind::kProfessional;
    if (scope != nullptr) {
        const json::object blank{{"resourceType", "DocumentReference"}};
        const access::Actor& actor = caller.actor;
        const access::Classification c =
            access::Classify(blank, actor.kind == access::ActorKind::kPatient);
        access::Target t;
        t.resource_type = "DocumentReference";
        t.patient_id = pid;
        t.category = c.category;
        t.sensitive = c.sensitive;
        t.author_account = actor.account_id;
        CARNET_TRY(auto d, scope->Would(txn, t, access::Action::kCreate));
        out.can_deposit = d.allow;
    } else {
        out.can_deposit = true;
    }
    return Ok();
}

}  // namespace

json::object DocumentJson(const access::DocumentInfo& d) {
    return {{"type", d.type},
            {"id", d.id},
            {"date", d.date},
            {"title", d.title},
            {"category", d.category},
            {"masked", d.masked},
            {"hidden_until", d.hidden_until},
            {"author_name", d.author_name},
            {"own", d.own},
            {"binary_id", d.binary_id},
            {"content_type", d.content_type},
            {"size", d.size},
            {"status", d.status},
            {"replaces", d.replaces},
            {"replaced_by", d.replaced_by}};
}

Result<json::object> DocumentsView(FhirService& service, const std::string& patient_id,
                                   const Caller& caller) {
    Collected c;
    CARNET_CHECK(service.WithReadScope(caller, [&](store::Reader& txn, Scope* scope) -> Status {
        return Collect(txn, scope, patient_id, caller, c);
    }));
    json::array docs;
    for (const auto& d : c.documents) docs.push_back(DocumentJson(d));
    return json::object{
        {"documents", std::move(docs)}, {"withheld", c.withheld}, {"can_deposit", c.can_deposit}};
}

}  // namespace carnet::api
