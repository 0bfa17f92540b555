#pragma once
/// What an access decision owes, honoured inside the transaction of the access itself: the
/// access-log entry (allowed and refused alike) and the holder's notice (coalesced to one per
/// professional per day; emergency access at once, to the médecin traitant too).
#include <cstdint>
#include <string>

#include "access/context.hpp"
#include "access/decision.hpp"
#include "audit/audit.hpp"
#include "store/store.hpp"

namespace carnet::access {

std::string_view PurposeName(Purpose p);  // TREAT | ETREAT | BTG
std::string_view ActorKindName(ActorKind k);

/// The log entry for one decision (`count`: search results it covers).
audit::Entry EntryFor(const Actor& actor, const Decision& decision, Action action,
                      const Target& target, Purpose purpose, const std::string& request_id,
                      int64_t now_us, int64_t count = 0);

/// Tells the holder (and, for a minor, the legal representatives) with template `tmpl`: by
/// their verified e-mail and phone as the holder chose (`every_channel`: by both, for
/// emergencies), and always in the in-app inbox.
Status NotifyHolder(store::WriteTxn& txn, const RecordFacts& facts, const std::string& tmpl,
                    bool every_channel, const std::string& portal_url, int64_t now_us);

/// Writes `entry` (when the decision is auditable) and queues the notices the decision owes.
/// `portal_url` is where notices send people.
Status Honour(store::WriteTxn& txn, const RecordFacts& facts, const Actor& actor,
              const Decision& decision, const audit::Entry& entry, const std::string& portal_url,
              int64_t now_us);

}  // namespace carnet::access
