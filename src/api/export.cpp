#include "api/export.hpp"

#include <archive.h>
#include <archive_entry.h>

#include <boost/json.hpp>
#include <memory>

#include "core/clock.hpp"

namespace carnet::api {

namespace json = boost::json;

namespace {

/// A zip written into a string through libarchive's callback interface.
class ZipWriter {
  public:
    ZipWriter() : a_(archive_write_new()) {
        archive_write_set_format_zip(a_);
        archive_write_open(a_, this, nullptr, &ZipWriter::Write, nullptr);
    }
    ~ZipWriter() {
        if (a_) archive_write_free(a_);
    }
    ZipWriter(const ZipWriter&) = delete;
    ZipWriter& operator=(const ZipWriter&) = delete;

    Status Add(const std::string& name, const std::string& content, int64_t mtime_s) {
        std::unique_ptr<archive_entry, decltype(&archive_entry_free)> e(archive_entry_new(),
                                                                        archive_entry_free);
        archive_entry_set_pathname(e.get(), name.c_str());
        archive_entry_set_size(e.get(), static_cast<la_int64_t>(content.size()));
        archive_entry_set_filetype(e.get(), AE_IFREG);
        archive_entry_set_perm(e.get(), 0600);
        archive_entry_set_mtime(e.get(), static_cast<time_t>(mtime_s), 0);
        if (archive_write_header(a_, e.get()) != ARCHIVE_OK ||
            archive_write_data(a_, content.data(), content.size()) !=
                static_cast<la_ssize_t>(content.size())) {
            return Error::Internal(std::string("zip: ") + archive_error_string(a_));
        }
        return Ok();
    }
    Result<std::string> Finish() {
        if (archive_write_close(a_) != ARCHIVE_OK)
            return Error::Internal(std::string("zip: ") + archive_error_string(a_));
        return std::move(out_);
    }

  private:
    static la_ssize_t Write(struct archive*, void* self, const void* buffer, size_t length) {
        static_cast<ZipWriter*>(self)->out_.append(static_cast<const char*>(buffer), length);
        return static_cast<la_ssize_t>(length);
    }
    struct archive* a_;
    std::string out_;
};

constexpr const char* kReadMe =
    "Export de votre espace Carnet\n"
    "=============================\n\n"
    "carnet-export.json : tout votre dossier (profil médical, documents, messages…) au format\n"
    "  international FHIR R4 (un « Bundle »), lisible par les logiciels de santé.\n"
    "compte.json : votre compte (identité, contacts, réglages, proches, historique).\n\n"
    "Ce fichier contient des données de santé : conservez-le en lieu sûr.\n";

}  // namespace

Result<ExportArchive> BuildExport(store::Store& store, auth::AuthService& auth,
                                  const auth::Principal& who, int64_t now_us, FhirService* fhir,
                                  const Caller* caller) {
    if (who.kind != auth::kPatient || who.patient_id.empty()) {
        return Error::Make(Code::kForbidden, "forbidden",
                           "l'export est réservé au titulaire de l'espace");
    }
    CARNET_TRY(auth::Account account, auth.GetAccount(who.account_id));
    // The record: every current resource of the compartment, decrypted.
    std::string bundle = R"({"resourceType":"Bundle","type":"collection","timestamp":")" +
                         FormatInstant(now_us) + R"(","entry":[)";
    bool first = true;
    auto collect = [&](store::Reader& reader, Scope* scope) -> Status {
        if (scope != nullptr) {
            access::Target t;
            t.resource_type = "Bundle";
            t.patient_id = who.patient_id;
            t.category = access::Category::kRecord;
            CARNET_TRY(auto d, scope->CheckTarget(reader, t, access::Action::kExport, ""));
            if (!d.allow) {
                return Error::Make(Code::kForbidden, "forbidden",
                                   "l'export est réservé au titulaire de l'espace");
            }
        }
        CARNET_TRY(auto rows, reader.Query("SELECT type, id FROM resources WHERE patient_id = ? "
                                           "AND deleted = 0 ORDER BY type, id",
                                           {who.patient_id}));
        for (const auto& row : rows) {
            CARNET_TRY(auto rv, reader.ReadCurrent(store::AsText(row[0]), store::AsText(row[1])));
            if (!rv || rv->deleted) continue;
            if (scope != nullptr) {
                CARNET_TRY(auto d, scope->Check(reader, *rv, access::Action::kRead, false));
                if (!d.allow) continue;
            }
            if (!first) bundle += ",";
            first = false;
            bundle +=
                R"({"fullUrl":")" + rv->type + "/" + rv->id + R"(","resource":)" + rv->json + "}";
        }
        return Ok();
    };
    if (fhir != nullptr && caller != nullptr) {
        CARNET_CHECK(fhir->WithScope(
            *caller, [&](store::WriteTxn& txn, Scope* scope) { return collect(txn, scope); }));
    } else {
        CARNET_TRY(auto reader, store.OpenReader());
        CARNET_CHECK(collect(*reader, nullptr));
    }
    bundle += "]}";

    json::object acc{{"identifiant", account.login},
                     {"ins", account.ins},
                     {"prenom", account.given},
                     {"nom", account.family},
                     {"date_de_naissance", account.birth_date},
                     {"email", account.email},
                     {"email_verifie", account.email_verified},
                     {"telephone", account.phone},
                     {"telephone_verifie", account.phone_verified},
                     {"second_facteur", account.second_factor},
                     {"statut", account.status},
                     {"cree_le", FormatInstant(account.created_at)},
                     {"dossier", account.patient_id}};
    if (account.activated_at) acc["active_le"] = FormatInstant(account.activated_at);
    json::array history;
    if (auto h = auth.History(account.id, 500); h.ok()) {
        for (const auto& e : *h) {
            history.push_back(json::object{{"date", FormatInstant(e.at)},
                                           {"par", e.actor_kind},
                                           {"action", e.action},
                                           {"detail", e.detail}});
        }
    }
    acc["historique"] = std::move(history);
    json::array proches;
    if (auto d = auth.Delegations(who, who.patient_id); d.ok()) {
        for (const auto& x : *d) {
            proches.push_back(json::object{
                {"type", x.kind},
                {"statut", x.status},
                {"nom", x.delegate_name},
                {"depuis", x.accepted_at ? FormatInstant(x.accepted_at) : std::string()}});
        }
    }
    acc["proches"] = std::move(proches);

    const int64_t now_s = now_us / 1'000'000;
    ZipWriter zip;
    CARNET_CHECK(zip.Add("LISEZMOI.txt", kReadMe, now_s));
    CARNET_CHECK(zip.Add("carnet-export.json", bundle, now_s));
    CARNET_CHECK(zip.Add("compte.json", json::serialize(acc), now_s));
    CARNET_TRY(std::string bytes, zip.Finish());
    return ExportArchive{"carnet-export-" + FormatInstant(now_us).substr(0, 10) + ".zip",
                         std::move(bytes)};
}

}  // namespace carnet::api
