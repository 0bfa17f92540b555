#pragma once
/// A request body too large to hold in memory (a document upload), kept on disk while the
/// handler reads it: sealed with a key that exists only in this process's memory
/// (crypto::StreamSealer) in an unnamed temporary file (O_TMPFILE) that vanishes with its
/// descriptor. Nothing readable is ever on disk, even if the process dies mid-upload.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "crypto/crypto.hpp"

namespace carnet::http {

class Spool {
  public:
    /// A new empty spool in `dir` (which must exist).
    static Result<std::shared_ptr<Spool>> Create(const std::filesystem::path& dir);
    Spool(const Spool&) = delete;
    Spool& operator=(const Spool&) = delete;
    ~Spool();

    /// Appends bytes (buffered; sealed a record at a time).
    Status Append(std::string_view bytes);
    /// No more bytes: seals the rest. Required before reading.
    Status Finish();
    /// Plaintext bytes appended.
    [[nodiscard]] uint64_t size() const { return size_; }

    /// Reads the content from the start, a record (≤ kRecordBytes) at a time; nullopt at the
    /// end. Each call to Rewind() starts over (a handler may sniff, then store).
    Result<std::optional<std::string>> Next();
    Status Rewind();

    static constexpr size_t kRecordBytes = 64 * 1024;

  private:
    Spool() = default;
    Status WriteRecord(bool last);

    int fd_ = -1;
    crypto::Key key_{};
    std::optional<crypto::StreamSealer> sealer_;
    std::optional<crypto::StreamOpener> opener_;
    std::string header_;
    std::string pending_;
    uint64_t size_ = 0;
    uint64_t read_offset_ = 0;  // file offset of the next record to read
    bool finished_ = false;
};

}  // namespace carnet::http
