#include "documents/strip.hpp"

#include <array>
#include <cstdint>

namespace carnet::documents {

namespace {

Error Damaged(const char* what) {
    return Error::Make(Code::kUnsupportedMedia, "not-supported",
                       std::string("the image is damaged (") + what + ")");
}

/// JPEG (ITU T.81 Annex B): markers FF xx; standalone markers (SOI, EOI, RSTn, TEM) have
/// no length; every other segment has a 2-byte big-endian length that counts itself. After
/// SOS comes entropy-coded data, in which FF is followed by 00 (a stuffed byte) or a
/// restart marker; any other marker ends the scan (progressive images have several scans
/// with tables between them).
class JpegStripper final : public MetadataStripper {
  public:
    Result<std::string> Feed(std::string_view in) override {
        std::string out;
        out.reserve(in.size());
        for (const char ch : in) {
            const auto c = static_cast<uint8_t>(ch);
            switch (state_) {
                case State::kSoi0:
                    if (c != 0xFF) return Damaged("no JPEG start");
                    state_ = State::kSoi1;
                    break;
                case State::kSoi1:
                    if (c != 0xD8) return Damaged("no JPEG start");
                    out += "\xFF\xD8";
                    state_ = State::kMarkerFF;
                    break;
                case State::kMarkerFF:
                    if (c != 0xFF) return Damaged("a segment without its marker");
                    state_ = State::kMarker;
                    break;
                case State::kMarker:
                    if (c == 0xFF) break;  // fill bytes
                    if (!Marker(c, out)) return Damaged("an unexpected marker");
                    break;
                case State::kLength0:
                    length_ = static_cast<uint16_t>(c << 8);
                    state_ = State::kLength1;
                    break;
                case State::kLength1: {
                    length_ = static_cast<uint16_t>(length_ | c);
                    if (length_ < 2) return Damaged("a segment length under 2");
                    remaining_ = length_ - 2u;
                    if (!skip_) {
                        out.push_back(static_cast<char>(0xFF));
                        out.push_back(static_cast<char>(marker_));
                        out.push_back(static_cast<char>(length_ >> 8));
                        out.push_back(static_cast<char>(length_ & 0xFF));
                    }
                    state_ = remaining_ > 0 ? State::kSegment : AfterSegment();
                    break;
                }
                case State::kSegment:
                    if (!skip_) out.push_back(ch);
                    if (--remaining_ == 0) state_ = AfterSegment();
                    break;
                case State::kScan:
                    if (c == 0xFF) {
                        state_ = State::kScanFF;
                    } else {
                        out.push_back(ch);
                    }
                    break;
                case State::kScanFF:
                    if (c == 0x00 || (c >= 0xD0 && c <= 0xD7)) {
                        out.push_back(static_cast<char>(0xFF));
                        out.push_back(ch);
                        state_ = State::kScan;
                    } else if (c == 0xFF) {
                        // fill byte before a marker
                    } else if (!Marker(c, out)) {
                        return Damaged("an unexpected marker in a scan");
                    }
                    break;
                case State::kDone:
                    return out;  // what follows EOI is not part of the image
            }
        }
        return out;
    }

    Status Finish() override {
        if (state_ != State::kDone) return Damaged("it ends before its end marker");
        return Ok();
    }

  private:
    enum class State {
        kSoi0,
        kSoi1,
        kMarkerFF,
        kMarker,
        kLength0,
        kLength1,
        kSegment,
        kScan,
        kScanFF,
        kDone
    };

    /// A marker after FF: false if it cannot appear here.
    bool Marker(uint8_t m, std::string& out) {
        if (m == 0xD9) {  // EOI
            out += "\xFF\xD9";
            state_ = State::kDone;
            return true;
        }
        if (m == 0xD8 || m == 0x00 || (m >= 0xD0 && m <= 0xD7) || m == 0x01) {
            return false;  // a second SOI, a stuffed byte or RST outside a scan, TEM
        }
        marker_ = m;
        // APP1 (EXIF, XMP), APP13 (IPTC, Photoshop), COM: the metadata.
        skip_ = m == 0xE1 || m == 0xED || m == 0xFE;
        state_ = State::kLength0;
        return true;
    }

    State AfterSegment() const { return marker_ == 0xDA ? State::kScan : State::kMarkerFF; }

    State state_ = State::kSoi0;
    uint8_t marker_ = 0;
    uint16_t length_ = 0;
    uint32_t remaining_ = 0;
    bool skip_ = false;
};

/// PNG (ISO/IEC 15948): the 8-byte signature, then chunks of length (4, big-endian), type
/// (4), data, CRC (4), up to IEND.
class PngStripper final : public MetadataStripper {
  public:
    Result<std::string> Feed(std::string_view in) override {
        static constexpr std::array<uint8_t, 8> kSignature = {0x89, 'P',  'N',  'G',
                                                              0x0D, 0x0A, 0x1A, 0x0A};
        std::string out;
        out.reserve(in.size());
        for (const char ch : in) {
            const auto c = static_cast<uint8_t>(ch);
            if (done_) return out;
            if (signature_ < kSignature.size()) {
                if (c != kSignature[signature_]) return Damaged("no PNG signature");
                ++signature_;
                out.push_back(ch);
                continue;
            }
            if (header_.size() < 8) {
                header_.push_back(ch);
                if (header_.size() < 8) continue;
                const auto b = [&](size_t i) { return static_cast<uint8_t>(header_[i]); };
                const uint32_t length =
                    (uint32_t{b(0)} << 24) | (uint32_t{b(1)} << 16) | (uint32_t{b(2)} << 8) | b(3);
                if (length > 0x7FFFFFFFu) return Damaged("a chunk length over 2^31");
                const std::string type = header_.substr(4, 4);
                for (char t : type) {
                    if (!((t >= 'a' && t <= 'z') || (t >= 'A' && t <= 'Z'))) {
                        return Damaged("a chunk type that is not 4 letters");
                    }
                }
                if (!seen_ihdr_ && type != "IHDR") return Damaged("no IHDR first");
                seen_ihdr_ = true;
                skip_ = type == "eXIf" || type == "tEXt" || type == "zTXt" || type == "iTXt" ||
                        type == "tIME";
                last_ = type == "IEND";
                remaining_ = uint64_t{length} + 4;  // data and CRC
                if (!skip_) out += header_;
                continue;
            }
            if (!skip_) out.push_back(ch);
            if (--remaining_ == 0) {
                header_.clear();
                if (last_) done_ = true;
            }
        }
        return out;
    }

    Status Finish() override {
        if (!done_) return Damaged("it ends before IEND");
        return Ok();
    }

  private:
    size_t signature_ = 0;
    std::string header_;
    uint64_t remaining_ = 0;
    bool skip_ = false;
    bool last_ = false;
    bool seen_ihdr_ = false;
    bool done_ = false;
};

}  // namespace

std::unique_ptr<MetadataStripper> StripperFor(std::string_view type) {
    if (type == "image/jpeg") return std::make_unique<JpegStripper>();
    if (type == "image/png") return std::make_unique<PngStripper>();
    return nullptr;
}

}  // namespace carnet::documents
