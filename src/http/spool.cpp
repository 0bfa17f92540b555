#include "http/spool.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

namespace carnet::http {

namespace {
constexpr std::string_view kAad = "carnet-upload-spool-v1";

Status WriteAll(int fd, const char* p, size_t n) {
    while (n > 0) {
        const ssize_t w = ::write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return Error::Make(Code::kUnavailable, "exception", "cannot spool the upload");
        }
        p += w;
        n -= static_cast<size_t>(w);
    }
    return Ok();
}

Status ReadExact(int fd, uint64_t offset, char* p, size_t n) {
    while (n > 0) {
        const ssize_t r = ::pread(fd, p, n, static_cast<off_t>(offset));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return Error::Internal("spool: short read");
        p += r;
        n -= static_cast<size_t>(r);
        offset += static_cast<uint64_t>(r);
    }
    return Ok();
}
}  // namespace

Result<std::shared_ptr<Spool>> Spool::Create(const std::filesystem::path& dir) {
    std::shared_ptr<Spool> s(new Spool());
    s->fd_ = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_EXCL | O_CLOEXEC, 0600);
    if (s->fd_ < 0) {
        return Error::Make(Code::kUnavailable, "exception", "cannot create an upload spool");
    }
    s->key_ = crypto::NewKey();
    s->sealer_.emplace(s->key_, std::string(kAad));
    s->header_ = s->sealer_->Header();
    return s;
}

Spool::~Spool() {
    if (fd_ >= 0) ::close(fd_);
    std::memset(key_.data(), 0, key_.size());  // the file is unreadable without it
}

Status Spool::Append(std::string_view bytes) {
    if (finished_) return Error::Internal("spool: append after finish");
    size_ += bytes.size();
    while (!bytes.empty()) {
        const size_t take = std::min(bytes.size(), kRecordBytes - pending_.size());
        pending_.append(bytes.substr(0, take));
        bytes.remove_prefix(take);
        if (pending_.size() == kRecordBytes) CARNET_CHECK(WriteRecord(false));
    }
    return Ok();
}

Status Spool::WriteRecord(bool last) {
    const std::string sealed = sealer_->Push(pending_, last);
    pending_.clear();
    // A record: its sealed length (4 bytes, little-endian), then the sealed bytes.
    const auto n = static_cast<uint32_t>(sealed.size());
    const std::array<char, 4> len = {
        static_cast<char>(n & 0xff), static_cast<char>((n >> 8) & 0xff),
        static_cast<char>((n >> 16) & 0xff), static_cast<char>((n >> 24) & 0xff)};
    CARNET_CHECK(WriteAll(fd_, len.data(), len.size()));
    return WriteAll(fd_, sealed.data(), sealed.size());
}

Status Spool::Finish() {
    if (finished_) return Ok();
    CARNET_CHECK(WriteRecord(true));
    finished_ = true;
    sealer_.reset();
    return Rewind();
}

Status Spool::Rewind() {
    if (!finished_) return Error::Internal("spool: read before finish");
    CARNET_TRY(auto opener, crypto::StreamOpener::Make(key_, header_, std::string(kAad)));
    opener_.emplace(std::move(opener));
    read_offset_ = 0;
    return Ok();
}

Result<std::optional<std::string>> Spool::Next() {
    if (!finished_) return Error::Internal("spool: read before finish");
    if (opener_ && opener_->Done()) return std::optional<std::string>();
    std::array<char, 4> len{};
    CARNET_CHECK(ReadExact(fd_, read_offset_, len.data(), len.size()));
    const uint32_t n = static_cast<uint32_t>(static_cast<unsigned char>(len[0])) |
                       static_cast<uint32_t>(static_cast<unsigned char>(len[1])) << 8 |
                       static_cast<uint32_t>(static_cast<unsigned char>(len[2])) << 16 |
                       static_cast<uint32_t>(static_cast<unsigned char>(len[3])) << 24;
    if (n > kRecordBytes + crypto::kStreamChunkOverhead)
        return Error::Internal("spool: bad record");
    std::string sealed(n, '\0');
    CARNET_CHECK(ReadExact(fd_, read_offset_ + 4, sealed.data(), n));
    read_offset_ += 4 + n;
    CARNET_TRY(auto plain, opener_->Pull(sealed));
    return std::optional<std::string>(std::move(plain));
}

}  // namespace carnet::http
