#pragma once
/// The engine-neutral half of blob storage (store.hpp, "binaries"): cutting content into
/// chunks, sealing and opening them. The engines only move rows.
#include <functional>
#include <optional>
#include <string>

#include "core/result.hpp"
#include "crypto/crypto.hpp"
#include "store/store.hpp"

namespace carnet::store {

/// What every chunk of a blob is bound to: a chunk copied into another blob (or another
/// patient's) fails to open.
std::string BlobAad(const std::string& patient_id, const std::string& id);

/// Reads `source` to its end, re-cut into kBlobChunkBytes chunks, sealed in order;
/// `put_chunk(n, sealed)` stores chunk n (0, 1, …). Fills meta.size, chunks and header.
/// More than `max_bytes` of content: Code::kTooLarge (nothing more is read).
Status SealBlob(const crypto::Key& key, BlobMeta& meta, const ChunkSource& source,
                int64_t max_bytes,
                const std::function<Status(int64_t n, const std::string& sealed)>& put_chunk);

/// Opens the chunks of a blob in order; `fetch(n)` reads sealed chunk n (nullopt: gone).
class BlobOpener final : public BlobSource {
  public:
    using Fetch = std::function<Result<std::optional<std::string>>(int64_t n)>;
    static Result<std::unique_ptr<BlobOpener>> Make(const crypto::Key& key, BlobMeta meta,
                                                    Fetch fetch);
    [[nodiscard]] const BlobMeta& Meta() const override { return meta_; }
    Result<std::optional<std::string>> Next() override;

  private:
    BlobOpener(BlobMeta meta, crypto::StreamOpener opener, Fetch fetch)
        : meta_(std::move(meta)), opener_(std::move(opener)), fetch_(std::move(fetch)) {}
    BlobMeta meta_;
    crypto::StreamOpener opener_;
    Fetch fetch_;
    int64_t next_ = 0;
    int64_t given_ = 0;
};

}  // namespace carnet::store
