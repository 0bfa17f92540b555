#include "documents/content.hpp"

#include <magic.h>

#include <array>
#include <memory>

namespace carnet::documents {

namespace {

struct Accepted {
    std::string_view type;        // stored and served as
    std::string_view aliases[3];  // other declared names of it
    std::string_view sniffed[3];  // what libmagic may call its bytes
    std::string_view extension;
};

// libmagic 5.44 (Debian 12) names: see magic(5) and the test below (tests/documents).
constexpr std::array<Accepted, 8> kAccepted = {{
    {"application/pdf", {}, {"application/pdf"}, "pdf"},
    {"image/jpeg", {"image/jpg", "image/pjpeg"}, {"image/jpeg"}, "jpg"},
    {"image/png", {}, {"image/png"}, "png"},
    {"image/tiff", {}, {"image/tiff"}, "tif"},
    {"text/plain", {}, {"text/plain"}, "txt"},
    {"application/rtf", {"text/rtf"}, {"text/rtf"}, "rtf"},
    // CDA R2 documents.
    {"application/xml",
     {"text/xml", "application/hl7-v3+xml", "application/hl7-cda+xml"},
     {"text/xml", "application/xml"},
     "xml"},
    // FHIR Document Bundles (JSON); libmagic may call short JSON plain text.
    {"application/fhir+json",
     {"application/json", "application/json+fhir"},
     {"application/json", "text/plain"},
     "json"},
}};

std::string Lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    }
    return out;
}

/// "Text/Plain; charset=utf-8 " → "text/plain".
std::string Essence(std::string_view declared) {
    const size_t semi = declared.find(';');
    std::string_view t = declared.substr(0, semi);
    while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
    while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
    return Lower(t);
}

const Accepted* Find(std::string_view essence) {
    for (const auto& a : kAccepted) {
        if (a.type == essence) return &a;
        for (auto alias : a.aliases) {
            if (!alias.empty() && alias == essence) return &a;
        }
    }
    return nullptr;
}

/// One libmagic handle per thread (a handle is not thread-safe), loaded once.
magic_t Handle() {
    struct Closer {
        void operator()(magic_t m) const { magic_close(m); }
    };
    thread_local std::unique_ptr<std::remove_pointer_t<magic_t>, Closer> handle = [] {
        magic_t m = magic_open(MAGIC_MIME_TYPE | MAGIC_NO_CHECK_COMPRESS | MAGIC_NO_CHECK_ELF |
                               MAGIC_ERROR);
        if (m != nullptr && magic_load(m, nullptr) != 0) {
            magic_close(m);
            m = nullptr;
        }
        return std::unique_ptr<std::remove_pointer_t<magic_t>, Closer>(m);
    }();
    return handle.get();
}

bool StartsWith(std::string_view s, std::string_view prefix) {
    return s.size() >= prefix.size() && s.substr(0, prefix.size()) == prefix;
}

std::string_view SkipSpaceAndBom(std::string_view s) {
    if (StartsWith(s, "\xEF\xBB\xBF")) s.remove_prefix(3);
    while (!s.empty() &&
           (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n')) {
        s.remove_prefix(1);
    }
    return s;
}

/// Stricter than libmagic, which looks for signatures anywhere in the first kilobyte: the
/// content must *begin* as its type does, so that a file cannot be two things at once (an
/// HTML page with a PDF further down is a PDF to libmagic). XML must be a CDA document and
/// JSON a FHIR resource.
bool BeginsAsItsType(std::string_view type, std::string_view head) {
    if (type == "application/pdf") return StartsWith(head, "%PDF-");
    if (type == "image/jpeg") return StartsWith(head, "\xFF\xD8\xFF");
    if (type == "image/png") return StartsWith(head, "\x89PNG\r\n\x1A\n");
    if (type == "image/tiff") {
        return StartsWith(head, std::string_view("II*\0", 4)) ||
               StartsWith(head, std::string_view("MM\0*", 4));
    }
    if (type == "application/rtf") return StartsWith(head, "{\\rtf");
    if (type == "application/xml") {
        return head.find("<ClinicalDocument") != std::string_view::npos &&
               head.find("urn:hl7-org:v3") != std::string_view::npos;
    }
    if (type == "application/fhir+json") {
        const std::string_view j = SkipSpaceAndBom(head);
        return StartsWith(j, "{") && j.find("\"resourceType\"") != std::string_view::npos;
    }
    return true;  // text/plain: libmagic's verdict (text, not HTML, not a script)
}

}  // namespace

std::string Sniff(std::string_view head) {
    magic_t m = Handle();
    if (m == nullptr || head.empty()) return "application/octet-stream";
    const char* type = magic_buffer(m, head.data(), std::min(head.size(), kSniffBytes));
    return type != nullptr ? std::string(type) : "application/octet-stream";
}

Result<std::string> CheckContent(std::string_view declared, std::string_view head) {
    const std::string essence = Essence(declared);
    const Accepted* a = Find(essence);
    if (a == nullptr) {
        return Error::Make(Code::kUnsupportedMedia, "not-supported",
                           "documents are accepted as PDF, JPEG, PNG, TIFF, plain text, RTF, "
                           "CDA XML or FHIR JSON; not " +
                               (essence.empty() ? std::string("an undeclared type") : essence));
    }
    const std::string sniffed = Sniff(head);
    for (auto s : a->sniffed) {
        if (!s.empty() && s == sniffed) {
            if (!BeginsAsItsType(a->type, head)) break;
            return std::string(a->type);
        }
    }
    return Error::Make(
        Code::kUnsupportedMedia, "not-supported",
        "the content is not " + std::string(a->type) + " (its bytes read as " + sniffed + ")");
}

std::optional<std::string> CanonicalType(std::string_view declared) {
    const Accepted* a = Find(Essence(declared));
    if (a == nullptr) return std::nullopt;
    return std::string(a->type);
}

std::string ExtensionFor(std::string_view type) {
    const Accepted* a = Find(Essence(type));
    return a != nullptr ? std::string(a->extension) : "bin";
}

}  // namespace carnet::documents
