#include "messaging/service.hpp"

#include <boost/json.hpp>
#include <map>
#include <set>

#include "access/grid.hpp"
#include "access/obligations.hpp"
#include "auth/service.hpp"
#include "core/ids.hpp"
#include "core/outcome.hpp"
#include "core/text.hpp"
#include "fhir/json.hpp"
#include "notify/notify.hpp"

namespace carnet::messaging {

namespace json = boost::json;
using access::Action;
using access::ActorKind;
using store::AsInt;
using store::AsText;
using store::IsNull;

namespace {

/// A subject or a text as a person wrote it: not blank, not too long, no control characters
/// other than tabs and line breaks (valid UTF-8 is guaranteed by the JSON parser).
Status CheckText(std::string_view text, size_t max, const char* field) {
    bool blank = true;
    for (unsigned char c : text) {
        if (c < 0x20 && c != '\n' && c != '\r' && c != '\t') {
            return Error::Invalid(std::string("caractère de contrôle interdit : ") + field, field);
        }
        if (c == 0x7F) {
            return Error::Invalid(std::string("caractère de contrôle interdit : ") + field, field);
        }
        if (c != ' ' && c != '\n' && c != '\r' && c != '\t') blank = false;
    }
    if (blank) return Error::Invalid(std::string("texte vide : ") + field, field);
    if (CodePoints(text) > max) {
        return Error::Invalid(
            std::string(field) + " : " + std::to_string(max) + " caractères au plus", field);
    }
    return Ok();
}

Status CheckMessage(const NewMessage& m) {
    CARNET_CHECK(CheckText(m.text, kMaxText, "text"));
    if (m.attachments.size() > kMaxAttachments) {
        return Error::Invalid(
            "attachments : " + std::to_string(kMaxAttachments) + " pièces jointes au plus",
            "attachments");
    }
    std::set<std::string> seen;
    for (const auto& id : m.attachments) {
        if (!IsValidFhirId(id))
            return Error::Invalid("attachments : identifiant de document attendu", "attachments");
        if (!seen.insert(id).second) {
            return Error::Invalid("attachments : le même document deux fois", "attachments");
        }
    }
    return Ok();
}

std::string SubjectBlob(const std::string& thread) { return "thr:" + thread; }
std::string TextBlob(const std::string& message) { return "msg:" + message; }

std::string ProfessionLabel(const std::string& code) {
    for (const auto& [c, label] : auth::Professions())
        if (c == code) return label;
    return code;
}

/// Names of accounts, each looked up once per transaction.
class People {
  public:
    explicit People(store::Reader& txn) : txn_(txn) {}
    Result<Person> Of(const std::string& account, const std::string& side) {
        auto it = cache_.find(account);
        if (it != cache_.end()) return it->second;
        Person p;
        p.account_id = account;
        p.kind = side;
        CARNET_TRY(
            auto rows,
            txn_.Query("SELECT given, family, profession FROM accounts WHERE id = ?", {account}));
        if (!rows.empty()) {
            const std::string given = AsText(rows[0][0]), family = AsText(rows[0][1]);
            p.name = given.empty() ? family : family.empty() ? given : given + " " + family;
            if (side == "professional") {
                p.profession = AsText(rows[0][2]);
                p.profession_label = ProfessionLabel(p.profession);
            }
        }
        cache_[account] = p;
        return p;
    }

  private:
    store::Reader& txn_;
    std::map<std::string, Person> cache_;
};

/// Reads a whole (small) sealed blob.
Result<std::string> ReadBlob(store::Store& store, const std::string& pid, const std::string& id) {
    CARNET_TRY(auto src, store.OpenBlob(pid, id));
    std::string out;
    while (true) {
        CARNET_TRY(auto chunk, src->Next());
        if (!chunk) break;
        out += *chunk;
    }
    return out;
}

Result<std::string> FieldOf(const std::string& sealed_json, const char* key) {
    auto v = fhir::ParseJson(sealed_json, 4);
    if (!v.ok() || !v->is_object()) return Error::Internal("messaging: unreadable sealed text");
    const auto* f = v->as_object().if_contains(key);
    if (!f || !f->is_string()) return Error::Internal("messaging: sealed text without its field");
    return std::string(f->as_string());
}

Status PutSealed(store::WriteTxn& txn, const std::string& pid, const std::string& id,
                 const char* key, const std::string& value, int64_t now) {
    store::BlobMeta meta;
    meta.patient_id = pid;
    meta.id = id;
    meta.content_type = "application/json";
    meta.created_at_us = now;
    std::optional<std::string> pending = json::serialize(json::object{{key, value}});
    const int64_t size = static_cast<int64_t>(pending->size());
    auto source = [&]() -> Result<std::optional<std::string>> {
        std::optional<std::string> out = std::move(pending);
        pending.reset();
        return out;
    };
    CARNET_TRY(auto stored, txn.PutBlob(meta, source, size));
    (void)stored;
    return Ok();
}

std::vector<std::string> ParseIds(const std::string& text) {
    std::vector<std::string> ids;
    auto v = fhir::ParseJson(text, 4);
    if (!v.ok() || !v->is_array()) return ids;
    for (const auto& e : v->as_array()) {
        if (e.is_string()) ids.emplace_back(e.as_string());
    }
    return ids;
}

std::string IdsJson(const std::vector<std::string>& ids) {
    json::array a;
    for (const auto& id : ids) a.emplace_back(id);
    return json::serialize(a);
}

constexpr const char* kThreadColumns =
    "t.patient_id, t.id, t.professional_account, t.created_at, t.last_at, t.last_seq, "
    "t.last_side";

}  // namespace

std::string_view SideOf(const access::Actor& actor) {
    switch (actor.kind) {
        case ActorKind::kPatient:
            return "patient";
        case ActorKind::kProfessional:
            return "professional";
        default:
            return "";
    }
}

/// One message_threads row.
struct MessageService::Row {
    std::string patient_id, id, professional;
    int64_t created_at = 0, last_at = 0, last_seq = 0;
    std::string last_side;

    static Row From(const std::vector<store::Value>& r) {
        Row t;
        t.patient_id = AsText(r[0]);
        t.id = AsText(r[1]);
        t.professional = AsText(r[2]);
        t.created_at = AsInt(r[3]);
        t.last_at = AsInt(r[4]);
        t.last_seq = AsInt(r[5]);
        t.last_side = AsText(r[6]);
        return t;
    }
};

Result<std::optional<MessageService::Row>> MessageService::FindThread(store::Reader& txn,
                                                                      const std::string& id) {
    if (!IsValidFhirId(id)) return std::optional<Row>();
    CARNET_TRY(auto rows, txn.Query(std::string("SELECT ") + kThreadColumns +
                                        " FROM message_threads t WHERE t.id = ?",
                                    {id}));
    if (rows.empty()) return std::optional<Row>();
    return std::optional<Row>(Row::From(rows[0]));
}

struct MessageService::Gate {
    bool exists = false;
    access::RecordFacts facts;
    access::Decision decision;
    access::Target target;
    Action action = Action::kRead;
    int64_t now_us = 0;
    std::shared_ptr<const access::Grid> grid;

    [[nodiscard]] Error Refusal(std::string_view not_found = kNoThread) const {
        return access::RefusalOf(facts, exists, decision.reason, not_found);
    }
};

MessageService::MessageService(store::Store& store, const Clock& clock, access::GridStore& grids,
                               std::string portal_url)
    : store_(store), clock_(clock), grids_(grids), portal_url_(std::move(portal_url)) {}

Result<MessageService::Gate> MessageService::Ask(store::Reader& txn, const access::Actor& actor,
                                                 const std::string& pid, Action action,
                                                 const std::string& professional, int64_t now_us) {
    Gate g;
    g.action = action;
    g.now_us = now_us;
    g.target.resource_type = "Communication";
    g.target.patient_id = pid;
    g.target.category = access::Category::kRecord;
    g.target.author_account = professional;
    if (pid.empty() || !IsValidFhirId(pid)) return g;
    CARNET_TRY(g.facts, access::LoadRecordFacts(txn, actor, pid, now_us));
    if (!g.facts.holder_account.empty()) {
        g.exists = true;
    } else {
        CARNET_TRY(auto patient, txn.ReadCurrent("Patient", pid));
        g.exists = patient.has_value() && !patient->deleted;
    }
    CARNET_TRY(g.grid, grids_.Current(txn));
    if (!g.exists) return g;
    access::DecisionInput in;
    in.actor = actor;
    in.patient = g.facts.patient;
    in.rel = g.facts.rel;
    in.target = g.target;
    in.action = action;
    in.now_us = now_us;
    g.decision = access::Decide(*g.grid, in);
    return g;
}

Status MessageService::Log(store::WriteTxn& txn, const Gate& gate, const access::Actor& actor,
                           const std::string& request_id, const std::string& resource_id,
                           int64_t count) {
    if (!gate.exists) return Ok();  // no record: nobody's log to write to
    audit::Entry e = access::EntryFor(actor, gate.decision, gate.action, gate.target,
                                      access::Purpose::kTreatment, request_id, gate.now_us, count);
    e.patient_id = gate.facts.patient_id;
    e.resource_id = resource_id;
    return access::Honour(txn, gate.facts, actor, gate.decision, e, portal_url_, gate.now_us);
}

Result<std::vector<Attachment>> MessageService::Attachments(store::Reader& txn, const Gate& gate,
                                                            const access::Actor& actor,
                                                            const std::vector<std::string>& ids,
                                                            bool strict) {
    std::vector<Attachment> out;
    if (ids.empty()) return out;
    const std::string& pid = gate.facts.patient_id;
    std::vector<std::pair<std::string, std::string>> keys;
    for (const auto& id : ids) keys.emplace_back("DocumentReference", id);
    CARNET_TRY(auto flags, access::LoadFlags(txn, pid, keys));
    for (const auto& id : ids) {
        Attachment a;
        CARNET_TRY(auto doc, txn.ReadCurrent("DocumentReference", id));
        if (doc && !doc->deleted && doc->patient_id == pid) {
            auto f = flags.find({"DocumentReference", id});
            const access::DocFlags* fl = f == flags.end() ? nullptr : &f->second;
            access::DecisionInput in;
            in.actor = actor;
            in.patient = gate.facts.patient;
            in.rel = gate.facts.rel;
            in.target = access::TargetOf(*doc, fl);
            in.action = Action::kRead;
            in.now_us = gate.now_us;
            if (access::Decide(*gate.grid, in).allow) {
                a.available = true;
                a.doc = access::DescribeDocument(*doc, fl, in.target.category, actor.account_id,
                                                 gate.now_us);
                if (fl != nullptr && !fl->author_account.empty()) {
                    CARNET_TRY(std::string name, access::AccountName(txn, fl->author_account));
                    if (!name.empty()) a.doc.author_name = name;
                }
            }
        }
        if (strict && !a.available) {
            // The same answer for a document that does not exist and one the sender may not
            // read: the attachment names nothing the sender could not see already.
            return Error::Make(Code::kUnprocessable, "processing",
                               "pièce jointe introuvable dans ce dossier : " + id, "attachments");
        }
        out.push_back(std::move(a));
    }
    return out;
}

Status MessageService::Write(store::WriteTxn& txn, const Gate& gate, const access::Actor& actor,
                             const Row& thread, Message& m, const NewMessage& in) {
    const std::string side(SideOf(actor));
    const std::string& pid = thread.patient_id;
    m.id = NewUuid();
    m.seq = thread.last_seq + 1;
    m.created_at = gate.now_us;
    m.own = true;
    m.text = in.text;
    CARNET_CHECK(
        txn.Exec("INSERT INTO messages(patient_id, thread_id, seq, id, sender_account, "
                 "side, attachments, created_at, read_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, "
                 "NULL)",
                 {pid, thread.id, m.seq, m.id, actor.account_id, side, IdsJson(in.attachments),
                  m.created_at}));
    CARNET_CHECK(PutSealed(txn, pid, TextBlob(m.id), "text", in.text, m.created_at));
    CARNET_CHECK(
        txn.Exec("UPDATE message_threads SET last_at = ?, last_seq = ?, last_side = ? "
                 "WHERE patient_id = ? AND id = ?",
                 {m.created_at, m.seq, side, pid, thread.id}));
    // The sender has read what they wrote; a new message brings the thread back to everyone
    // else who had archived it.
    CARNET_CHECK(
        txn.Exec("INSERT INTO message_marks(patient_id, thread_id, account, read_seq, "
                 "read_at, archived_at) VALUES (?, ?, ?, ?, ?, NULL) ON "
                 "CONFLICT(patient_id, thread_id, account) DO UPDATE SET read_seq = "
                 "excluded.read_seq, read_at = excluded.read_at",
                 {pid, thread.id, actor.account_id, m.seq, m.created_at}));
    CARNET_CHECK(
        txn.Exec("UPDATE message_marks SET archived_at = NULL WHERE patient_id = ? AND "
                 "thread_id = ? AND account <> ?",
                 {pid, thread.id, actor.account_id}));
    // "A new message", never what it says nor from whom; in this transaction.
    if (side == "professional") {
        return access::NotifyHolder(txn, gate.facts, "new_message", false,
                                    portal_url_ + "/patient/messagerie", gate.now_us);
    }
    CARNET_TRY(auto rows, txn.Query("SELECT email, email_verified_at, status FROM accounts "
                                    "WHERE id = ?",
                                    {thread.professional}));
    if (rows.empty() || AsText(rows[0][2]) != "active") return Ok();
    const std::string link = portal_url_ + "/pro/messagerie";
    if (!IsNull(rows[0][1]) && !AsText(rows[0][0]).empty()) {
        CARNET_CHECK(notify::Enqueue(txn,
                                     notify::Notification{notify::Channel::kEmail,
                                                          AsText(rows[0][0]),
                                                          "new_message",
                                                          {{"portal_url", link}},
                                                          pid},
                                     gate.now_us));
    }
    CARNET_CHECK(notify::Enqueue(txn,
                                 notify::Notification{notify::Channel::kInApp,
                                                      thread.professional,
                                                      "new_message",
                                                      {{"portal_url", link}},
                                                      pid},
                                 gate.now_us));
    return Ok();
}

Status MessageService::Unseal(Thread& t) {
    CARNET_TRY(std::string subject, ReadBlob(store_, t.patient_id, SubjectBlob(t.id)));
    CARNET_TRY(t.subject, FieldOf(subject, "subject"));
    for (auto& m : t.items) {
        CARNET_TRY(std::string text, ReadBlob(store_, t.patient_id, TextBlob(m.id)));
        CARNET_TRY(m.text, FieldOf(text, "text"));
    }
    return Ok();
}

// ---- starting, replying -------------------------------------------------------------------

Result<Thread> MessageService::StartThread(const access::Actor& actor,
                                           const std::string& request_id,
                                           const std::string& patient, const std::string& subject,
                                           const NewMessage& message) {
    if (actor.kind == ActorKind::kPatient) {
        return Error::Make(Code::kForbidden, "forbidden",
                           "not-permitted: les professionnels ouvrent les fils ; répondez dans "
                           "un fil existant");
    }
    if (actor.kind != ActorKind::kProfessional) {
        return Error::Make(Code::kForbidden, "forbidden", "not-permitted: messagerie réservée");
    }
    CARNET_CHECK(CheckText(subject, kMaxSubject, "subject"));
    CARNET_CHECK(CheckMessage(message));
    Outcome<Thread> out;
    Status s = store_.Write([&](store::WriteTxn& txn) -> Status {
        out.Reset();
        const int64_t now = clock_.NowMicros();
        CARNET_TRY(Gate g, Ask(txn, actor, patient, Action::kMessage, actor.account_id, now));
        Row row;
        row.patient_id = patient;
        row.id = NewUuid();
        row.professional = actor.account_id;
        row.created_at = now;
        CARNET_CHECK(Log(txn, g, actor, request_id, row.id));
        if (!g.exists || !g.decision.allow) {
            out.refusal = g.Refusal(access::kNoRecord);
            return Ok();
        }
        auto attachments = Attachments(txn, g, actor, message.attachments, true);
        if (!attachments.ok()) {
            out.refusal = attachments.error();
            return Ok();
        }
        CARNET_CHECK(
            txn.Exec("INSERT INTO message_threads(patient_id, id, professional_account, "
                     "started_by, created_at, last_at, last_seq, last_side) VALUES (?, "
                     "?, ?, ?, ?, ?, 0, 'professional')",
                     {patient, row.id, actor.account_id, actor.account_id, now, now}));
        CARNET_CHECK(PutSealed(txn, patient, SubjectBlob(row.id), "subject", subject, now));
        Message m;
        CARNET_CHECK(Write(txn, g, actor, row, m, message));
        People people(txn);
        CARNET_TRY(m.sender, people.Of(actor.account_id, "professional"));
        m.attachments = std::move(*attachments);
        Thread t;
        t.id = row.id;
        t.patient_id = patient;
        CARNET_TRY(t.patient_name, access::AccountName(txn, g.facts.holder_account));
        t.professional = m.sender;
        t.subject = subject;
        t.created_at = t.last_at = now;
        t.last_sender = "professional";
        t.messages = 1;
        t.items.push_back(std::move(m));
        out.value = std::move(t);
        return Ok();
    });
    return out.Finish(s);
}

/// A thread entered for one operation: found, the caller's action on it decided and logged
/// (refusals too).
struct MessageService::Entered {
    Row row;
    Gate gate;
    std::optional<Error> refusal;  // the unknown thread's 404, or the decision's refusal
};

Result<MessageService::Entered> MessageService::Enter(store::WriteTxn& txn,
                                                      const access::Actor& actor,
                                                      const std::string& request_id,
                                                      const std::string& thread_id, Action action,
                                                      int64_t now) {
    Entered e;
    CARNET_TRY(auto found, FindThread(txn, thread_id));
    if (!found) {
        e.refusal = Error::NotFound(std::string(kNoThread));
        return e;
    }
    e.row = std::move(*found);
    CARNET_TRY(e.gate, Ask(txn, actor, e.row.patient_id, action, e.row.professional, now));
    CARNET_CHECK(Log(txn, e.gate, actor, request_id, e.row.id));
    if (!e.gate.exists || !e.gate.decision.allow) e.refusal = e.gate.Refusal();
    return e;
}

Result<Message> MessageService::Reply(const access::Actor& actor, const std::string& request_id,
                                      const std::string& thread_id, const NewMessage& message) {
    if (SideOf(actor).empty()) return Error::NotFound(std::string(kNoThread));
    CARNET_CHECK(CheckMessage(message));
    Outcome<Message> out;
    Status s = store_.Write([&](store::WriteTxn& txn) -> Status {
        out.Reset();
        const int64_t now = clock_.NowMicros();
        CARNET_TRY(Entered in, Enter(txn, actor, request_id, thread_id, Action::kMessage, now));
        if (in.refusal) {
            out.refusal = std::move(*in.refusal);
            return Ok();
        }
        const Row& row = in.row;
        const Gate& g = in.gate;
        auto attachments = Attachments(txn, g, actor, message.attachments, true);
        if (!attachments.ok()) {
            out.refusal = attachments.error();
            return Ok();
        }
        Message m;
        CARNET_CHECK(Write(txn, g, actor, row, m, message));
        People people(txn);
        CARNET_TRY(m.sender, people.Of(actor.account_id, std::string(SideOf(actor))));
        m.attachments = std::move(*attachments);
        out.value = std::move(m);
        return Ok();
    });
    return out.Finish(s);
}

// ---- reading -----------------------------------------------------------------------------

Result<Thread> MessageService::OpenThread(const access::Actor& actor, const std::string& request_id,
                                          const std::string& thread_id) {
    if (SideOf(actor).empty()) return Error::NotFound(std::string(kNoThread));
    const std::string side(SideOf(actor));
    Outcome<Thread> out;
    Status s = store_.Write([&](store::WriteTxn& txn) -> Status {
        out.Reset();
        const int64_t now = clock_.NowMicros();
        CARNET_TRY(Entered in, Enter(txn, actor, request_id, thread_id, Action::kRead, now));
        if (in.refusal) {
            out.refusal = std::move(*in.refusal);
            return Ok();
        }
        const Row& row = in.row;
        const Gate& g = in.gate;
        const std::string& pid = row.patient_id;
        CARNET_TRY(auto mark, txn.Query("SELECT archived_at FROM message_marks WHERE patient_id = "
                                        "? AND thread_id = ? AND account = ?",
                                        {pid, row.id, actor.account_id}));
        CARNET_TRY(auto msgs, txn.Query("SELECT id, seq, sender_account, side, attachments, "
                                        "created_at, read_at FROM messages WHERE patient_id = ? "
                                        "AND thread_id = ? ORDER BY seq",
                                        {pid, row.id}));
        People people(txn);
        Thread t;
        t.id = row.id;
        t.patient_id = pid;
        CARNET_TRY(t.patient_name, access::AccountName(txn, g.facts.holder_account));
        CARNET_TRY(t.professional, people.Of(row.professional, "professional"));
        t.created_at = row.created_at;
        t.last_at = row.last_at;
        t.last_sender = row.last_side;
        t.messages = static_cast<int64_t>(msgs.size());
        t.archived = !mark.empty() && !IsNull(mark[0][0]);
        for (const auto& r : msgs) {
            Message m;
            m.id = AsText(r[0]);
            m.seq = AsInt(r[1]);
            const std::string msg_side = AsText(r[3]);
            CARNET_TRY(m.sender, people.Of(AsText(r[2]), msg_side));
            m.own = AsText(r[2]) == actor.account_id;
            m.created_at = AsInt(r[5]);
            if (!IsNull(r[6])) {
                m.read_at = AsInt(r[6]);
            } else if (msg_side != side) {
                m.read_at = now;  // read now, by this reader
            }
            CARNET_TRY(m.attachments, Attachments(txn, g, actor, ParseIds(AsText(r[4])), false));
            if (!t.items.empty()) m.previous_id = t.items.back().id;
            t.items.push_back(std::move(m));
        }
        // Read receipts: the other side's messages are read from now on.
        CARNET_CHECK(
            txn.Exec("UPDATE messages SET read_at = ? WHERE patient_id = ? AND thread_id "
                     "= ? AND side <> ? AND read_at IS NULL",
                     {now, pid, row.id, side}));
        CARNET_CHECK(
            txn.Exec("INSERT INTO message_marks(patient_id, thread_id, account, "
                     "read_seq, read_at, archived_at) VALUES (?, ?, ?, ?, ?, NULL) ON "
                     "CONFLICT(patient_id, thread_id, account) DO UPDATE SET read_seq = "
                     "excluded.read_seq, read_at = excluded.read_at",
                     {pid, row.id, actor.account_id, row.last_seq, now}));
        out.value = std::move(t);
        return Ok();
    });
    auto t = out.Finish(s);
    if (!t.ok()) return t;
    CARNET_CHECK(Unseal(*t));
    return t;
}

Result<std::vector<Thread>> MessageService::ListThreads(const access::Actor& actor,
                                                        const std::string& request_id,
                                                        const ThreadQuery& q) {
    const std::string side(SideOf(actor));
    if (side.empty()) {
        return Error::Make(Code::kForbidden, "forbidden", "not-permitted: messagerie réservée");
    }
    if (side == "patient" && q.patient.empty()) {
        return Error::Invalid("patient : le dossier est requis", "patient");
    }
    if (!q.patient.empty() && !IsValidFhirId(q.patient)) {
        return Error::NotFound(std::string(access::kNoRecord));
    }
    Outcome<std::vector<Thread>> out;
    Status s = store_.Write([&](store::WriteTxn& txn) -> Status {
        out.Reset();
        const int64_t now = clock_.NowMicros();
        std::string sql = std::string("SELECT ") + kThreadColumns +
                          ", m.archived_at, (SELECT COUNT(*) FROM messages x WHERE x.patient_id "
                          "= t.patient_id AND x.thread_id = t.id AND x.side <> ? AND x.seq > "
                          "COALESCE(m.read_seq, 0)) FROM message_threads t LEFT JOIN "
                          "message_marks m ON m.patient_id = t.patient_id AND m.thread_id = t.id "
                          "AND m.account = ? WHERE ";
        std::vector<store::Value> params = {side, actor.account_id};
        if (side == "patient") {
            sql += "t.patient_id = ?";
            params.emplace_back(q.patient);
        } else {
            sql += "t.professional_account = ?";
            params.emplace_back(actor.account_id);
            if (!q.patient.empty()) {
                sql += " AND t.patient_id = ?";
                params.emplace_back(q.patient);
            }
        }
        sql += " ORDER BY t.last_at DESC, t.id";
        // Holder side: the record-level read is decided (and logged) even with no thread.
        std::map<std::string, std::vector<std::vector<store::Value>>> by_record;
        if (side == "patient") by_record[q.patient];
        CARNET_TRY(auto rows, txn.Query(sql, params));
        for (auto& r : rows) by_record[AsText(r[0])].push_back(std::move(r));
        People people(txn);
        std::vector<Thread> list;
        for (const auto& [pid, threads] : by_record) {
            const std::string pro = side == "professional" ? actor.account_id : std::string();
            CARNET_TRY(Gate g, Ask(txn, actor, pid, Action::kRead, pro, now));
            if (!g.exists || !g.decision.allow) {
                if (side == "patient") {
                    CARNET_CHECK(Log(txn, g, actor, request_id, ""));
                    out.refusal = g.Refusal(access::kNoRecord);
                    return Ok();
                }
                // A professional's own threads in a record they may no longer open are not
                // listed; what was not read is not logged.
                continue;
            }
            int64_t listed = 0;
            std::string patient_name;
            CARNET_TRY(patient_name, access::AccountName(txn, g.facts.holder_account));
            for (const auto& r : threads) {
                const Row row = Row::From(r);
                const bool archived = !IsNull(r[7]);
                if (archived != q.archived) continue;
                Thread t;
                t.id = row.id;
                t.patient_id = pid;
                t.patient_name = patient_name;
                CARNET_TRY(t.professional, people.Of(row.professional, "professional"));
                t.created_at = row.created_at;
                t.last_at = row.last_at;
                t.last_sender = row.last_side;
                t.messages = row.last_seq;
                t.unread = AsInt(r[8]);
                t.archived = archived;
                list.push_back(std::move(t));
                ++listed;
            }
            CARNET_CHECK(Log(txn, g, actor, request_id, "", listed));
        }
        std::stable_sort(list.begin(), list.end(),
                         [](const Thread& a, const Thread& b) { return a.last_at > b.last_at; });
        out.value = std::move(list);
        return Ok();
    });
    auto list = out.Finish(s);
    if (!list.ok()) return list;
    for (auto& t : *list) CARNET_CHECK(Unseal(t));
    return list;
}

Result<int64_t> MessageService::Unread(const access::Actor& actor, const std::string& patient) {
    const std::string side(SideOf(actor));
    if (side.empty()) return int64_t{0};
    if (side == "patient" && patient.empty()) {
        return Error::Invalid("patient : le dossier est requis", "patient");
    }
    if (!patient.empty() && !IsValidFhirId(patient)) {
        return Error::NotFound(std::string(access::kNoRecord));
    }
    CARNET_TRY(auto reader, store_.OpenReader());
    const int64_t now = clock_.NowMicros();
    std::string sql =
        "SELECT t.patient_id, COUNT(x.seq) FROM message_threads t JOIN messages x ON "
        "x.patient_id = t.patient_id AND x.thread_id = t.id LEFT JOIN message_marks m ON "
        "m.patient_id = t.patient_id AND m.thread_id = t.id AND m.account = ? WHERE x.side <> ? "
        "AND x.seq > COALESCE(m.read_seq, 0) AND ";
    std::vector<store::Value> params = {actor.account_id, side};
    if (side == "patient") {
        sql += "t.patient_id = ?";
        params.emplace_back(patient);
    } else {
        sql += "t.professional_account = ?";
        params.emplace_back(actor.account_id);
        if (!patient.empty()) {
            sql += " AND t.patient_id = ?";
            params.emplace_back(patient);
        }
    }
    sql += " GROUP BY t.patient_id";
    if (side == "patient") {
        // The holder side learns nothing about a record it may not read, not even "0".
        CARNET_TRY(Gate g, Ask(*reader, actor, patient, Action::kRead, "", now));
        if (!g.exists || !g.decision.allow) return g.Refusal(access::kNoRecord);
    }
    CARNET_TRY(auto rows, reader->Query(sql, params));
    int64_t total = 0;
    for (const auto& r : rows) {
        // Only records the caller may read now count (a decision, not an access: no entry).
        const std::string pro = side == "professional" ? actor.account_id : std::string();
        CARNET_TRY(Gate g, Ask(*reader, actor, AsText(r[0]), Action::kRead, pro, now));
        if (g.exists && g.decision.allow) total += AsInt(r[1]);
    }
    return total;
}

Status MessageService::Archive(const access::Actor& actor, const std::string& request_id,
                               const std::string& thread_id, bool archived) {
    if (SideOf(actor).empty()) return Error::NotFound(std::string(kNoThread));
    Outcome<Unit> out;
    Status s = store_.Write([&](store::WriteTxn& txn) -> Status {
        out.Reset();
        const int64_t now = clock_.NowMicros();
        CARNET_TRY(Entered in, Enter(txn, actor, request_id, thread_id, Action::kRead, now));
        if (in.refusal) {
            out.refusal = std::move(*in.refusal);
            return Ok();
        }
        const Row& row = in.row;
        // Two statements rather than a NULL-or-time parameter: the archive time is a BIGINT
        // on PostgreSQL, and NULL is written as SQL.
        if (archived) {
            CARNET_CHECK(
                txn.Exec("INSERT INTO message_marks(patient_id, thread_id, account, "
                         "read_seq, read_at, archived_at) VALUES (?, ?, ?, 0, NULL, ?) ON "
                         "CONFLICT(patient_id, thread_id, account) DO UPDATE SET "
                         "archived_at = excluded.archived_at",
                         {row.patient_id, row.id, actor.account_id, now}));
        } else {
            CARNET_CHECK(
                txn.Exec("UPDATE message_marks SET archived_at = NULL WHERE patient_id = "
                         "? AND thread_id = ? AND account = ?",
                         {row.patient_id, row.id, actor.account_id}));
        }
        out.value = Unit{};
        return Ok();
    });
    return out.Finish(s);
}

// ---- the FHIR view --------------------------------------------------------------------------

Result<std::vector<Thread>> MessageService::Communications(const access::Actor& actor,
                                                           const std::string& request_id,
                                                           const std::string& patient,
                                                           const std::string& message_id) {
    static constexpr std::string_view kNotFound = "resource not found";
    const std::string side(SideOf(actor));
    if (side.empty()) return Error::NotFound(std::string(kNotFound));
    Outcome<std::vector<Thread>> out;
    Status s = store_.Write([&](store::WriteTxn& txn) -> Status {
        out.Reset();
        const int64_t now = clock_.NowMicros();
        std::vector<std::vector<store::Value>> rows;
        std::string only_message;
        if (!message_id.empty()) {
            if (!IsValidFhirId(message_id)) {
                out.refusal = Error::NotFound(std::string(kNotFound));
                return Ok();
            }
            CARNET_TRY(rows, txn.Query(std::string("SELECT ") + kThreadColumns +
                                           " FROM message_threads t JOIN messages x ON "
                                           "x.patient_id = t.patient_id AND x.thread_id = t.id "
                                           "WHERE x.id = ?",
                                       {message_id}));
            only_message = message_id;
        } else {
            if (!IsValidFhirId(patient)) {
                out.refusal = Error::NotFound(std::string(kNotFound));
                return Ok();
            }
            std::string sql = std::string("SELECT ") + kThreadColumns +
                              " FROM message_threads t WHERE t.patient_id = ?";
            std::vector<store::Value> params = {patient};
            if (side == "professional") {
                sql += " AND t.professional_account = ?";
                params.emplace_back(actor.account_id);
            }
            CARNET_TRY(rows, txn.Query(sql + " ORDER BY t.created_at, t.id", params));
        }
        if (!only_message.empty() && rows.empty()) {
            out.refusal = Error::NotFound(std::string(kNotFound));
            return Ok();
        }
        const std::string pid = only_message.empty() ? patient : AsText(rows[0][0]);
        // A message is decided as its thread (whose professional it names); a search, as the
        // caller's own threads (professionals) or the record (the holder side).
        std::string pro;
        if (!only_message.empty()) {
            pro = AsText(rows[0][2]);
        } else if (side == "professional") {
            pro = actor.account_id;
        }
        CARNET_TRY(Gate g, Ask(txn, actor, pid, Action::kRead, pro, now));
        if (!g.exists || !g.decision.allow) {
            CARNET_CHECK(Log(txn, g, actor, request_id, only_message));
            out.refusal = Error::NotFound(std::string(kNotFound));
            return Ok();
        }
        People people(txn);
        std::vector<Thread> threads;
        int64_t count = 0;
        std::string patient_name;
        CARNET_TRY(patient_name, access::AccountName(txn, g.facts.holder_account));
        for (const auto& r : rows) {
            const Row row = Row::From(r);
            Thread t;
            t.id = row.id;
            t.patient_id = pid;
            t.patient_name = patient_name;
            CARNET_TRY(t.professional, people.Of(row.professional, "professional"));
            t.created_at = row.created_at;
            t.last_at = row.last_at;
            t.last_sender = row.last_side;
            t.messages = row.last_seq;
            std::string sql =
                "SELECT id, seq, sender_account, side, attachments, created_at, read_at FROM "
                "messages WHERE patient_id = ? AND thread_id = ?";
            std::vector<store::Value> params = {pid, row.id};
            if (!only_message.empty()) {
                sql += " AND id = ?";
                params.emplace_back(only_message);
            }
            CARNET_TRY(auto msgs, txn.Query(sql + " ORDER BY seq", params));
            for (const auto& mr : msgs) {
                Message m;
                m.id = AsText(mr[0]);
                m.seq = AsInt(mr[1]);
                CARNET_TRY(m.sender, people.Of(AsText(mr[2]), AsText(mr[3])));
                m.own = AsText(mr[2]) == actor.account_id;
                m.created_at = AsInt(mr[5]);
                if (!IsNull(mr[6])) m.read_at = AsInt(mr[6]);
                CARNET_TRY(m.attachments,
                           Attachments(txn, g, actor, ParseIds(AsText(mr[4])), false));
                if (!t.items.empty()) {
                    m.previous_id = t.items.back().id;
                } else if (m.seq > 1) {
                    CARNET_TRY(auto prev, txn.Query("SELECT id FROM messages WHERE patient_id = "
                                                    "? AND thread_id = ? AND seq = ?",
                                                    {pid, row.id, m.seq - 1}));
                    if (!prev.empty()) m.previous_id = AsText(prev[0][0]);
                }
                t.items.push_back(std::move(m));
                ++count;
            }
            threads.push_back(std::move(t));
        }
        CARNET_CHECK(
            Log(txn, g, actor, request_id, only_message, only_message.empty() ? count : 0));
        out.value = std::move(threads);
        return Ok();
    });
    auto threads = out.Finish(s);
    if (!threads.ok()) return threads;
    for (auto& t : *threads) CARNET_CHECK(Unseal(t));
    return threads;
}

}  // namespace carnet::messaging
