#include "store/sql.hpp"

#include <charconv>
#include <limits>
#include <optional>

namespace carnet::store {

namespace {

// Shared by both engines; engine-specific bits are substituted by the caller of Schema().
std::vector<std::string> IndexTables(Dialect d) {
    const std::string rid = d == Dialect::kSqlite ? "INTEGER" : "BIGINT";
    const std::string real = d == Dialect::kSqlite ? "REAL" : "DOUBLE PRECISION";
    const std::string pattern = d == Dialect::kPostgres ? " text_pattern_ops" : "";
    return {
        "CREATE TABLE idx_token(patient_id TEXT NOT NULL, rid " + rid +
            " NOT NULL, type TEXT NOT NULL, param TEXT NOT NULL, system TEXT NOT NULL, code TEXT "
            "NOT NULL)",
        "CREATE INDEX idx_token_lookup ON idx_token(type, param, code, system, rid)",
        "CREATE INDEX idx_token_rid ON idx_token(rid)",
        "CREATE TABLE idx_string(patient_id TEXT NOT NULL, rid " + rid +
            " NOT NULL, type TEXT NOT NULL, param TEXT NOT NULL, normalized TEXT NOT NULL, exact "
            "TEXT NOT NULL)",
        "CREATE INDEX idx_string_lookup ON idx_string(type, param, normalized" + pattern + ", rid)",
        "CREATE INDEX idx_string_rid ON idx_string(rid)",
        "CREATE TABLE idx_date(patient_id TEXT NOT NULL, rid " + rid +
            " NOT NULL, type TEXT NOT NULL, param TEXT NOT NULL, low BIGINT NOT NULL, high BIGINT "
            "NOT NULL)",
        "CREATE INDEX idx_date_lookup ON idx_date(type, param, low, high, rid)",
        "CREATE INDEX idx_date_rid ON idx_date(rid, param)",
        "CREATE TABLE idx_ref(patient_id TEXT NOT NULL, rid " + rid +
            " NOT NULL, type TEXT NOT NULL, param TEXT NOT NULL, target_type TEXT NOT NULL, "
            "target_id TEXT NOT NULL)",
        "CREATE INDEX idx_ref_lookup ON idx_ref(target_id, type, param, target_type, rid)",
        "CREATE INDEX idx_ref_rid ON idx_ref(rid)",
        "CREATE TABLE idx_quantity(patient_id TEXT NOT NULL, rid " + rid +
            " NOT NULL, type TEXT NOT NULL, param TEXT NOT NULL, value " + real +
            " NOT NULL, system TEXT NOT NULL, code TEXT NOT NULL)",
        "CREATE INDEX idx_quantity_lookup ON idx_quantity(type, param, value, rid)",
        "CREATE INDEX idx_quantity_rid ON idx_quantity(rid)",
    };
}

std::vector<Migration> BuildMigrations(Dialect d) {
    std::vector<std::string> v1;
    if (d == Dialect::kSqlite) {
        v1 = {
            // Wrapped per-patient data keys ('' = the key for non-patient data).
            "CREATE TABLE patient_keys(patient_id TEXT PRIMARY KEY, wrapped BLOB NOT NULL, "
            "created_at INTEGER NOT NULL)",
            // Current state of every resource: one row per (type, id). rid orders rows for
            // stable keyset paging.
            "CREATE TABLE resources(rid INTEGER PRIMARY KEY, patient_id TEXT NOT NULL, type TEXT "
            "NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL, last_updated INTEGER NOT NULL, "
            "deleted INTEGER NOT NULL)",
            "CREATE UNIQUE INDEX resources_type_id ON resources(type, id)",
            "CREATE INDEX resources_patient ON resources(patient_id, type)",
            "CREATE INDEX resources_type_updated ON resources(type, last_updated)",
            // Every version, body sealed with the owner's key. vid orders history.
            "CREATE TABLE versions(vid INTEGER PRIMARY KEY, patient_id TEXT NOT NULL, type TEXT "
            "NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL, last_updated INTEGER NOT NULL, "
            "deleted INTEGER NOT NULL, body BLOB)",
            "CREATE UNIQUE INDEX versions_key ON versions(patient_id, type, id, version)",
            "CREATE INDEX versions_type_id ON versions(type, id, version)",
            "CREATE INDEX versions_type_vid ON versions(type, vid)",
        };
    } else {
        v1 = {
            "CREATE TABLE patient_keys(patient_id TEXT PRIMARY KEY, wrapped BYTEA NOT NULL, "
            "created_at BIGINT NOT NULL)",
            "CREATE TABLE resources(rid BIGSERIAL, patient_id TEXT NOT NULL, type TEXT NOT NULL, "
            "id TEXT NOT NULL, version BIGINT NOT NULL, last_updated BIGINT NOT NULL, deleted "
            "SMALLINT NOT NULL, PRIMARY KEY(patient_id, rid))",
            "CREATE UNIQUE INDEX resources_type_id ON resources(type, id)",
            "CREATE UNIQUE INDEX resources_rid ON resources(rid)",
            "CREATE INDEX resources_patient ON resources(patient_id, type)",
            "CREATE INDEX resources_type_updated ON resources(type, last_updated)",
            "CREATE TABLE versions(vid BIGSERIAL, patient_id TEXT NOT NULL, type TEXT NOT NULL, "
            "id TEXT NOT NULL, version BIGINT NOT NULL, last_updated BIGINT NOT NULL, deleted "
            "SMALLINT NOT NULL, body BYTEA, PRIMARY KEY(patient_id, vid))",
            "CREATE UNIQUE INDEX versions_key ON versions(patient_id, type, id, version)",
            "CREATE INDEX versions_type_id ON versions(type, id, version)",
            "CREATE INDEX versions_type_vid ON versions(type, vid)",
            "CREATE INDEX versions_vid ON versions(vid)",
        };
    }
    for (auto& s : IndexTables(d)) v1.push_back(std::move(s));

    // Service tables are plain rows (store::WriteTxn::Exec), same SQL on both engines:
    // TEXT and BIGINT only, keys led by patient_id ('' when the row concerns no patient).
    std::vector<std::string> v2 = {
        // Transactional outbox (notify/): written in the transaction of the event.
        "CREATE TABLE outbox(patient_id TEXT NOT NULL, id TEXT NOT NULL, channel TEXT NOT NULL, "
        "recipient TEXT NOT NULL, template TEXT NOT NULL, params TEXT NOT NULL, created_at "
        "BIGINT NOT NULL, next_attempt_at BIGINT NOT NULL, attempts BIGINT NOT NULL, status TEXT "
        "NOT NULL, last_error TEXT, sent_at BIGINT, PRIMARY KEY(patient_id, id))",
        "CREATE INDEX outbox_due ON outbox(status, next_attempt_at)",
        // In-app notifications, delivered by the dispatcher.
        "CREATE TABLE inbox(patient_id TEXT NOT NULL, id TEXT NOT NULL, account_id TEXT NOT "
        "NULL, title TEXT NOT NULL, text TEXT NOT NULL, created_at BIGINT NOT NULL, read_at "
        "BIGINT, PRIMARY KEY(patient_id, id))",
        "CREATE INDEX inbox_account ON inbox(account_id, created_at)",
    };
    // Identity (auth/): accounts of every kind, one-time challenges, sessions, trusted
    // devices, delegations (representatives, caregivers), login throttles and the account
    // history a patient reads. Secrets are stored as keyed hashes (auth::HashSecret), never
    // in clear; the TOTP secret is sealed with a key derived from the master key.
    std::vector<std::string> v3 = {
        "CREATE TABLE accounts(id TEXT PRIMARY KEY, kind TEXT NOT NULL, status TEXT NOT NULL, "
        "login TEXT, ins TEXT, rpps TEXT, patient_id TEXT NOT NULL, given TEXT NOT NULL, "
        "family TEXT NOT NULL, birth_date TEXT NOT NULL, profession TEXT NOT NULL, specialty "
        "TEXT NOT NULL, organisation TEXT NOT NULL, email TEXT, email_verified_at BIGINT, phone "
        "TEXT, phone_verified_at BIGINT, second_factor TEXT NOT NULL, password_hash TEXT, "
        "activation_hash TEXT, activation_expires_at BIGINT, activation_tries BIGINT NOT NULL, "
        "totp_secret TEXT, totp_last_step BIGINT NOT NULL, created_at BIGINT NOT NULL, "
        "activated_at BIGINT, closed_at BIGINT, purge_at BIGINT, credentials_at BIGINT NOT "
        "NULL)",
        "CREATE UNIQUE INDEX accounts_login ON accounts(login)",
        "CREATE UNIQUE INDEX accounts_ins ON accounts(ins)",
        "CREATE UNIQUE INDEX accounts_rpps ON accounts(rpps)",
        "CREATE INDEX accounts_patient ON accounts(patient_id)",
        "CREATE INDEX accounts_kind ON accounts(kind, family)",
        // A one-time code in flight: id is the keyed hash of the challenge token the client
        // holds; account_id is NULL for the decoys answered to unknown logins.
        "CREATE TABLE challenges(id TEXT PRIMARY KEY, account_id TEXT, purpose TEXT NOT NULL, "
        "channel TEXT NOT NULL, destination TEXT NOT NULL, code_hash TEXT, data TEXT NOT NULL, "
        "created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, tries BIGINT NOT NULL, sends "
        "BIGINT NOT NULL, used_at BIGINT)",
        "CREATE INDEX challenges_account ON challenges(account_id, created_at)",
        "CREATE INDEX challenges_destination ON challenges(destination, created_at)",
        "CREATE TABLE sessions(id TEXT PRIMARY KEY, handle TEXT NOT NULL, account_id TEXT NOT "
        "NULL, method TEXT NOT NULL, created_at BIGINT NOT NULL, auth_time BIGINT NOT NULL, "
        "last_seen_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, revoked_at BIGINT, ip TEXT "
        "NOT NULL, user_agent TEXT NOT NULL, acting_patient TEXT NOT NULL)",
        "CREATE UNIQUE INDEX sessions_handle ON sessions(handle)",
        "CREATE INDEX sessions_account ON sessions(account_id)",
        "CREATE TABLE trusted_devices(id TEXT PRIMARY KEY, handle TEXT NOT NULL, account_id TEXT "
        "NOT NULL, label TEXT NOT NULL, created_at BIGINT NOT NULL, last_used_at BIGINT NOT "
        "NULL, expires_at BIGINT NOT NULL, revoked_at BIGINT)",
        "CREATE UNIQUE INDEX trusted_devices_handle ON trusted_devices(handle)",
        "CREATE INDEX trusted_devices_account ON trusted_devices(account_id)",
        "CREATE TABLE login_throttle(id TEXT PRIMARY KEY, failures BIGINT NOT NULL, "
        "last_failure_at BIGINT NOT NULL, blocked_until BIGINT NOT NULL)",
        // Who may act for a patient: legal representatives (of a minor) and caregivers.
        "CREATE TABLE delegations(patient_id TEXT NOT NULL, id TEXT NOT NULL, patient_account "
        "TEXT NOT NULL, delegate_account TEXT, kind TEXT NOT NULL, status TEXT NOT NULL, "
        "invite_hash TEXT, invite_expires_at BIGINT, invited_by TEXT NOT NULL, created_at "
        "BIGINT NOT NULL, accepted_at BIGINT, ended_at BIGINT, PRIMARY KEY(patient_id, id))",
        "CREATE INDEX delegations_delegate ON delegations(delegate_account, status)",
        "CREATE INDEX delegations_invite ON delegations(invite_hash)",
        // What happened to an account (activation, logins, advisor actions…): no health
        // content; the patient reads it in the portal.
        "CREATE TABLE account_events(patient_id TEXT NOT NULL, id TEXT NOT NULL, account_id "
        "TEXT NOT NULL, at BIGINT NOT NULL, actor_id TEXT NOT NULL, actor_kind TEXT NOT NULL, "
        "action TEXT NOT NULL, detail TEXT NOT NULL, PRIMARY KEY(patient_id, id))",
        "CREATE INDEX account_events_account ON account_events(account_id, at)",
    };
    // Access (access/, audit/): the holder's choices, relations with professionals, access
    // codes, emergency grants, per-document flags, coalesced notices, the grid's versions,
    // and the access log (hash-chained per patient, signed checkpoints). No health content:
    // an emergency's written reason is the only free text, read by the holder alone.
    std::vector<std::string> v4 = {
        "CREATE TABLE access_settings(patient_id TEXT PRIMARY KEY, etreat BIGINT NOT NULL, btg "
        "BIGINT NOT NULL, emergency_masked BIGINT NOT NULL, emergency_only BIGINT NOT NULL, "
        "mask_new BIGINT NOT NULL, notify_email BIGINT NOT NULL, notify_sms BIGINT NOT NULL, "
        "updated_at BIGINT NOT NULL, updated_by TEXT NOT NULL)",
        // status: authorised | blocked | known (accessed once, neither); roles: a comma list
        // of medecin-traitant, sage-femme-referente, pharmacien-correspondant, administrator.
        "CREATE TABLE access_relations(patient_id TEXT NOT NULL, professional_account TEXT NOT "
        "NULL, status TEXT NOT NULL, via_code BIGINT NOT NULL, roles TEXT NOT NULL, created_at "
        "BIGINT NOT NULL, updated_at BIGINT NOT NULL, updated_by TEXT NOT NULL, PRIMARY "
        "KEY(patient_id, professional_account))",
        "CREATE INDEX access_relations_professional ON access_relations(professional_account)",
        "CREATE TABLE access_codes(patient_id TEXT NOT NULL, id TEXT NOT NULL, code_hash TEXT "
        "NOT NULL, created_at BIGINT NOT NULL, created_by TEXT NOT NULL, expires_at BIGINT NOT "
        "NULL, tries BIGINT NOT NULL, used_at BIGINT, used_by TEXT, revoked_at BIGINT, PRIMARY "
        "KEY(patient_id, id))",
        "CREATE TABLE emergency_grants(patient_id TEXT NOT NULL, id TEXT NOT NULL, "
        "professional_account TEXT NOT NULL, kind TEXT NOT NULL, reason TEXT NOT NULL, "
        "opened_at BIGINT NOT NULL, until_at BIGINT NOT NULL, PRIMARY KEY(patient_id, id))",
        "CREATE INDEX emergency_grants_professional ON emergency_grants(professional_account, "
        "until_at)",
        "CREATE TABLE access_flags(patient_id TEXT NOT NULL, type TEXT NOT NULL, id TEXT NOT "
        "NULL, author_account TEXT NOT NULL, author_kind TEXT NOT NULL, masked BIGINT NOT NULL, "
        "hidden_until BIGINT NOT NULL, hidden_repr BIGINT NOT NULL, warned_at BIGINT, "
        "created_at BIGINT NOT NULL, PRIMARY KEY(patient_id, type, id))",
        "CREATE INDEX access_flags_hidden ON access_flags(hidden_until)",
        "CREATE TABLE access_notices(patient_id TEXT NOT NULL, professional_account TEXT NOT "
        "NULL, day BIGINT NOT NULL, PRIMARY KEY(patient_id, professional_account, day))",
        "CREATE TABLE access_grid(version BIGINT PRIMARY KEY, grid TEXT NOT NULL, created_at "
        "BIGINT NOT NULL, created_by TEXT NOT NULL)",
        "CREATE TABLE audit_log(patient_id TEXT NOT NULL, seq BIGINT NOT NULL, at BIGINT NOT "
        "NULL, actor_account TEXT NOT NULL, actor_kind TEXT NOT NULL, actor_profession TEXT NOT "
        "NULL, action TEXT NOT NULL, resource_type TEXT NOT NULL, resource_id TEXT NOT NULL, "
        "category TEXT NOT NULL, basis TEXT NOT NULL, outcome TEXT NOT NULL, reason TEXT NOT "
        "NULL, purpose TEXT NOT NULL, emergency BIGINT NOT NULL, count BIGINT NOT NULL, "
        "request_id TEXT NOT NULL, hash TEXT NOT NULL, PRIMARY KEY(patient_id, seq))",
        "CREATE INDEX audit_log_actor ON audit_log(actor_account, at)",
        "CREATE TABLE audit_heads(patient_id TEXT PRIMARY KEY, seq BIGINT NOT NULL, hash TEXT "
        "NOT NULL, at BIGINT NOT NULL)",
        "CREATE INDEX audit_heads_at ON audit_heads(at)",
        "CREATE TABLE audit_checkpoints(seq BIGINT PRIMARY KEY, at BIGINT NOT NULL, payload "
        "TEXT NOT NULL, signature TEXT NOT NULL, hash TEXT NOT NULL)",
    };
    // A counter per record that moves whenever anything an access decision reads about the
    // record changes: its holder's account, settings, relations with professionals,
    // emergency grants, per-document flags, delegations. Triggers move it, so no write path
    // can forget to. A read decided on a snapshot is re-validated at commit by comparing
    // this one number (Scope::StillValid), instead of reloading every fact.
    std::vector<std::string> v5 = {
        "CREATE TABLE access_epochs(patient_id TEXT PRIMARY KEY, n BIGINT NOT NULL)"};
    const std::vector<std::string> moved_by = {"access_settings", "access_relations",
                                               "emergency_grants", "access_flags", "delegations"};
    if (d == Dialect::kSqlite) {
        // No conflict clause inside: the statement that fires a trigger imposes its own
        // conflict policy on the trigger's statements (an outer UPSERT would turn an
        // INSERT OR IGNORE here into an abort).
        auto bump = [](const std::string& row) {
            const std::string pid = row + ".patient_id";
            return "INSERT INTO access_epochs(patient_id, n) SELECT " + pid +
                   ", 0 WHERE NOT EXISTS (SELECT 1 FROM access_epochs WHERE patient_id = " + pid +
                   "); UPDATE access_epochs SET n = n + 1 WHERE patient_id = " + pid + ";";
        };
        auto triggers = [&](const std::string& table, const std::string& update_of) {
            v5.push_back("CREATE TRIGGER " + table + "_epoch_ins AFTER INSERT ON " + table +
                         " BEGIN " + bump("NEW") + " END");
            v5.push_back("CREATE TRIGGER " + table + "_epoch_upd AFTER UPDATE" + update_of +
                         " ON " + table + " BEGIN " + bump("OLD") + " " + bump("NEW") + " END");
            v5.push_back("CREATE TRIGGER " + table + "_epoch_del AFTER DELETE ON " + table +
                         " BEGIN " + bump("OLD") + " END");
        };
        for (const auto& t : moved_by) triggers(t, "");
        // Accounts change often (logins, contact details): only what a decision reads.
        triggers("accounts", " OF kind, status, birth_date, patient_id");
    } else {
        v5.push_back(
            "CREATE FUNCTION carnet_access_epoch() RETURNS trigger LANGUAGE plpgsql AS $fn$ "
            "BEGIN "
            "IF TG_OP <> 'INSERT' THEN INSERT INTO access_epochs(patient_id, n) VALUES "
            "(OLD.patient_id, 1) ON CONFLICT (patient_id) DO UPDATE SET n = access_epochs.n + 1; "
            "END IF; "
            "IF TG_OP <> 'DELETE' THEN INSERT INTO access_epochs(patient_id, n) VALUES "
            "(NEW.patient_id, 1) ON CONFLICT (patient_id) DO UPDATE SET n = access_epochs.n + 1; "
            "END IF; "
            "RETURN NULL; END $fn$");
        for (const auto& t : moved_by) {
            v5.push_back("CREATE TRIGGER " + t + "_epoch AFTER INSERT OR UPDATE OR DELETE ON " + t +
                         " FOR EACH ROW EXECUTE FUNCTION carnet_access_epoch()");
        }
        v5.push_back(
            "CREATE TRIGGER accounts_epoch AFTER INSERT OR UPDATE OF kind, status, birth_date, "
            "patient_id OR DELETE ON accounts FOR EACH ROW EXECUTE FUNCTION "
            "carnet_access_epoch()");
    }
    // Documents' content (store.hpp, "binaries"): a blob's metadata and its sealed chunks,
    // patient first like every patient-scoped row. The stream header is not secret; the
    // content type is the sniffed one (no health content).
    const std::string bytes = d == Dialect::kSqlite ? "BLOB" : "BYTEA";
    std::vector<std::string> v6 = {
        "CREATE TABLE blobs(patient_id TEXT NOT NULL, id TEXT NOT NULL, content_type TEXT NOT "
        "NULL, size BIGINT NOT NULL, chunks BIGINT NOT NULL, header " +
            bytes +
            " NOT NULL, "
            "created_at BIGINT NOT NULL, PRIMARY KEY(patient_id, id))",
        "CREATE TABLE blob_chunks(patient_id TEXT NOT NULL, blob_id TEXT NOT NULL, n BIGINT NOT "
        "NULL, data " +
            bytes + " NOT NULL, PRIMARY KEY(patient_id, blob_id, n))"};
    // Secure messaging (src/messaging/, docs/MESSAGING.md): threads between a record's holder
    // side and one professional, their messages and each person's read and archive marks.
    // No health content: subjects and texts are sealed blobs (thr:{id}, msg:{id}) under the
    // patient's key; `attachments` lists DocumentReference ids of the record.
    std::vector<std::string> v7 = {
        "CREATE TABLE message_threads(patient_id TEXT NOT NULL, id TEXT NOT NULL, "
        "professional_account TEXT NOT NULL, started_by TEXT NOT NULL, created_at BIGINT NOT "
        "NULL, last_at BIGINT NOT NULL, last_seq BIGINT NOT NULL, last_side TEXT NOT NULL, "
        "PRIMARY KEY(patient_id, id))",
        "CREATE UNIQUE INDEX message_threads_id ON message_threads(id)",
        "CREATE INDEX message_threads_professional ON message_threads(professional_account, "
        "last_at)",
        // side: professional | patient (the holder side: holder, representative, caregiver).
        // read_at: when the other side first opened the thread after this message.
        "CREATE TABLE messages(patient_id TEXT NOT NULL, thread_id TEXT NOT NULL, seq BIGINT NOT "
        "NULL, id TEXT NOT NULL, sender_account TEXT NOT NULL, side TEXT NOT NULL, attachments "
        "TEXT NOT NULL, created_at BIGINT NOT NULL, read_at BIGINT, PRIMARY KEY(patient_id, "
        "thread_id, seq))",
        "CREATE UNIQUE INDEX messages_id ON messages(id)",
        "CREATE TABLE message_marks(patient_id TEXT NOT NULL, thread_id TEXT NOT NULL, account "
        "TEXT NOT NULL, read_seq BIGINT NOT NULL, read_at BIGINT, archived_at BIGINT, PRIMARY "
        "KEY(patient_id, thread_id, account))",
        "CREATE INDEX message_marks_account ON message_marks(account)"};
    return {
        Migration{1, "resources, versions, keys and search indexes", std::move(v1)},
        Migration{2, "notification outbox and in-app inbox", std::move(v2)},
        Migration{3, "accounts, challenges, sessions, devices, delegations", std::move(v3)},
        Migration{4, "access settings, relations, codes, grants, flags, grid, access log",
                  std::move(v4)},
        Migration{5, "access epochs: one counter per record moved by triggers", std::move(v5)},
        Migration{6, "document content: sealed blobs in chunks", std::move(v6)},
        Migration{7, "secure messaging: threads, messages, read and archive marks", std::move(v7)}};
}

/// Appends SQL text and its parameters together, so `?` order always matches the
/// parameter order (C++ does not order the operands of `+`).
class Builder {
  public:
    explicit Builder(Dialect d) : dialect_(d) {}

    Builder& operator<<(const std::string& text) {
        sql_ += text;
        return *this;
    }
    Builder& operator<<(const char* text) {
        sql_ += text;
        return *this;
    }
    Builder& Param(SqlValue v) {
        sql_ += "?";
        params_.push_back(std::move(v));
        return *this;
    }
    [[nodiscard]] Dialect dialect() const { return dialect_; }
    SqlStatement Take() { return SqlStatement{std::move(sql_), std::move(params_)}; }

  private:
    Dialect dialect_;
    std::string sql_;
    std::vector<SqlValue> params_;
};

std::string EscapeLike(const std::string& s) {
    std::string out;
    for (char c : s) {
        if (c == '%' || c == '_' || c == '\\') out.push_back('\\');
        out.push_back(c);
    }
    return out;
}

// Date comparison between a row range [low, high] (column names) and the search range.
// FHIR R4 search 3.1.1.4.2 (date prefixes) read as range comparisons.
void DateCondition(Builder& b, const std::string& low, const std::string& high,
                   const Predicate& p) {
    switch (p.prefix) {
        case Prefix::kEq:
            b << "(" << low << " >= ";
            b.Param(p.low_us) << " AND " << high << " <= ";
            b.Param(p.high_us) << ")";
            return;
        case Prefix::kNe:
            b << "NOT (" << low << " >= ";
            b.Param(p.low_us) << " AND " << high << " <= ";
            b.Param(p.high_us) << ")";
            return;
        case Prefix::kGt:
            b << high << " > ";
            b.Param(p.high_us);
            return;
        case Prefix::kLt:
            b << low << " < ";
            b.Param(p.low_us);
            return;
        case Prefix::kGe:
            b << high << " >= ";
            b.Param(p.low_us);
            return;
        case Prefix::kLe:
            b << low << " <= ";
            b.Param(p.high_us);
            return;
        case Prefix::kSa:
            b << low << " > ";
            b.Param(p.high_us);
            return;
        case Prefix::kEb:
            b << high << " < ";
            b.Param(p.low_us);
            return;
        case Prefix::kAp:
            b << "(" << low << " <= ";
            b.Param(p.high_us) << " AND " << high << " >= ";
            b.Param(p.low_us) << ")";
            return;
    }
}

void NumberCondition(Builder& b, const std::string& col, const Predicate& p) {
    switch (p.prefix) {
        case Prefix::kEq:
        case Prefix::kAp:
            b << "(" << col << " >= ";
            b.Param(p.number_low) << " AND " << col << " < ";
            b.Param(p.number_high) << ")";
            return;
        case Prefix::kNe:
            b << "NOT (" << col << " >= ";
            b.Param(p.number_low) << " AND " << col << " < ";
            b.Param(p.number_high) << ")";
            return;
        case Prefix::kGt:
        case Prefix::kSa:
            b << col << " > ";
            b.Param(p.number);
            return;
        case Prefix::kLt:
        case Prefix::kEb:
            b << col << " < ";
            b.Param(p.number);
            return;
        case Prefix::kGe:
            b << col << " >= ";
            b.Param(p.number);
            return;
        case Prefix::kLe:
            b << col << " <= ";
            b.Param(p.number);
            return;
    }
}

/// How an index predicate is tied to the resource row `r`.
enum class Form {
    /// `r.rid IN (SELECT rid FROM idx WHERE type = ? AND param = ? AND …)`: the planner can
    /// drive the query from the lookup index. Used when no driver join exists.
    kIn,
    /// `EXISTS (SELECT 1 FROM idx t WHERE t.rid = r.rid AND …)`: checked per candidate row
    /// through the rid index, so a common code (every heart rate of every patient) costs
    /// nothing when another predicate already narrowed the rows.
    kExists,
};

void PredicateSql(Builder& b, const std::string& type, const Predicate& p, Form form) {
    auto open_sub = [&](const char* table) {
        if (form == Form::kIn) {
            b << "r.rid IN (SELECT rid FROM " << table << " WHERE type = ";
            b.Param(type) << " AND param = ";
        } else {
            b << "EXISTS (SELECT 1 FROM " << table << " t WHERE t.rid = r.rid AND t.param = ";
        }
        b.Param(p.param) << " AND ";
    };
    switch (p.kind) {
        case Predicate::Kind::kToken: {
            if (p.negate) b << "NOT (";
            open_sub("idx_token");
            if (p.code) {
                b << "code = ";
                b.Param(*p.code);
            }
            if (p.system) {
                if (p.code) b << " AND ";
                b << "system = ";
                b.Param(*p.system);
            }
            if (!p.code && !p.system) b << "1=1";
            b << ")";
            if (p.negate) b << ")";
            return;
        }
        case Predicate::Kind::kString:
            open_sub("idx_string");
            if (p.match == StringMatch::kExact) {
                b << "exact = ";
                b.Param(p.text);
            } else if (p.match == StringMatch::kContains) {
                // Built with += : GCC 12 reports a false -Wrestrict on "%" + std::string&&.
                std::string pattern = "%";
                pattern += EscapeLike(p.text);
                pattern += '%';
                b << "normalized LIKE ";
                b.Param(std::move(pattern)) << " ESCAPE '\\'";
            } else if (b.dialect() == Dialect::kSqlite) {
                // A byte range uses the index whatever the LIKE settings; 0xFF never
                // occurs in UTF-8 so it bounds every continuation of the prefix.
                b << "normalized >= ";
                b.Param(p.text) << " AND normalized < ";
                b.Param(p.text + "\xff");
            } else {
                b << "normalized LIKE ";
                b.Param(EscapeLike(p.text) + "%") << " ESCAPE '\\'";
            }
            b << ")";
            return;
        case Predicate::Kind::kDate:
            open_sub("idx_date");
            DateCondition(b, "low", "high", p);
            b << ")";
            return;
        case Predicate::Kind::kReference:
            if (form == Form::kIn) {
                // target_id leads the lookup index.
                b << "r.rid IN (SELECT rid FROM idx_ref WHERE target_id = ";
                b.Param(p.target_id);
                if (!p.target_type.empty()) {
                    b << " AND target_type = ";
                    b.Param(p.target_type);
                }
                b << " AND type = ";
                b.Param(type) << " AND param = ";
                b.Param(p.param) << ")";
            } else {
                b << "EXISTS (SELECT 1 FROM idx_ref t WHERE t.rid = r.rid AND t.param = ";
                b.Param(p.param) << " AND t.target_id = ";
                b.Param(p.target_id);
                if (!p.target_type.empty()) {
                    b << " AND t.target_type = ";
                    b.Param(p.target_type);
                }
                b << ")";
            }
            return;
        case Predicate::Kind::kQuantity:
            open_sub("idx_quantity");
            NumberCondition(b, "value", p);
            if (p.system && !p.system->empty()) {
                b << " AND system = ";
                b.Param(*p.system);
            }
            if (p.code && !p.code->empty()) {
                b << " AND code = ";
                b.Param(*p.code);
            }
            b << ")";
            return;
        case Predicate::Kind::kId:
            b << "r.id = ";
            b.Param(p.id);
            return;
        case Predicate::Kind::kLastUpdated:
            DateCondition(b, "r.last_updated", "r.last_updated", p);
            return;
    }
}

/// The predicate that can drive a search whose rows come out in rid order: a clause of
/// exactly one reference with a known target type (patient=, subject=) or, failing that,
/// one token with both system and code. Its lookup index ends with rid, so after the
/// equality columns the rows are already sorted and LIMIT stops the scan at the page size.
std::optional<size_t> DriverClause(const SearchQuery& q) {
    std::optional<size_t> token;
    for (size_t i = 0; i < q.all_of.size(); ++i) {
        const auto& any = q.all_of[i].any_of;
        if (any.size() != 1 || any[0].negate) continue;
        const Predicate& p = any[0];
        if (p.kind == Predicate::Kind::kReference && !p.target_type.empty()) return i;
        if (p.kind == Predicate::Kind::kToken && p.code && p.system && !token) token = i;
    }
    return token;
}

/// FROM and WHERE of the inner query. With a driver, the driving index table is `x`,
/// joined to `r` by rid (CROSS JOIN keeps SQLite's planner on that order; PostgreSQL treats
/// it as an inner join), and every other predicate is an EXISTS probe.
void FromWhere(Builder& b, const SearchQuery& q, std::optional<size_t> driver) {
    if (!driver) {
        b << " FROM resources r WHERE r.type = ";
        b.Param(q.type) << " AND r.deleted = 0";
    } else {
        const Predicate& d = q.all_of[*driver].any_of[0];
        if (d.kind == Predicate::Kind::kReference) {
            b << " FROM idx_ref x CROSS JOIN resources r WHERE x.target_id = ";
            b.Param(d.target_id) << " AND x.type = ";
            b.Param(q.type) << " AND x.param = ";
            b.Param(d.param) << " AND x.target_type = ";
            b.Param(d.target_type);
        } else {
            b << " FROM idx_token x CROSS JOIN resources r WHERE x.type = ";
            b.Param(q.type) << " AND x.param = ";
            b.Param(d.param) << " AND x.code = ";
            b.Param(*d.code) << " AND x.system = ";
            b.Param(*d.system);
        }
        b << " AND r.rid = x.rid AND r.deleted = 0";
    }
    const Form form = driver ? Form::kExists : Form::kIn;
    for (size_t c = 0; c < q.all_of.size(); ++c) {
        const auto& clause = q.all_of[c];
        if (clause.any_of.empty() || (driver && c == *driver)) continue;
        b << " AND (";
        for (size_t i = 0; i < clause.any_of.size(); ++i) {
            if (i) b << " OR ";
            PredicateSql(b, q.type, clause.any_of[i], form);
        }
        b << ")";
    }
    if (q.patients) {
        b << " AND r.patient_id IN (''";
        for (const auto& p : *q.patients) {
            b << ", ";
            b.Param(p);
        }
        b << ")";
    }
}

constexpr int64_t kNullSortLow = std::numeric_limits<int64_t>::min() / 2;

}  // namespace

const std::vector<Migration>& Migrations(Dialect dialect) {
    static const std::vector<Migration> kSqlite = BuildMigrations(Dialect::kSqlite);
    static const std::vector<Migration> kPostgres = BuildMigrations(Dialect::kPostgres);
    return dialect == Dialect::kSqlite ? kSqlite : kPostgres;
}

SqlStatement CompileSearch(const SearchQuery& q, Dialect dialect) {
    Builder b(dialect);
    const bool desc = q.sort && q.sort->descending;
    // Default and _id sorts: insertion order (rid), stable and cheap to page.
    const bool by_rid = !q.sort || q.sort->field == SortKey::Field::kId;
    const auto driver = by_rid ? DriverClause(q) : std::nullopt;
    const char* rid = driver ? "x.rid" : "r.rid";

    // Shape: the page (count + 1 rows, sorted, after the cursor) is chosen from the resource
    // rows alone; only then are the bodies of those rows joined from versions.
    b << "SELECT q.rid, q.patient_id, q.type, q.id, q.version, q.last_updated, q.deleted, "
         "v.body, q.sv FROM (SELECT s.* FROM (SELECT "
      << rid << " AS rid, r.patient_id, r.type, r.id, r.version, r.last_updated, r.deleted, ";
    if (by_rid) {
        b << rid;
    } else if (q.sort->field == SortKey::Field::kLastUpdated) {
        b << "r.last_updated";
    } else {
        // FHIR: ascending sorts by the earliest value, descending by the latest.
        b << "COALESCE((SELECT " << (desc ? "MAX(high)" : "MIN(low)")
          << " FROM idx_date d WHERE d.rid = r.rid AND d.param = ";
        b.Param(q.sort->param) << "), " << std::to_string(kNullSortLow) << ")";
    }
    b << " AS sv";
    FromWhere(b, q, driver);
    b << ") s";
    if (!q.cursor.empty()) {
        auto c = DecodeCursor(q.cursor);
        if (c.ok()) {
            const std::string op = desc ? " < " : " > ";
            if (by_rid) {
                // sv is the rid: one range condition the index can seek to.
                b << " WHERE s.rid" << op;
                b.Param(c->rid);
            } else {
                b << " WHERE (s.sv" << op;
                b.Param(c->sort_value) << " OR (s.sv = ";
                b.Param(c->sort_value) << " AND s.rid" << op;
                b.Param(c->rid) << "))";
            }
        }
    }
    b << (desc ? " ORDER BY s.sv DESC, s.rid DESC" : " ORDER BY s.sv, s.rid");
    // One extra row tells whether a next page exists.
    b << " LIMIT ";
    b.Param(static_cast<int64_t>(q.count) + 1);
    b << ") q JOIN versions v ON v.patient_id = q.patient_id AND v.type = q.type AND v.id = "
         "q.id AND v.version = q.version";
    b << (desc ? " ORDER BY q.sv DESC, q.rid DESC" : " ORDER BY q.sv, q.rid");
    return b.Take();
}

SqlStatement CompileCount(const SearchQuery& q, Dialect dialect) {
    Builder b(dialect);
    b << "SELECT COUNT(*)";
    FromWhere(b, q, DriverClause(q));
    return b.Take();
}

std::string EncodeCursor(const Cursor& c) {
    return std::to_string(c.sort_value) + "_" + std::to_string(c.rid);
}

Result<Cursor> DecodeCursor(const std::string& text) {
    auto sep = text.find('_');
    Cursor c;
    if (sep == std::string::npos) return Error::Invalid("invalid paging cursor");
    const char* begin = text.data();
    auto r1 = std::from_chars(begin, begin + sep, c.sort_value);
    auto r2 = std::from_chars(begin + sep + 1, begin + text.size(), c.rid);
    if (r1.ec != std::errc() || r1.ptr != begin + sep || r2.ec != std::errc() ||
        r2.ptr != begin + text.size()) {
        return Error::Invalid("invalid paging cursor");
    }
    return c;
}

std::string BodyAad(const std::string& patient_id, const std::string& type, const std::string& id,
                    int64_t version) {
    return patient_id + "\x1f" + type + "\x1f" + id + "\x1f" + std::to_string(version);
}

}  // namespace carnet::store
