#include "api/binary_content.hpp"

#include <memory>
#include <optional>

#include "documents/strip.hpp"

namespace carnet::api {

namespace {

Error TooLarge(int64_t limit) {
    return Error::Make(Code::kTooLarge, "too-costly",
                       "the document is larger than the " + std::to_string(limit / (1024 * 1024)) +
                           " MiB allowed");
}

/// The content as it will be stored: the head is read first for the type check, then the
/// whole passes through the metadata stripper; the input is counted against the limit.
class Prepared {
  public:
    Prepared(const store::ChunkSource& raw, int64_t limit) : raw_(raw), limit_(limit) {}

    /// Reads the head and checks the declared type; the stored type.
    Result<std::string> Begin(std::string_view declared) {
        while (head_.size() < documents::kSniffBytes && !ended_) {
            CARNET_TRY(auto piece, raw_());
            if (!piece) {
                ended_ = true;
                break;
            }
            in_ += static_cast<int64_t>(piece->size());
            if (in_ > limit_) return TooLarge(limit_);
            head_ += *piece;
        }
        if (head_.empty()) return Error::Invalid("the document is empty");
        CARNET_TRY(type_, documents::CheckContent(declared, head_));
        stripper_ = documents::StripperFor(type_);
        return type_;
    }

    /// The stored bytes, piece by piece (a store::ChunkSource).
    Result<std::optional<std::string>> Next() {
        for (;;) {
            std::string in;
            if (!head_given_) {
                head_given_ = true;
                in = std::move(head_);
            } else if (ended_) {
                if (stripper_ && !finished_) {
                    finished_ = true;
                    CARNET_CHECK(stripper_->Finish());
                }
                return std::optional<std::string>();
            } else {
                CARNET_TRY(auto piece, raw_());
                if (!piece) {
                    ended_ = true;
                    continue;
                }
                in_ += static_cast<int64_t>(piece->size());
                if (in_ > limit_) return TooLarge(limit_);
                in = std::move(*piece);
            }
            if (!stripper_) return std::optional<std::string>(std::move(in));
            CARNET_TRY(auto out, stripper_->Feed(in));
            if (!out.empty()) return std::optional<std::string>(std::move(out));
        }
    }

  private:
    const store::ChunkSource& raw_;
    int64_t limit_;
    int64_t in_ = 0;
    std::string head_;
    std::string type_;
    std::unique_ptr<documents::MetadataStripper> stripper_;
    bool ended_ = false;
    bool head_given_ = false;
    bool finished_ = false;
};

}  // namespace

int64_t UploadLimitFor(const ContentPolicy& policy, access::ActorKind kind) {
    // A patient account acts for itself, a child or the person it helps: one limit.
    return kind == access::ActorKind::kPatient ? policy.limits.patient_bytes
                                               : policy.limits.professional_bytes;
}

store::ChunkSource OnePiece(std::string bytes) {
    auto held = std::make_shared<std::optional<std::string>>(std::move(bytes));
    return [held]() -> Result<std::optional<std::string>> {
        std::optional<std::string> out = std::move(*held);
        held->reset();
        return out;
    };
}

Result<store::BlobMeta> StoreContent(store::WriteTxn& txn, const std::string& owner,
                                     const std::string& id, std::string_view declared,
                                     const store::ChunkSource& raw, int64_t limit, int64_t now_us) {
    Prepared prepared(raw, limit);
    CARNET_TRY(std::string type, prepared.Begin(declared));
    store::BlobMeta meta;
    meta.patient_id = owner;
    meta.id = id;
    meta.content_type = type;
    meta.created_at_us = now_us;
    return txn.PutBlob(
        std::move(meta), [&prepared] { return prepared.Next(); }, limit);
}

Result<bool> SameAsStored(store::Store& store, const store::BlobMeta& meta,
                          std::string_view declared, std::string_view raw) {
    const store::ChunkSource source = OnePiece(std::string(raw));
    Prepared prepared(source, INT64_MAX);
    CARNET_TRY(std::string type, prepared.Begin(declared));
    if (type != meta.content_type) return false;
    std::string incoming;
    for (;;) {
        CARNET_TRY(auto piece, prepared.Next());
        if (!piece) break;
        incoming += *piece;
    }
    if (static_cast<int64_t>(incoming.size()) != meta.size) return false;
    CARNET_TRY(auto stored, store.OpenBlob(meta.patient_id, meta.id));
    size_t at = 0;
    for (;;) {
        CARNET_TRY(auto piece, stored->Next());
        if (!piece) break;
        if (incoming.compare(at, piece->size(), *piece) != 0) return false;
        at += piece->size();
    }
    return at == incoming.size();
}

}  // namespace carnet::api
