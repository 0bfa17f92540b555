#pragma once
/// The engine-neutral half of blob storage (store.hpp, "binaries"): cutting content into
/// chunks, sealing and opening them. The engines only move rows.
#include <functional>
#include <memory>
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

/// Store::OpenBlob for an engine: the metadata and the key in one short read, then each chunk
/// in a read of its own, so a slow download holds no snapshot open (on SQLite that would stop
/// checkpoints from shrinking the WAL). `EngineReader` is the engine's Reader, whose ops()
/// give BlobMetaOf, KeyOf and BlobChunk; `open_reader` is the store's OpenReader.
template <class EngineReader, class OpenReaderFn>
Result<std::unique_ptr<BlobSource>> OpenSealedBlob(OpenReaderFn open_reader,
                                                   const std::string& patient_id,
                                                   const std::string& id) {
    std::optional<BlobMeta> meta;
    crypto::Key key{};
    {
        CARNET_TRY(auto reader, open_reader());
        auto& ops = static_cast<EngineReader&>(*reader).ops();
        CARNET_TRY(meta, ops.BlobMetaOf(patient_id, id));
        if (!meta) return Error::Make(Code::kNotFound, "not-found", "no such content");
        CARNET_TRY(key, ops.KeyOf(patient_id));
    }
    CARNET_TRY(auto source,
               BlobOpener::Make(
                   key, std::move(*meta),
                   [open_reader, patient_id, id](int64_t n) -> Result<std::optional<std::string>> {
                       CARNET_TRY(auto reader, open_reader());
                       return static_cast<EngineReader&>(*reader).ops().BlobChunk(patient_id, id,
                                                                                  n);
                   }));
    return std::unique_ptr<BlobSource>(std::move(source));
}

}  // namespace carnet::store
