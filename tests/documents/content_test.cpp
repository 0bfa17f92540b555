// What a document's content may be: the type is read from the bytes (libmagic) and must be
// the declared one; everything that could run in a browser is refused.
#include "documents/content.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace carnet::documents {
namespace {

std::string Bytes(std::initializer_list<int> b) {
    std::string s;
    for (int c : b) s.push_back(static_cast<char>(c));
    return s;
}

// Minimal files of each accepted type, as the tools that make them write them.
const std::string kPdf = "%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n";
const std::string kJpeg = Bytes({0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J',  'F',  'I',  'F',  0x00,
                                 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0xFF, 0xD9});
const std::string kPng =
    Bytes({0x89, 'P',  'N',  'G', 0x0D, 0x0A, 0x1A, 0x0A, 0,   0,   0,   13,   'I',  'H',  'D',
           'R',  0,    0,    0,   1,    0,    0,    0,    1,   8,   2,   0,    0,    0,    0x90,
           0x77, 0x53, 0xDE, 0,   0,    0,    0,    'I',  'E', 'N', 'D', 0xAE, 0x42, 0x60, 0x82});
const std::string kTiff = std::string("II*\0\x08\0\0\0", 8) + std::string(32, '\0');
const std::string kText = "Compte rendu de consultation.\nTension 12/8, poids 70 kg.\n";
const std::string kRtf = "{\\rtf1\\ansi Compte rendu}";
const std::string kCda =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ClinicalDocument xmlns=\"urn:hl7-org:v3\">"
    "<title>CR</title></ClinicalDocument>\n";
const std::string kFhir = "{\"resourceType\":\"Bundle\",\"type\":\"document\",\"entry\":[]}";

TEST(Content, EachAcceptedTypeIsRecognisedUnderItsNamesAndAliases) {
    const std::vector<std::tuple<std::string, std::string, std::string>> cases = {
        {"application/pdf", kPdf, "application/pdf"},
        {"Application/PDF", kPdf, "application/pdf"},
        {"image/jpeg", kJpeg, "image/jpeg"},
        {"image/jpg", kJpeg, "image/jpeg"},
        {"image/png", kPng, "image/png"},
        {"image/tiff", kTiff, "image/tiff"},
        {"text/plain; charset=utf-8", kText, "text/plain"},
        {"application/rtf", kRtf, "application/rtf"},
        {"text/rtf", kRtf, "application/rtf"},
        {"text/xml", kCda, "application/xml"},
        {"application/hl7-v3+xml", kCda, "application/xml"},
        {"application/fhir+json", kFhir, "application/fhir+json"},
        {"application/json", kFhir, "application/fhir+json"},
    };
    for (const auto& [declared, bytes, stored] : cases) {
        auto r = CheckContent(declared, bytes);
        ASSERT_TRUE(r.ok()) << declared << ": " << r.error().Summary();
        EXPECT_EQ(*r, stored) << declared;
    }
    EXPECT_EQ(ExtensionFor("application/pdf"), "pdf");
    EXPECT_EQ(ExtensionFor("image/jpeg"), "jpg");
    EXPECT_EQ(ExtensionFor("application/x-unknown"), "bin");
}

TEST(Content, WrongMagicBytesAreRefused) {
    // Every accepted type declared over every other type's bytes.
    const std::vector<std::pair<std::string, std::string>> files = {
        {"application/pdf", kPdf}, {"image/jpeg", kJpeg},     {"image/png", kPng},
        {"image/tiff", kTiff},     {"application/rtf", kRtf}, {"application/xml", kCda}};
    for (const auto& [declared, _] : files) {
        for (const auto& [actual, bytes] : files) {
            if (declared == actual) continue;
            auto r = CheckContent(declared, bytes);
            ASSERT_FALSE(r.ok()) << declared << " over " << actual;
            EXPECT_EQ(r.error().code, Code::kUnsupportedMedia);
        }
    }
    // A PDF whose first bytes were damaged, a PNG that is only its signature's start.
    EXPECT_FALSE(CheckContent("application/pdf", "%PDX-1.4\n" + kPdf.substr(9)).ok());
    EXPECT_FALSE(CheckContent("image/png", kPng.substr(0, 4)).ok());
}

TEST(Content, WhatCouldRunInABrowserIsRefused) {
    const std::string html = "<!DOCTYPE html><html><body><script>alert(1)</script></body></html>";
    const std::string svg =
        "<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)"
        "</script></svg>";
    const std::string xhtml =
        "<?xml version=\"1.0\"?><html xmlns=\"http://www.w3.org/1999/xhtml\"><script>alert(1)"
        "</script></html>";
    // Declared as what they are: not accepted types.
    for (const char* t :
         {"text/html", "image/svg+xml", "application/xhtml+xml", "application/javascript",
          "application/octet-stream", "", "application/zip", "image/gif"}) {
        auto r = CheckContent(t, html);
        ASSERT_FALSE(r.ok()) << t;
        EXPECT_EQ(r.error().code, Code::kUnsupportedMedia);
    }
    // Declared as something accepted.
    EXPECT_FALSE(CheckContent("text/plain", html).ok()) << "HTML is not plain text";
    EXPECT_FALSE(CheckContent("text/plain", "#!/bin/sh\nrm -rf /\n").ok()) << "a script";
    EXPECT_FALSE(CheckContent("image/png", svg).ok());
    EXPECT_FALSE(CheckContent("application/xml", svg).ok()) << "SVG is not CDA";
    EXPECT_FALSE(CheckContent("application/xml", xhtml).ok()) << "XHTML is not CDA";
    EXPECT_FALSE(CheckContent("application/fhir+json", "[1,2,3]").ok());
}

TEST(Content, PolyglotsAreRefused) {
    // An HTML page with a PDF after it: libmagic alone calls it a PDF.
    const std::string html_pdf = "<html><script>alert(1)</script></html>\n" + kPdf;
    EXPECT_EQ(Sniff(html_pdf), "application/pdf") << "what libmagic alone would let through";
    EXPECT_FALSE(CheckContent("application/pdf", html_pdf).ok());
    // A CDA-looking text that is an HTML page.
    EXPECT_FALSE(CheckContent("application/xml",
                              "<html><!-- <ClinicalDocument xmlns=\"urn:hl7-org:v3\"> --></html>")
                     .ok());
}

TEST(Content, EmptyContentIsRefused) {
    for (const char* t : {"application/pdf", "text/plain", "image/png"}) {
        auto r = CheckContent(t, "");
        ASSERT_FALSE(r.ok()) << t;
        EXPECT_EQ(r.error().code, Code::kUnsupportedMedia);
    }
}

}  // namespace
}  // namespace carnet::documents
