// Image metadata removal: the position a phone writes into a photo must not reach the
// record, the picture must stay the same picture, and nothing glued after the image stays.
#include "documents/strip.hpp"

#include <gtest/gtest.h>
#include <jpeglib.h>
#include <zlib.h>

#include <cstdio>
#include <string>
#include <vector>

namespace carnet::documents {
namespace {

constexpr int kW = 48, kH = 32;

/// A real JPEG (libjpeg) of a gradient, with an EXIF APP1 holding `exif` and a comment.
std::string MakeJpeg(const std::string& exif, const std::string& comment, bool progressive) {
    jpeg_compress_struct c{};
    jpeg_error_mgr err{};
    c.err = jpeg_std_error(&err);
    jpeg_create_compress(&c);
    unsigned char* buf = nullptr;
    unsigned long size = 0;
    jpeg_mem_dest(&c, &buf, &size);
    c.image_width = kW;
    c.image_height = kH;
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    c.restart_interval = 2;  // restart markers inside the scan
    if (progressive) jpeg_simple_progression(&c);
    jpeg_start_compress(&c, TRUE);
    jpeg_write_marker(&c, JPEG_APP0 + 1, reinterpret_cast<const JOCTET*>(exif.data()),
                      static_cast<unsigned>(exif.size()));
    jpeg_write_marker(&c, JPEG_COM, reinterpret_cast<const JOCTET*>(comment.data()),
                      static_cast<unsigned>(comment.size()));
    std::vector<unsigned char> row(kW * 3);
    while (c.next_scanline < c.image_height) {
        for (int x = 0; x < kW; ++x) {
            row[x * 3] = static_cast<unsigned char>(x * 5);
            row[x * 3 + 1] = static_cast<unsigned char>(c.next_scanline * 7);
            row[x * 3 + 2] = static_cast<unsigned char>((x + c.next_scanline) * 3);
        }
        JSAMPROW r = row.data();
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    std::string out(reinterpret_cast<char*>(buf), size);
    jpeg_destroy_compress(&c);
    free(buf);
    return out;
}

/// Decodes a JPEG to RGB pixels (libjpeg); empty if it does not decode, or (with
/// `refuse_app1`) if an APP1 segment is left in it.
std::vector<unsigned char> Decode(const std::string& jpeg, bool refuse_app1 = true) {
    jpeg_decompress_struct d{};
    jpeg_error_mgr err{};
    d.err = jpeg_std_error(&err);
    err.error_exit = [](j_common_ptr) { throw std::runtime_error("jpeg"); };
    std::vector<unsigned char> pixels;
    try {
        jpeg_create_decompress(&d);
        jpeg_mem_src(&d, reinterpret_cast<const unsigned char*>(jpeg.data()), jpeg.size());
        jpeg_save_markers(&d, JPEG_APP0 + 1, 0xFFFF);
        jpeg_read_header(&d, TRUE);
        for (auto* m = d.marker_list; m != nullptr; m = m->next) {
            if (refuse_app1 && m->marker == JPEG_APP0 + 1)
                throw std::runtime_error("an APP1 is left");
        }
        jpeg_start_decompress(&d);
        pixels.resize(static_cast<size_t>(d.output_width) * d.output_height * 3);
        while (d.output_scanline < d.output_height) {
            JSAMPROW r =
                pixels.data() + static_cast<size_t>(d.output_scanline) * d.output_width * 3;
            jpeg_read_scanlines(&d, &r, 1);
        }
        jpeg_finish_decompress(&d);
    } catch (const std::exception&) {
        pixels.clear();
    }
    jpeg_destroy_decompress(&d);
    return pixels;
}

Result<std::string> Strip(const std::string& type, const std::string& in, size_t piece) {
    auto s = StripperFor(type);
    if (!s) return Error::Internal("no stripper");
    std::string out;
    for (size_t i = 0; i < in.size(); i += piece) {
        CARNET_TRY(auto part, s->Feed(std::string_view(in).substr(i, piece)));
        out += part;
    }
    CARNET_CHECK(s->Finish());
    return out;
}

TEST(Strip, AJpegLosesItsExifAndCommentAndKeepsItsPixels) {
    static const char kExif[] = "Exif\0\0GPS-LAT-48.8566-LON-2.3522-PHONE-MAKE";
    const std::string exif(kExif, sizeof kExif - 1);
    for (bool progressive : {false, true}) {
        const std::string jpeg = MakeJpeg(exif, "COMMENT-Dr-Martin", progressive);
        ASSERT_NE(jpeg.find("GPS-LAT"), std::string::npos);
        const auto before = Decode(jpeg, false);
        ASSERT_FALSE(before.empty());
        // Fed in pieces of every awkward size, with a ZIP glued after the image.
        for (size_t piece : {size_t{1}, size_t{3}, size_t{4096}, jpeg.size() + 100}) {
            auto out = Strip("image/jpeg", jpeg + "PK\x03\x04-APPENDED-ARCHIVE", piece);
            ASSERT_TRUE(out.ok()) << out.error().Summary();
            EXPECT_EQ(out->find("GPS-LAT"), std::string::npos);
            EXPECT_EQ(out->find("COMMENT-Dr-Martin"), std::string::npos);
            EXPECT_EQ(out->find("APPENDED-ARCHIVE"), std::string::npos);
            EXPECT_EQ(out->substr(out->size() - 2), "\xFF\xD9");
            EXPECT_LT(out->size(), jpeg.size());
            EXPECT_EQ(Decode(*out), before) << "the same picture, progressive=" << progressive;
        }
    }
}

TEST(Strip, ATruncatedOrForgedJpegIsRefused) {
    const std::string jpeg = MakeJpeg(std::string("Exif\0\0x", 7), "c", false);
    auto cut = Strip("image/jpeg", jpeg.substr(0, jpeg.size() / 2), 4096);
    ASSERT_FALSE(cut.ok());
    EXPECT_EQ(cut.error().code, Code::kUnsupportedMedia);
    EXPECT_FALSE(Strip("image/jpeg", "\xFF\xD8garbage", 4096).ok());
    EXPECT_FALSE(Strip("image/jpeg", std::string("\xFF\xD8\xFF\xE0\x00\x01", 6), 4096).ok())
        << "a segment length under 2";
    EXPECT_FALSE(Strip("image/jpeg", "%PDF-1.4", 4096).ok());
}

std::string PngChunk(const std::string& type, const std::string& data) {
    std::string c;
    const auto n = static_cast<uint32_t>(data.size());
    for (int s : {24, 16, 8, 0}) c.push_back(static_cast<char>((n >> s) & 0xFF));
    c += type + data;
    uLong crc = crc32(0, reinterpret_cast<const Bytef*>(type.data()), 4);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(data.size()));
    for (int s : {24, 16, 8, 0}) c.push_back(static_cast<char>((crc >> s) & 0xFF));
    return c;
}

TEST(Strip, APngLosesItsTextAndExifChunksAndKeepsTheRestByteForByte) {
    const std::string sig("\x89PNG\r\n\x1A\n", 8);
    const std::string ihdr = PngChunk("IHDR", std::string("\0\0\0\1\0\0\0\1\x08\x02\0\0\0", 13));
    const std::string phys = PngChunk("pHYs", std::string("\0\0\x0B\x13\0\0\x0B\x13\x01", 9));
    const std::string idat = PngChunk("IDAT", std::string("x\x9C"
                                                          "c\xF8\x0F\0\x01\x01\x01\0",
                                                          11));
    const std::string iend = PngChunk("IEND", "");
    const std::string png = sig + ihdr + PngChunk("eXIf", "MM\0*GPS-LAT-48.85") + phys +
                            PngChunk("tEXt", std::string("Author\0Dr Martin", 16)) +
                            PngChunk("iTXt", "XML:com.adobe.xmp GPS") + idat +
                            PngChunk("tIME", "\x07\xEA\x0B\x17\x0A\x00\x00") + iend +
                            "TRAILING-PAYLOAD";
    for (size_t piece : {size_t{1}, size_t{5}, size_t{1} << 16}) {
        auto out = Strip("image/png", png, piece);
        ASSERT_TRUE(out.ok()) << out.error().Summary();
        EXPECT_EQ(*out, sig + ihdr + phys + idat + iend) << "piece " << piece;
    }
    EXPECT_FALSE(Strip("image/png", png.substr(0, 40), 7).ok()) << "no IEND";
    EXPECT_FALSE(Strip("image/png", sig + PngChunk("IDAT", "x") + iend, 7).ok()) << "IHDR first";
    EXPECT_FALSE(Strip("image/png",
                       sig + ihdr +
                           "\0\0\0\x01"
                           "t3xt"
                           "x\0\0\0\0",
                       7)
                     .ok());
    EXPECT_EQ(StripperFor("application/pdf"), nullptr);
}

}  // namespace
}  // namespace carnet::documents
