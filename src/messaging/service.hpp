#pragma once
/// Secure messaging (docs/MESSAGING.md): threads between a record's holder side (the holder,
/// a legal representative of a minor, a caregiver) and one professional. Every operation runs
/// in ONE store transaction where the record's facts are loaded, `access::Decide` rules (a
/// thread is a target of type Communication whose author is its professional), the effect
/// is applied only when allowed, and the log entry and the notices are written, for refusals
/// too. Subjects and texts are sealed blobs under the patient's key; the service tables hold
/// no health content.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "access/context.hpp"
#include "access/decision.hpp"
#include "access/service.hpp"
#include "core/clock.hpp"
#include "core/result.hpp"
#include "store/store.hpp"

namespace carnet::messaging {

/// Limits, in characters (code points), and attachments per message.
inline constexpr size_t kMaxSubject = 200;
inline constexpr size_t kMaxText = 10000;
inline constexpr size_t kMaxAttachments = 5;

/// The answer to every "no such thread" (unknown, or refused to a stranger).
inline constexpr std::string_view kNoThread = "fil introuvable";

struct Person {
    std::string account_id;
    std::string name;
    std::string kind;  // professional | patient (the holder side)
    std::string profession, profession_label;
};

struct Attachment {
    bool available = false;  // false: nothing else is said about it
    access::DocumentInfo doc;
};

struct Message {
    std::string id;
    int64_t seq = 0;
    Person sender;
    bool own = false;  // written by the caller
    std::string text;
    int64_t created_at = 0;
    std::optional<int64_t> read_at;  // the other side's first read
    std::vector<Attachment> attachments;
    std::string previous_id;  // the thread's message before this one ("" for the first)
};

struct Thread {
    std::string id, patient_id, patient_name;
    Person professional;
    std::string subject;
    int64_t created_at = 0, last_at = 0;
    std::string last_sender;  // professional | patient
    int64_t messages = 0, unread = 0;
    bool archived = false;
    std::vector<Message> items;  // filled by OpenThread and the FHIR view
};

struct ThreadQuery {
    std::string patient;  // holder side: required; professionals: optional filter
    bool archived = false;
};

struct NewMessage {
    std::string text;
    std::vector<std::string> attachments;  // DocumentReference ids of the record
};

class MessageService {
  public:
    MessageService(store::Store& store, const Clock& clock, access::GridStore& grids,
                   std::string portal_url);

    /// The caller's threads (holder side: of record `q.patient`; professionals: their own).
    Result<std::vector<Thread>> ListThreads(const access::Actor& actor,
                                            const std::string& request_id, const ThreadQuery& q);
    /// Messages from the other side the caller has not read (a number: nothing is logged).
    Result<int64_t> Unread(const access::Actor& actor, const std::string& patient);
    /// A professional opens a thread with the record's holder side.
    Result<Thread> StartThread(const access::Actor& actor, const std::string& request_id,
                               const std::string& patient, const std::string& subject,
                               const NewMessage& message);
    /// The thread with its messages, marked read for the caller.
    Result<Thread> OpenThread(const access::Actor& actor, const std::string& request_id,
                              const std::string& thread_id);
    Result<Message> Reply(const access::Actor& actor, const std::string& request_id,
                          const std::string& thread_id, const NewMessage& message);
    /// Per person: hides the thread from the caller's list (or brings it back).
    Status Archive(const access::Actor& actor, const std::string& request_id,
                   const std::string& thread_id, bool archived);

    /// The FHIR view (Communication): the threads of record `patient` the caller may read,
    /// with all their messages, or (`message_id`) the one thread holding that message with
    /// that message only. Nothing is marked read. A refusal is kNotFound.
    Result<std::vector<Thread>> Communications(const access::Actor& actor,
                                               const std::string& request_id,
                                               const std::string& patient,
                                               const std::string& message_id);

  private:
    struct Gate;
    struct Row;
    struct Entered;
    /// The thread `id` (nullopt: none, or not a valid id).
    static Result<std::optional<Row>> FindThread(store::Reader& txn, const std::string& id);
    Result<Gate> Ask(store::Reader& txn, const access::Actor& actor, const std::string& pid,
                     access::Action action, const std::string& professional, int64_t now_us);
    /// Finds thread `thread_id`, decides `action` on it for `actor` and logs the decision:
    /// the start of every operation on one thread (reply, open, archive).
    Result<Entered> Enter(store::WriteTxn& txn, const access::Actor& actor,
                          const std::string& request_id, const std::string& thread_id,
                          access::Action action, int64_t now);
    Status Log(store::WriteTxn& txn, const Gate& gate, const access::Actor& actor,
               const std::string& request_id, const std::string& resource_id, int64_t count = 0);
    /// Checks and describes the attachments for `actor` (each a readable document of `pid`).
    Result<std::vector<Attachment>> Attachments(store::Reader& txn, const Gate& gate,
                                                const access::Actor& actor,
                                                const std::vector<std::string>& ids, bool strict);
    /// Writes one message (row, sealed text, marks, thread head, notices) in `txn`.
    Status Write(store::WriteTxn& txn, const Gate& gate, const access::Actor& actor,
                 const Row& thread, Message& m, const NewMessage& in);
    /// Opens the sealed subject and texts (after the deciding transaction committed).
    Status Unseal(Thread& t);

    store::Store& store_;
    const Clock& clock_;
    access::GridStore& grids_;
    std::string portal_url_;
};

/// "patient" for the holder side, "professional", or "" for callers who never message.
std::string_view SideOf(const access::Actor& actor);

}  // namespace carnet::messaging
