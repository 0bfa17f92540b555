/// The access log: per-patient hash chains, signed checkpoints, a witness file, a verifier.
///
/// Chain. A patient's entries are numbered 1, 2, … (`seq`, no gaps); entry n stores
///     hash_n = hex(BLAKE2b-256(hash_{n-1} || Canonical(entry_n, n, hash_{n-1})))
/// with hash_0 = "" (hex is lower-case, 64 characters). Canonical is a run of netstrings,
/// `<decimal byte length>:<bytes>,`, in this fixed order:
///     "carnet-audit-entry-v1", seq, prev hash, patient_id, at_us, actor_account,
///     actor_kind, actor_profession, action, resource_type, resource_id, category, basis,
///     outcome, reason, purpose, emergency ("1" or "0"), count, request_id
/// integers in decimal ASCII. The length prefixes make it unambiguous: no value can move
/// bytes into its neighbour, whatever it contains. `audit_heads` holds each chain's last
/// (seq, hash) and the time of its last entry (`at`).
///
/// Append, three statements: an upsert of the head row that also locks it and returns the
/// head (`INSERT … ON CONFLICT DO UPDATE … RETURNING`: on PostgreSQL it waits for a
/// concurrent appender's commit and then works on the latest committed row, whatever the
/// statement's snapshot, so concurrent READ COMMITTED writers serialise per patient; SQLite
/// has one writer), the entry, and the head's move (guarded by the old seq).
///
/// Checkpoints. A row (seq, at, payload, signature, hash) with
///     payload   = {"seq":n,"at":µs,"prev":"<hash of checkpoint n-1, \"\" for the first>",
///                  "heads":[["<patient id>",seq,"<hash>"],…]}
///                 no spaces; heads sorted by patient id (bytewise); ids JSON-escaped
///     signature = hex(Ed25519 detached signature of the payload bytes); the key pair is
///                 crypto_sign_seed_keypair(seed = master.Derive("audit-checkpoints"))
///     hash      = hex(BLAKE2b-256(payload || signature))
/// The heads signed are those whose `at` is at least the previous checkpoint's `at` minus a
/// grace period (an entry stamped before a checkpoint may commit after it), less those
/// already signed identically by a recent checkpoint. After the commit, one JSON line is
/// appended (and fsynced) to the witness file, outside the database:
///     {"seq":n,"at":µs,"hash":"…","payload":"<the payload as a JSON string>","signature":"…"}
///
/// Verify reads everything in one snapshot: the witness file, the checkpoints in seq order
/// (signature, hash, link, contiguity), then every chain in (patient, seq) order, page by
/// page, comparing each entry with the heads the valid checkpoints (and valid witness lines
/// the database lacks) signed. Only the first problem of each chain is reported.
#include "audit/audit.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "core/ids.hpp"
#include "core/log.hpp"

namespace carnet::audit {

namespace fs = std::filesystem;
using store::AsInt;
using store::AsText;
using store::Row;
using store::Value;

namespace {

constexpr size_t kHashBytes = 32;
/// How late an entry may commit after it was stamped and still be picked up by the next
/// checkpoint through the `at` window (a later entry of the same patient always is).
constexpr int64_t kHeadGraceUs = 120LL * 1'000'000;
/// How many of the latest checkpoints are read to leave out heads they already signed.
constexpr int64_t kRecentCheckpoints = 32;
constexpr int64_t kVerifyPage = 5000;
constexpr int64_t kCheckpointPage = 256;
/// How far from its place an entry is looked for when its hash does not match.
constexpr int64_t kReorderWindow = 8;

constexpr const char* kEntryColumns =
    "patient_id, seq, at, actor_account, actor_kind, actor_profession, action, "
    "resource_type, resource_id, category, basis, outcome, reason, purpose, emergency, count, "
    "request_id, hash";

// The head row, where writers run side by side (PostgreSQL): created at seq 0 on a patient's
// first entry, locked otherwise, so appends to one chain queue behind each other.
constexpr const char* kLockHead =
    "INSERT INTO audit_heads(patient_id, seq, hash, at) VALUES (?, 0, '', ?) ON "
    "CONFLICT(patient_id) DO UPDATE SET seq = audit_heads.seq RETURNING seq, hash";
constexpr const char* kInsertEntry =
    "INSERT INTO audit_log(patient_id, seq, at, actor_account, actor_kind, actor_profession, "
    "action, resource_type, resource_id, category, basis, outcome, reason, purpose, emergency, "
    "count, request_id, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
constexpr const char* kMoveHead =
    "UPDATE audit_heads SET seq = ?, hash = ?, at = ? WHERE patient_id = ? AND seq = ?";
// Where the transaction is the only writer (SQLite), the head is read, not locked: nothing
// can move it before commit, and an upsert that rewrites the row only to lock it costs a
// third of an append.
constexpr const char* kReadHead = "SELECT seq, hash FROM audit_heads WHERE patient_id = ?";
constexpr const char* kNewHead =
    "INSERT INTO audit_heads(patient_id, seq, hash, at) VALUES (?, ?, ?, ?)";

const unsigned char* Bytes(std::string_view s) {
    return reinterpret_cast<const unsigned char*>(s.data());
}

std::string_view IntText(int64_t v, std::array<char, 24>& buf) {
    auto r = std::to_chars(buf.data(), buf.data() + buf.size(), v);
    return {buf.data(), static_cast<size_t>(r.ptr - buf.data())};
}

void Netstring(std::string& out, std::string_view s) {
    std::array<char, 24> buf{};
    out.append(IntText(static_cast<int64_t>(s.size()), buf));
    out.push_back(':');
    out.append(s);
    out.push_back(',');
}

void NetInt(std::string& out, int64_t v) {
    std::array<char, 24> buf{};
    Netstring(out, IntText(v, buf));
}

std::string Blake2bHex(std::string_view a, std::string_view b) {
    crypto_generichash_state st;
    crypto_generichash_init(&st, nullptr, 0, kHashBytes);
    crypto_generichash_update(&st, Bytes(a), a.size());
    crypto_generichash_update(&st, Bytes(b), b.size());
    std::array<unsigned char, kHashBytes> out{};
    crypto_generichash_final(&st, out.data(), out.size());
    return crypto::ToHex(std::string_view(reinterpret_cast<const char*>(out.data()), out.size()));
}

bool FromHex(std::string_view hex, unsigned char* out, size_t n) {
    if (hex.size() != 2 * n) return false;
    size_t len = 0;
    return sodium_hex2bin(out, n, hex.data(), hex.size(), nullptr, &len, nullptr) == 0 && len == n;
}

void AppendJsonString(std::string& out, std::string_view s) {
    static const char* kHex = "0123456789abcdef";
    out.push_back('"');
    for (char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(ch);
        } else if (c < 0x20) {
            out += "\\u00";
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 0x0f]);
        } else {
            out.push_back(ch);
        }
    }
    out.push_back('"');
}

void AppendInt(std::string& out, int64_t v) {
    std::array<char, 24> buf{};
    out.append(IntText(v, buf));
}

StoredEntry FromRow(const Row& r) {
    StoredEntry s;
    Entry& e = s.entry;
    e.patient_id = AsText(r[0]);
    s.seq = AsInt(r[1]);
    e.at_us = AsInt(r[2]);
    e.actor_account = AsText(r[3]);
    e.actor_kind = AsText(r[4]);
    e.actor_profession = AsText(r[5]);
    e.action = AsText(r[6]);
    e.resource_type = AsText(r[7]);
    e.resource_id = AsText(r[8]);
    e.category = AsText(r[9]);
    e.basis = AsText(r[10]);
    e.outcome = AsText(r[11]);
    e.reason = AsText(r[12]);
    e.purpose = AsText(r[13]);
    e.emergency = AsInt(r[14]) != 0;
    e.count = AsInt(r[15]);
    e.request_id = AsText(r[16]);
    s.hash = AsText(r[17]);
    return s;
}

struct Head {
    std::string patient_id;
    int64_t seq = 0;
    std::string hash;
};

struct Payload {
    int64_t seq = 0;
    int64_t at = 0;
    std::string prev;
    std::vector<Head> heads;
};

std::optional<Payload> ParsePayload(std::string_view text) {
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(text, ec);
    if (ec || !v.is_object()) return std::nullopt;
    const auto& o = v.get_object();
    const auto* seq = o.if_contains("seq");
    const auto* at = o.if_contains("at");
    const auto* prev = o.if_contains("prev");
    const auto* heads = o.if_contains("heads");
    if (!seq || !seq->is_int64() || !at || !at->is_int64() || !prev || !prev->is_string() ||
        !heads || !heads->is_array())
        return std::nullopt;
    Payload p;
    p.seq = seq->get_int64();
    p.at = at->get_int64();
    p.prev = std::string(prev->get_string());
    for (const auto& h : heads->get_array()) {
        if (!h.is_array() || h.get_array().size() != 3) return std::nullopt;
        const auto& a = h.get_array();
        if (!a[0].is_string() || !a[1].is_int64() || !a[2].is_string()) return std::nullopt;
        p.heads.push_back(
            Head{std::string(a[0].get_string()), a[1].get_int64(), std::string(a[2].get_string())});
    }
    return p;
}

struct Checkpoint {
    int64_t seq = 0;
    int64_t at = 0;
    std::string payload;
    std::string signature;
    std::string hash;
};

Error Unavailable(const std::string& what, const fs::path& path, int err) {
    Error e = Error::Make(Code::kUnavailable, "exception", what);
    e.detail = path.string() + ": " + std::strerror(err);
    return e;
}

/// Creates the missing directories of `dir`, each 0700.
Status MakeDirs(const fs::path& dir) {
    if (dir.empty()) return Ok();
    std::error_code ec;
    if (fs::is_directory(dir, ec)) return Ok();
    CARNET_CHECK(MakeDirs(dir.parent_path()));
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
        return Unavailable("cannot create the witness directory", dir, errno);
    }
    return Ok();
}

std::string WitnessLine(const Checkpoint& c) {
    std::string line = "{\"seq\":";
    AppendInt(line, c.seq);
    line += ",\"at\":";
    AppendInt(line, c.at);
    line += ",\"hash\":";
    AppendJsonString(line, c.hash);
    line += ",\"payload\":";
    AppendJsonString(line, c.payload);
    line += ",\"signature\":";
    AppendJsonString(line, c.signature);
    line += "}\n";
    return line;
}

Status AppendWitness(const fs::path& path, const Checkpoint& c) {
    CARNET_CHECK(MakeDirs(path.parent_path()));
    std::error_code ec;
    const bool existed = fs::exists(path, ec);
    const std::string line = WitnessLine(c);
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) return Unavailable("cannot open the witness file", path, errno);
    size_t done = 0;
    while (done < line.size()) {
        const ssize_t n = ::write(fd, line.data() + done, line.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            const int err = errno;
            ::close(fd);
            return Unavailable("cannot write the witness file", path, err);
        }
        done += static_cast<size_t>(n);
    }
    if (::fsync(fd) != 0) {
        const int err = errno;
        ::close(fd);
        return Unavailable("cannot sync the witness file", path, err);
    }
    ::close(fd);
    if (!existed) {
        // The new file's directory entry must survive a crash too.
        const fs::path dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
        const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            (void)::fsync(dfd);
            ::close(dfd);
        }
    }
    return Ok();
}

/// One checkpoint inside `txn`; `out.seq` stays 0 when there is nothing to sign.
Status WriteCheckpointIn(store::WriteTxn& txn, const Signer& signer, int64_t now, bool force,
                         Checkpoint& out) {
    out = Checkpoint{};
    CARNET_TRY(auto last,
               txn.Query("SELECT seq, at, hash FROM audit_checkpoints ORDER BY seq DESC LIMIT 1"));
    int64_t prev_seq = 0, prev_at = 0;
    std::string prev_hash;
    std::vector<Row> rows;
    // The latest head each recent checkpoint signed, by patient.
    std::unordered_map<std::string, std::pair<int64_t, std::string>> signed_heads;
    if (!last.empty()) {
        prev_seq = AsInt(last[0][0]);
        prev_at = AsInt(last[0][1]);
        prev_hash = AsText(last[0][2]);
        const int64_t bound = prev_at - kHeadGraceUs;
        CARNET_TRY(auto recent,
                   txn.Query("SELECT at, payload FROM audit_checkpoints WHERE seq > ? ORDER BY seq",
                             {prev_seq - kRecentCheckpoints}));
        for (const auto& r : recent) {
            if (AsInt(r[0]) < bound) continue;
            auto p = ParsePayload(AsText(r[1]));
            if (!p) continue;
            for (auto& h : p->heads) signed_heads[h.patient_id] = {h.seq, std::move(h.hash)};
        }
        CARNET_TRY(rows, txn.Query("SELECT patient_id, seq, hash FROM audit_heads WHERE at >= ? "
                                   "AND seq > 0",
                                   {bound}));
    } else {
        CARNET_TRY(rows, txn.Query("SELECT patient_id, seq, hash FROM audit_heads WHERE seq > 0"));
    }
    std::vector<Head> moved;
    moved.reserve(rows.size());
    for (auto& r : rows) {
        Head h{AsText(r[0]), AsInt(r[1]), AsText(r[2])};
        auto it = signed_heads.find(h.patient_id);
        if (it != signed_heads.end() && it->second.first == h.seq && it->second.second == h.hash)
            continue;
        moved.push_back(std::move(h));
    }
    if (moved.empty() && !force) return Ok();
    std::sort(moved.begin(), moved.end(),
              [](const Head& a, const Head& b) { return a.patient_id < b.patient_id; });

    Checkpoint c;
    c.seq = prev_seq + 1;
    c.at = std::max(now, prev_at);
    c.payload = "{\"seq\":";
    AppendInt(c.payload, c.seq);
    c.payload += ",\"at\":";
    AppendInt(c.payload, c.at);
    c.payload += ",\"prev\":";
    AppendJsonString(c.payload, prev_hash);
    c.payload += ",\"heads\":[";
    for (size_t i = 0; i < moved.size(); ++i) {
        if (i) c.payload.push_back(',');
        c.payload.push_back('[');
        AppendJsonString(c.payload, moved[i].patient_id);
        c.payload.push_back(',');
        AppendInt(c.payload, moved[i].seq);
        c.payload.push_back(',');
        AppendJsonString(c.payload, moved[i].hash);
        c.payload.push_back(']');
    }
    c.payload += "]}";
    c.signature = signer.Sign(c.payload);
    c.hash = Blake2bHex(c.payload, c.signature);
    CARNET_CHECK(txn.Exec(
        "INSERT INTO audit_checkpoints(seq, at, payload, signature, hash) VALUES (?, ?, ?, ?, ?)",
        {c.seq, c.at, c.payload, c.signature, c.hash}));
    out = std::move(c);
    return Ok();
}

// ---- verification ----------------------------------------------------------------------

struct SignedHead {
    int64_t seq = 0;
    std::string hash;
    int64_t checkpoint = 0;
    bool from_witness = false;
};

std::string Source(const SignedHead& s) {
    return (s.from_witness ? "witness checkpoint #" : "checkpoint #") +
           std::to_string(s.checkpoint);
}

/// Reads the witness file line by line. `fn` gets each valid line; invalid ones become
/// problems. A last line without its newline that does not parse is a torn append (the
/// process stopped mid-write): skipped.
Status ReadWitness(const fs::path& path, const std::string& public_key_hex,
                   std::vector<Problem>* problems,
                   const std::function<void(const Checkpoint&)>& fn) {
    std::error_code ec;
    if (path.empty() || !fs::exists(path, ec)) return Ok();
    std::ifstream in(path, std::ios::binary);
    if (!in) return Unavailable("cannot read the witness file", path, errno);
    std::string line;
    int64_t line_no = 0;
    while (std::getline(in, line)) {
        ++line_no;
        const bool torn = in.eof();  // no newline after this line
        if (line.empty()) continue;
        auto bad = [&](int64_t seq, const std::string& why) {
            if (problems)
                problems->push_back(Problem{"", seq, "invalid witness line",
                                            "line " + std::to_string(line_no) + ": " + why});
        };
        boost::system::error_code jec;
        boost::json::value v = boost::json::parse(line, jec);
        const boost::json::object* o = (!jec && v.is_object()) ? &v.get_object() : nullptr;
        const boost::json::value* seq = o ? o->if_contains("seq") : nullptr;
        const boost::json::value* at = o ? o->if_contains("at") : nullptr;
        const boost::json::value* hash = o ? o->if_contains("hash") : nullptr;
        const boost::json::value* payload = o ? o->if_contains("payload") : nullptr;
        const boost::json::value* sig = o ? o->if_contains("signature") : nullptr;
        if (!seq || !seq->is_int64() || !at || !at->is_int64() || !hash || !hash->is_string() ||
            !payload || !payload->is_string() || !sig || !sig->is_string()) {
            if (!torn) bad(0, "not a checkpoint line");
            continue;
        }
        Checkpoint c;
        c.seq = seq->get_int64();
        c.at = at->get_int64();
        c.hash = std::string(hash->get_string());
        c.payload = std::string(payload->get_string());
        c.signature = std::string(sig->get_string());
        if (!Signer::VerifySignature(public_key_hex, c.payload, c.signature)) {
            bad(c.seq, "the signature does not verify");
            continue;
        }
        if (Blake2bHex(c.payload, c.signature) != c.hash) {
            bad(c.seq, "the hash is not the payload's and signature's");
            continue;
        }
        auto p = ParsePayload(c.payload);
        if (!p || p->seq != c.seq || p->at != c.at) {
            bad(c.seq, "the payload does not match the line");
            continue;
        }
        fn(c);
    }
    return Ok();
}

/// Checks one patient's chain, fed in seq order.
class ChainCheck {
  public:
    ChainCheck(std::string patient_id, std::vector<SignedHead> signed_heads, store::Reader& reader)
        : pid_(std::move(patient_id)), signed_(std::move(signed_heads)), reader_(reader) {}

    void Add(const StoredEntry& s) {
        if (problem_) return;
        if (s.seq != expected_) {
            std::string range = std::to_string(expected_);
            if (s.seq - expected_ > 1) range += ".." + std::to_string(s.seq - 1);
            Fail(expected_, "missing entry",
                 "seq " + range + " absent, seq " + std::to_string(s.seq) + " present");
            return;
        }
        if (ChainHash(s.entry, s.seq, prev_) != s.hash) {
            Mismatch(s);
            return;
        }
        while (next_ < signed_.size() && signed_[next_].seq < s.seq) ++next_;
        for (; next_ < signed_.size() && signed_[next_].seq == s.seq; ++next_) {
            if (signed_[next_].hash != s.hash) {
                Fail(s.seq, "not as signed",
                     Source(signed_[next_]) + " signed another hash for seq " +
                         std::to_string(s.seq) + ": an entry in seq " +
                         std::to_string(last_signed_ + 1) + ".." + std::to_string(s.seq) +
                         " was rewritten and the chain recomputed");
                return;
            }
            last_signed_ = s.seq;
        }
        prev_ = s.hash;
        expected_ = s.seq + 1;
    }

    /// The chain's first problem, after its last entry; `head` is its audit_heads row.
    std::optional<Problem> Finish(const std::optional<std::pair<int64_t, std::string>>& head) {
        if (problem_) return problem_;
        const int64_t last = expected_ - 1;
        const std::string last_text = std::to_string(last);
        for (; next_ < signed_.size(); ++next_) {
            if (signed_[next_].seq > last) {
                Fail(last + 1, "truncated",
                     Source(signed_[next_]) + " signed seq " + std::to_string(signed_[next_].seq) +
                         "; the log ends at seq " + last_text);
                return problem_;
            }
        }
        if (!head) {
            if (last > 0) Fail(last, "head mismatch", "no head row");
        } else if (head->first > last) {
            Fail(last + 1, "truncated",
                 "the head is at seq " + std::to_string(head->first) + "; the log ends at seq " +
                     last_text);
        } else if (head->first < last) {
            Fail(head->first + 1, "head mismatch",
                 "entries after the head (seq " + std::to_string(head->first) + ")");
        } else if (head->second != prev_) {
            Fail(last, "head mismatch", "the head's hash is not the last entry's");
        }
        return problem_;
    }

  private:
    void Fail(int64_t seq, std::string what, std::string detail) {
        problem_ = Problem{pid_, seq, std::move(what), std::move(detail)};
    }

    /// The entry's hash does not match its place. An authentic entry moved elsewhere still
    /// hashes to its stored value under its own seq and predecessor, both found nearby.
    void Mismatch(const StoredEntry& s) {
        auto rows = reader_.Query(
            "SELECT seq, hash FROM audit_log WHERE patient_id = ? AND seq >= ? AND seq <= ?",
            {pid_, s.seq - kReorderWindow, s.seq + kReorderWindow});
        if (rows.ok()) {
            std::vector<std::string> prevs = {""};
            for (const auto& r : *rows) prevs.push_back(AsText(r[1]));
            for (int64_t seq = std::max<int64_t>(1, s.seq - kReorderWindow);
                 seq <= s.seq + kReorderWindow; ++seq) {
                if (seq == s.seq) continue;
                for (const auto& prev : prevs) {
                    if (ChainHash(s.entry, seq, prev) == s.hash) {
                        Fail(s.seq, "out of order",
                             "the entry at seq " + std::to_string(s.seq) + " is the one of seq " +
                                 std::to_string(seq));
                        return;
                    }
                }
            }
        }
        Fail(s.seq, "hash mismatch",
             "the stored hash is not the hash of the entry and its predecessor");
    }

    std::string pid_;
    std::vector<SignedHead> signed_;
    store::Reader& reader_;
    int64_t expected_ = 1;
    std::string prev_;
    size_t next_ = 0;
    int64_t last_signed_ = 0;
    std::optional<Problem> problem_;
};

}  // namespace

// ---- entries ---------------------------------------------------------------------------

std::string Canonical(const Entry& e, int64_t seq, const std::string& prev_hash_hex) {
    std::string out;
    out.reserve(200 + prev_hash_hex.size() + e.patient_id.size() + e.actor_account.size() +
                e.resource_id.size() + e.request_id.size());
    Netstring(out, "carnet-audit-entry-v1");
    NetInt(out, seq);
    Netstring(out, prev_hash_hex);
    Netstring(out, e.patient_id);
    NetInt(out, e.at_us);
    Netstring(out, e.actor_account);
    Netstring(out, e.actor_kind);
    Netstring(out, e.actor_profession);
    Netstring(out, e.action);
    Netstring(out, e.resource_type);
    Netstring(out, e.resource_id);
    Netstring(out, e.category);
    Netstring(out, e.basis);
    Netstring(out, e.outcome);
    Netstring(out, e.reason);
    Netstring(out, e.purpose);
    Netstring(out, e.emergency ? "1" : "0");
    NetInt(out, e.count);
    Netstring(out, e.request_id);
    return out;
}

std::string ChainHash(const Entry& e, int64_t seq, const std::string& prev_hash_hex) {
    return Blake2bHex(prev_hash_hex, Canonical(e, seq, prev_hash_hex));
}

Status Append(store::WriteTxn& txn, const Entry& e) {
    if (!IsValidFhirId(e.patient_id)) {
        return Error::Invalid("an access-log entry needs the patient's id");
    }
    const bool sole = txn.SoleWriter();
    CARNET_TRY(auto head, sole ? txn.Query(kReadHead, {e.patient_id})
                               : txn.Query(kLockHead, {e.patient_id, e.at_us}));
    if (head.size() > 1 || (head.empty() && !sole)) {
        return Error::Internal("audit: the head row was not returned");
    }
    const bool first = head.empty();  // this patient's first entry (sole writer only)
    const int64_t prev_seq = first ? 0 : AsInt(head[0][0]);
    const std::string prev_hash = first ? std::string() : AsText(head[0][1]);
    const int64_t seq = prev_seq + 1;
    std::string hash = ChainHash(e, seq, prev_hash);
    CARNET_CHECK(
        txn.Exec(kInsertEntry,
                 {e.patient_id, seq, e.at_us, e.actor_account, e.actor_kind, e.actor_profession,
                  e.action, e.resource_type, e.resource_id, e.category, e.basis, e.outcome,
                  e.reason, e.purpose, int64_t{e.emergency ? 1 : 0}, e.count, e.request_id, hash}));
    if (first) {
        CARNET_CHECK(txn.Exec(kNewHead, {e.patient_id, seq, hash, e.at_us}));
        return Ok();
    }
    CARNET_TRY(int64_t moved, txn.Exec(kMoveHead, {seq, hash, e.at_us, e.patient_id, prev_seq}));
    if (moved != 1) return Error::Internal("audit: the head moved while locked");
    return Ok();
}

Result<std::vector<StoredEntry>> List(store::Reader& reader, const Filter& f) {
    if (f.patient_id.empty() && f.actor_account.empty()) {
        return Error::Invalid("the access log is listed for a patient or an actor");
    }
    std::string sql = std::string("SELECT ") + kEntryColumns + " FROM audit_log WHERE 1 = 1";
    std::vector<Value> params;
    auto where = [&](const char* condition, Value v) {
        sql += " AND ";
        sql += condition;
        params.push_back(std::move(v));
    };
    if (!f.patient_id.empty()) where("patient_id = ?", f.patient_id);
    if (!f.actor_account.empty()) where("actor_account = ?", f.actor_account);
    if (f.since_us) where("at >= ?", *f.since_us);
    if (f.until_us) where("at < ?", *f.until_us);
    if (!f.outcome.empty()) where("outcome = ?", f.outcome);
    if (f.emergency_only) sql += " AND emergency = 1";
    if (!f.patient_id.empty()) {
        if (f.before_seq > 0) where("seq < ?", f.before_seq);
        sql += " ORDER BY seq DESC";
    } else {
        sql += " ORDER BY at DESC, patient_id, seq DESC";
    }
    sql += " LIMIT ?";
    params.emplace_back(static_cast<int64_t>(std::clamp(f.limit, 1, 1000)));
    CARNET_TRY(auto rows, reader.Query(sql, params));
    std::vector<StoredEntry> out;
    out.reserve(rows.size());
    for (const auto& r : rows) out.push_back(FromRow(r));
    return out;
}

// ---- signing ---------------------------------------------------------------------------

Signer::Signer(const crypto::MasterKey& master) {
    crypto::Init();
    crypto::Key seed = master.Derive("audit-checkpoints");
    std::array<unsigned char, crypto_sign_PUBLICKEYBYTES> pk{};
    secret_.assign(crypto_sign_SECRETKEYBYTES, '\0');
    crypto_sign_seed_keypair(pk.data(), reinterpret_cast<unsigned char*>(secret_.data()),
                             seed.data());
    sodium_memzero(seed.data(), seed.size());
    public_hex_ =
        crypto::ToHex(std::string_view(reinterpret_cast<const char*>(pk.data()), pk.size()));
}

Signer::~Signer() {
    if (!secret_.empty()) sodium_memzero(secret_.data(), secret_.size());
}

std::string Signer::Sign(const std::string& message) const {
    std::array<unsigned char, crypto_sign_BYTES> sig{};
    crypto_sign_detached(sig.data(), nullptr, Bytes(message), message.size(), Bytes(secret_));
    return crypto::ToHex(std::string_view(reinterpret_cast<const char*>(sig.data()), sig.size()));
}

bool Signer::VerifySignature(const std::string& public_hex, const std::string& message,
                             const std::string& signature_hex) {
    std::array<unsigned char, crypto_sign_PUBLICKEYBYTES> pk{};
    std::array<unsigned char, crypto_sign_BYTES> sig{};
    if (!FromHex(public_hex, pk.data(), pk.size()) ||
        !FromHex(signature_hex, sig.data(), sig.size()))
        return false;
    return crypto_sign_verify_detached(sig.data(), Bytes(message), message.size(), pk.data()) == 0;
}

// ---- checkpoints -----------------------------------------------------------------------

Result<int64_t> WriteCheckpoint(store::Store& store, const Signer& signer, const fs::path& witness,
                                const Clock& clock, bool force) {
    Checkpoint written;
    Status s = Ok();
    // Two writers (the server's loop and `carnet audit checkpoint`) may race for the next
    // seq on PostgreSQL: the loser's insert conflicts; it tries again on the new last one.
    for (int attempt = 0; attempt < 3; ++attempt) {
        s = store.Write([&](store::WriteTxn& txn) {
            return WriteCheckpointIn(txn, signer, clock.NowMicros(), force, written);
        });
        if (s.ok() || s.error().code != Code::kConflict) break;
    }
    if (!s.ok()) return s.error();
    if (written.seq == 0) return int64_t{0};
    if (!witness.empty()) {
        Status w = AppendWitness(witness, written);
        if (!w.ok()) {
            Error e = w.error();
            e.detail = "checkpoint " + std::to_string(written.seq) +
                       " committed, witness not written: " + e.detail;
            return e;
        }
    }
    return written.seq;
}

Result<Report> Verify(store::Store& store, const std::string& public_key_hex,
                      const fs::path& witness) {
    std::array<unsigned char, crypto_sign_PUBLICKEYBYTES> pk{};
    if (!FromHex(public_key_hex, pk.data(), pk.size())) {
        return Error::Invalid("the checkpoint public key must be 64 hex digits");
    }
    Report report;
    std::vector<Problem>& problems = report.problems;

    // 1. The witness file: seq → the hashes its valid lines give.
    std::map<int64_t, std::vector<std::string>> witnessed;
    CARNET_CHECK(ReadWitness(witness, public_key_hex, &problems, [&](const Checkpoint& c) {
        ++report.witnessed;
        witnessed[c.seq].push_back(c.hash);
    }));

    CARNET_TRY(auto reader, store.OpenReader());

    // 2. The checkpoint chain, and the heads the valid checkpoints signed.
    std::unordered_map<std::string, std::vector<SignedHead>> signed_heads;
    auto take_heads = [&](const Payload& p, bool from_witness) {
        for (const auto& h : p.heads)
            signed_heads[h.patient_id].push_back(SignedHead{h.seq, h.hash, p.seq, from_witness});
    };
    std::set<std::pair<int64_t, std::string>> in_db;  // witnessed checkpoints the db holds
    std::set<int64_t> db_seqs;                        // witnessed seqs the db holds
    std::vector<std::pair<int64_t, int64_t>> gaps;    // seq ranges missing from the db
    int64_t expected = 1;
    std::string prev_hash;
    bool link_known = true;  // false after a gap: the previous hash is unknown
    for (int64_t after = 0;;) {
        CARNET_TRY(auto rows, reader->Query("SELECT seq, at, payload, signature, hash FROM "
                                            "audit_checkpoints WHERE seq > ? ORDER BY seq LIMIT ?",
                                            {after, kCheckpointPage}));
        for (const auto& r : rows) {
            Checkpoint c{AsInt(r[0]), AsInt(r[1]), AsText(r[2]), AsText(r[3]), AsText(r[4])};
            after = c.seq;
            ++report.checkpoints;
            auto fail = [&](std::string what, std::string detail) {
                problems.push_back(Problem{"", c.seq, std::move(what), std::move(detail)});
            };
            if (c.seq != expected) {
                gaps.emplace_back(expected, c.seq - 1);
                problems.push_back(Problem{"", expected, "missing checkpoint",
                                           "checkpoints " + std::to_string(expected) + ".." +
                                               std::to_string(c.seq - 1) +
                                               " are not in the database"});
                link_known = false;
            }
            const bool signature_ok =
                Signer::VerifySignature(public_key_hex, c.payload, c.signature);
            auto payload = ParsePayload(c.payload);
            if (!signature_ok) {
                fail("bad signature", "the signature does not verify with the given key");
            } else if (Blake2bHex(c.payload, c.signature) != c.hash) {
                fail("checkpoint hash mismatch", "the stored hash is not the payload's");
            } else if (!payload || payload->seq != c.seq || payload->at != c.at) {
                fail("invalid checkpoint", "the payload does not match its row");
            } else if (link_known && payload->prev != prev_hash) {
                fail("broken link",
                     "prev is not the hash of checkpoint " + std::to_string(c.seq - 1));
            }
            if (signature_ok && payload) take_heads(*payload, false);
            if (auto it = witnessed.find(c.seq); it != witnessed.end()) {
                db_seqs.insert(c.seq);
                for (const auto& h : it->second) {
                    if (h == c.hash) {
                        in_db.emplace(c.seq, h);
                    } else {
                        fail("witness mismatch",
                             "the witness file holds another checkpoint under this seq");
                    }
                }
            }
            prev_hash = c.hash;
            link_known = true;
            expected = c.seq + 1;
        }
        if (static_cast<int64_t>(rows.size()) < kCheckpointPage) break;
    }
    // Witnessed checkpoints the database lacks: an older backup restored over the log, or
    // checkpoints deleted. Their heads still say what the log held.
    for (const auto& w : witnessed) {
        const int64_t seq = w.first;
        const bool in_gap = std::any_of(gaps.begin(), gaps.end(), [&](const auto& g) {
            return seq >= g.first && seq <= g.second;
        });
        if (!db_seqs.count(seq) && !in_gap) {
            problems.push_back(Problem{"", seq, "missing checkpoint",
                                       "in the witness file but not in the database (an "
                                       "older backup restored, or checkpoints deleted)"});
        }
    }
    CARNET_CHECK(ReadWitness(witness, public_key_hex, nullptr, [&](const Checkpoint& c) {
        if (in_db.count({c.seq, c.hash})) return;
        if (auto p = ParsePayload(c.payload)) take_heads(*p, true);
    }));

    // 3. The heads.
    std::unordered_map<std::string, std::pair<int64_t, std::string>> heads;
    CARNET_TRY(auto head_rows, reader->Query("SELECT patient_id, seq, hash FROM audit_heads"));
    for (const auto& r : head_rows) heads[AsText(r[0])] = {AsInt(r[1]), AsText(r[2])};
    head_rows.clear();
    head_rows.shrink_to_fit();

    auto take_signed = [&](const std::string& pid) {
        std::vector<SignedHead> list;
        if (auto it = signed_heads.find(pid); it != signed_heads.end()) {
            list = std::move(it->second);
            signed_heads.erase(it);
        }
        std::stable_sort(list.begin(), list.end(),
                         [](const SignedHead& a, const SignedHead& b) { return a.seq < b.seq; });
        return list;
    };
    auto head_of = [&](const std::string& pid) -> std::optional<std::pair<int64_t, std::string>> {
        auto it = heads.find(pid);
        if (it == heads.end()) return std::nullopt;
        return it->second;
    };

    // 4. Every chain, in (patient, seq) order, a page at a time.
    std::unordered_set<std::string> seen;
    std::optional<ChainCheck> check;
    std::string current;
    auto finish = [&] {
        if (!check) return;
        if (auto p = check->Finish(head_of(current))) problems.push_back(std::move(*p));
        seen.insert(current);
        check.reset();
    };
    const std::string page_sql = std::string("SELECT ") + kEntryColumns +
                                 " FROM audit_log WHERE (patient_id, seq) > (?, ?) ORDER BY "
                                 "patient_id, seq LIMIT ?";
    const std::string first_sql =
        std::string("SELECT ") + kEntryColumns + " FROM audit_log ORDER BY patient_id, seq LIMIT ?";
    std::string after_pid;
    int64_t after_seq = 0;
    for (bool first = true;; first = false) {
        CARNET_TRY(auto rows, first ? reader->Query(first_sql, {kVerifyPage})
                                    : reader->Query(page_sql, {after_pid, after_seq, kVerifyPage}));
        for (const auto& r : rows) {
            StoredEntry s = FromRow(r);
            ++report.entries;
            if (!check || s.entry.patient_id != current) {
                finish();
                current = s.entry.patient_id;
                check.emplace(current, take_signed(current), *reader);
            }
            check->Add(s);
            after_seq = s.seq;
        }
        if (!rows.empty()) after_pid = current;
        if (static_cast<int64_t>(rows.size()) < kVerifyPage) break;
    }
    finish();
    // Chains with a head or a signed head but no entry left.
    std::vector<std::string> rest;
    for (const auto& [pid, h] : heads)
        if (!seen.count(pid)) rest.push_back(pid);
    for (const auto& [pid, list] : signed_heads)
        if (!seen.count(pid) && !heads.count(pid)) rest.push_back(pid);
    for (const auto& pid : rest) {
        ChainCheck empty(pid, take_signed(pid), *reader);
        if (auto p = empty.Finish(head_of(pid))) problems.push_back(std::move(*p));
    }
    report.patients = static_cast<int64_t>(seen.size() + rest.size());

    // Checkpoint problems first (by seq), then by patient.
    std::stable_sort(problems.begin(), problems.end(), [](const Problem& a, const Problem& b) {
        return std::tie(a.patient_id, a.seq) < std::tie(b.patient_id, b.seq);
    });
    return report;
}

// ---- the loop --------------------------------------------------------------------------

CheckpointLoop::CheckpointLoop(store::Store& store, const Signer& signer, fs::path witness,
                               const Clock& clock, std::chrono::seconds every)
    : store_(store), signer_(signer), witness_(std::move(witness)), clock_(clock), every_(every) {}

CheckpointLoop::~CheckpointLoop() { Stop(); }

void CheckpointLoop::Start() {
    std::lock_guard lock(mu_);
    if (thread_.joinable()) return;
    stopping_ = false;
    thread_ = std::thread([this] { Run(); });
}

void CheckpointLoop::Stop() {
    {
        std::lock_guard lock(mu_);
        if (!thread_.joinable()) return;
        stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();
    Tick();  // the last entries before shutdown
}

void CheckpointLoop::Run() {
    std::unique_lock lock(mu_);
    while (!stopping_) {
        if (cv_.wait_for(lock, every_, [this] { return stopping_; })) break;
        lock.unlock();
        Tick();
        lock.lock();
    }
}

void CheckpointLoop::Tick() {
    auto r = WriteCheckpoint(store_, signer_, witness_, clock_);
    if (!r.ok()) {
        spdlog::warn("audit: checkpoint failed: {} ({})", r.error().Summary(), r.error().detail);
    } else if (*r > 0) {
        spdlog::debug("audit: checkpoint {} written", *r);
    }
}

}  // namespace carnet::audit
