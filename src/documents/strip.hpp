#pragma once
/// Removes what an image says beyond its pixels — EXIF (the camera's GPS position, the
/// phone's make, the time), XMP, IPTC, comments, text chunks — as the bytes stream through,
/// never holding the image whole. JPEG keeps its segments but APP1 (EXIF, XMP), APP13 (IPTC)
/// and COM; PNG keeps its chunks but eXIf, tEXt, zTXt, iTXt and tIME. Both stop at their end
/// marker (EOI, IEND): anything appended after the image (a second file glued on, the trick
/// of polyglots) is dropped. A structure that does not parse is refused as a damaged image.
#include <memory>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace carnet::documents {

class MetadataStripper {
  public:
    virtual ~MetadataStripper() = default;
    /// The next bytes of the image in; the bytes to keep out (possibly fewer, later).
    virtual Result<std::string> Feed(std::string_view in) = 0;
    /// End of input: Code::kUnsupportedMedia if the image stopped before its end marker.
    virtual Status Finish() = 0;
};

/// A stripper for a stored type ("image/jpeg", "image/png"); nullptr for types kept as
/// they are (PDF, text, XML, JSON, TIFF — see docs/DOCUMENTS.md).
std::unique_ptr<MetadataStripper> StripperFor(std::string_view type);

}  // namespace carnet::documents
