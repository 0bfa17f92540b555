#include "store/blob.hpp"

namespace carnet::store {

std::string BlobAad(const std::string& patient_id, const std::string& id) {
    // Length-prefixed: no pair of ids can produce another pair's string.
    return "carnet-blob-v1|" + std::to_string(patient_id.size()) + ":" + patient_id + "|" +
           std::to_string(id.size()) + ":" + id;
}

Status SealBlob(const crypto::Key& key, BlobMeta& meta, const ChunkSource& source,
                int64_t max_bytes,
                const std::function<Status(int64_t n, const std::string& sealed)>& put_chunk) {
    crypto::StreamSealer sealer(key, BlobAad(meta.patient_id, meta.id));
    meta.header = sealer.Header();
    meta.size = 0;
    meta.chunks = 0;
    // One chunk is held back until the next piece arrives: only then is it known whether
    // it is the final one.
    std::string pending;
    bool ended = false;
    while (!ended) {
        CARNET_TRY(auto piece, source());
        if (!piece) {
            ended = true;
        } else {
            meta.size += static_cast<int64_t>(piece->size());
            if (meta.size > max_bytes) {
                return Error::Make(Code::kTooLarge, "too-costly",
                                   "the content is larger than the " + std::to_string(max_bytes) +
                                       " bytes allowed");
            }
            pending += *piece;
        }
        // Full chunks that are certainly not the last (more bytes follow them).
        size_t offset = 0;
        while (pending.size() - offset > kBlobChunkBytes) {
            CARNET_CHECK(put_chunk(
                meta.chunks++,
                sealer.Push(std::string_view(pending).substr(offset, kBlobChunkBytes), false)));
            offset += kBlobChunkBytes;
        }
        if (offset > 0) pending.erase(0, offset);
    }
    // The rest (≤ one chunk, possibly empty) is the final chunk.
    CARNET_CHECK(put_chunk(meta.chunks++, sealer.Push(pending, true)));
    return Ok();
}

Result<std::unique_ptr<BlobOpener>> BlobOpener::Make(const crypto::Key& key, BlobMeta meta,
                                                     Fetch fetch) {
    CARNET_TRY(auto opener,
               crypto::StreamOpener::Make(key, meta.header, BlobAad(meta.patient_id, meta.id)));
    return std::unique_ptr<BlobOpener>(
        new BlobOpener(std::move(meta), std::move(opener), std::move(fetch)));
}

Result<std::optional<std::string>> BlobOpener::Next() {
    if (opener_.Done()) {
        if (given_ != meta_.size) return Error::Internal("blob: size differs from its record");
        return std::optional<std::string>();
    }
    if (next_ >= meta_.chunks) return Error::Internal("blob: the final chunk is missing");
    CARNET_TRY(auto sealed, fetch_(next_));
    if (!sealed) return Error::Internal("blob: a chunk is missing");
    CARNET_TRY(auto plain, opener_.Pull(*sealed));
    ++next_;
    if (opener_.Done() && next_ != meta_.chunks) {
        return Error::Internal("blob: chunks follow the final one");
    }
    given_ += static_cast<int64_t>(plain.size());
    return std::optional<std::string>(std::move(plain));
}

}  // namespace carnet::store
