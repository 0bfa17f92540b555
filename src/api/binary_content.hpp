#pragma once
/// A document's content on its way into the store: sniffed and checked (documents/content),
/// limited by who uploads, stripped of image metadata (documents/strip), then sealed into the
/// patient's blob space (store::PutBlob) — streamed from end to end, in the transaction that
/// writes its Binary resource. See docs/DOCUMENTS.md.
#include <cstdint>
#include <string>
#include <string_view>

#include "access/decision.hpp"
#include "core/result.hpp"
#include "documents/content.hpp"
#include "store/store.hpp"

namespace carnet::api {

struct ContentPolicy {
    documents::UploadLimits limits;
};

/// The upload limit for this kind of actor: the patient side (holder, representative,
/// caregiver) gets limits.patient_bytes, professionals and the system professional_bytes.
int64_t UploadLimitFor(const ContentPolicy& policy, access::ActorKind kind);

/// Reads `raw` (the bytes as sent), checks them against `declared`, refuses empty content
/// (kInvalid) and content over `limit` bytes (kTooLarge), strips image metadata and stores
/// the result as blob `id` of `owner`. Fails without leaving anything when any step fails
/// (the caller's transaction job fails with it).
Result<store::BlobMeta> StoreContent(store::WriteTxn& txn, const std::string& owner,
                                     const std::string& id, std::string_view declared,
                                     const store::ChunkSource& raw, int64_t limit, int64_t now_us);

/// A source giving `bytes` once.
store::ChunkSource OnePiece(std::string bytes);

/// Whether the stored blob holds what `raw` would become once stored (same checks and
/// stripping): re-posting an identical document is then no change.
Result<bool> SameAsStored(store::Store& store, const store::BlobMeta& meta,
                          std::string_view declared, std::string_view raw);

}  // namespace carnet::api
