// Transports: files (embedded default), SMTP and an SMS HTTP gateway through libcurl.
// https://curl.se/libcurl/c/smtp-tls.html, RFC 5322 (message format), RFC 2047 (subject).
#include <curl/curl.h>
#include <sodium.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <mutex>

#include "core/clock.hpp"
#include "core/log.hpp"
#include "notify/notify.hpp"

namespace carnet::notify {
namespace {

void InitCurlOnce() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

bool HasControl(std::string_view s) {
    for (unsigned char c : s) {
        if (c < 0x20 || c == 0x7f) return true;
    }
    return false;
}

std::string Base64(std::string_view bytes) {
    std::string out(sodium_base64_encoded_len(bytes.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
    sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                      bytes.size(), sodium_base64_VARIANT_ORIGINAL);
    out.resize(out.size() - 1);  // the terminating NUL
    return out;
}

/// RFC 2047 encoded-words for a UTF-8 header value, each under 75 characters, folded.
std::string EncodeHeader(std::string_view text) {
    bool ascii = true;
    for (unsigned char c : text) ascii = ascii && c < 0x80;
    if (ascii) return std::string(text);
    std::string out;
    size_t i = 0;
    while (i < text.size()) {
        size_t n = std::min<size_t>(39, text.size() - i);  // 52 base64 chars: lines < 78
        // Do not split a UTF-8 sequence: back up over continuation bytes.
        while (n > 0 && i + n < text.size() &&
               (static_cast<unsigned char>(text[i + n]) & 0xC0) == 0x80) {
            --n;
        }
        if (!out.empty()) out += "\r\n ";
        out += "=?UTF-8?B?" + Base64(text.substr(i, n)) + "?=";
        i += n;
    }
    return out;
}

std::string Rfc5322Date(int64_t micros) {
    std::string d = FormatHttpDate(micros);  // "Sun, 22 Nov 2026 10:00:00 GMT"
    if (d.size() > 4 && d.ends_with(" GMT")) d.replace(d.size() - 4, 4, " +0000");
    return d;
}

/// "Name <a@b>" -> "<a@b>"; "a@b" -> "<a@b>".
std::string AngleAddress(const std::string& from) {
    auto open = from.find('<');
    auto close = from.find('>');
    if (open != std::string::npos && close != std::string::npos && close > open) {
        return from.substr(open, close - open + 1);
    }
    return "<" + from + ">";
}

std::string CrLf(std::string_view text) {
    std::string out;
    out.reserve(text.size() + text.size() / 40);
    for (size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r')) out += '\r';
        out += text[i];
    }
    return out;
}

std::string JsonEscape(std::string_view s) {
    std::string out;
    for (unsigned char c : s) {
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                if (c < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", c);
                    out += buf;
                } else {
                    out += static_cast<char>(c);
                }
        }
    }
    return out;
}

std::string Replace(std::string text, std::string_view key, const std::string& value) {
    size_t pos = 0;
    while ((pos = text.find(key, pos)) != std::string::npos) {
        text.replace(pos, key.size(), value);
        pos += value.size();
    }
    return text;
}

bool IsLoopbackUrl(const std::string& url) {
    for (const char* prefix : {"http://127.0.0.1", "http://localhost", "http://[::1]"}) {
        if (url.rfind(prefix, 0) == 0) {
            const char next = url.size() > std::strlen(prefix) ? url[std::strlen(prefix)] : '/';
            if (next == ':' || next == '/') return true;
        }
    }
    return false;
}

Error TransportError(const std::string& what) {
    return Error::Make(Code::kUnavailable, "transient", what);
}

// ---- files -----------------------------------------------------------------------------

class FileTransport final : public Transport {
  public:
    explicit FileTransport(std::filesystem::path dir) : dir_(std::move(dir)) {}

    Status Send(const Message& m) override {
        std::error_code ec;
        std::filesystem::create_directories(dir_, ec);
        if (ec) return TransportError("cannot create the outbox folder");
        ::chmod(dir_.c_str(), 0700);  // codes inside: the owner only
        const int64_t now = SystemClock().NowMicros();
        std::string stamp = FormatInstant(now).substr(0, 19);  // 2026-11-22T10:00:00
        for (char& c : stamp) {
            if (c == ':') c = '-';
        }
        const bool mail = m.channel == Channel::kEmail;
        const std::filesystem::path path =
            dir_ / (stamp + "-" + m.id + (mail ? ".eml" : ".sms.txt"));
        const std::filesystem::path tmp = path.string() + ".tmp";
        {
            std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
            if (!out) return TransportError("cannot write to the outbox folder");
            if (mail) {
                out << FormatEmail(m, from_, now);
            } else {
                out << "To: " << m.recipient << "\n\n" << m.content.text << "\n";
            }
            if (!out.flush()) return TransportError("cannot write to the outbox folder");
        }
        std::filesystem::rename(tmp, path, ec);
        if (ec) return TransportError("cannot write to the outbox folder");
        // The file name, never the text: the file is where a newcomer reads the code.
        spdlog::info("notify: {} written to {}", mail ? "e-mail" : "SMS", path.string());
        return Ok();
    }
    [[nodiscard]] std::string Name() const override { return "file"; }

  private:
    std::filesystem::path dir_;
    std::string from_{kDefaultFrom};
};

// ---- SMTP ------------------------------------------------------------------------------

struct Upload {
    std::string data;
    size_t offset = 0;
};

size_t ReadUpload(char* buffer, size_t size, size_t nitems, void* user) {
    auto* up = static_cast<Upload*>(user);
    const size_t n = std::min(size * nitems, up->data.size() - up->offset);
    std::memcpy(buffer, up->data.data() + up->offset, n);
    up->offset += n;
    return n;
}

size_t DiscardBody(char*, size_t size, size_t nmemb, void*) { return size * nmemb; }

class SmtpTransport final : public Transport {
  public:
    explicit SmtpTransport(SmtpOptions o) : o_(std::move(o)) { InitCurlOnce(); }

    Status Send(const Message& m) override {
        if (m.channel != Channel::kEmail) return Error::Invalid("SMTP sends e-mail only");
        if (HasControl(m.recipient) || m.recipient.find('@') == std::string::npos) {
            return Error::Invalid("not an e-mail address");
        }
        CURL* curl = curl_easy_init();
        if (!curl) return TransportError("smtp: cannot start libcurl");
        Upload up{FormatEmail(m, o_.from, SystemClock().NowMicros())};
        const std::string rcpt = "<" + m.recipient + ">";
        curl_slist* rcpts = curl_slist_append(nullptr, rcpt.c_str());
        const std::string mail_from = AngleAddress(o_.from);
        curl_easy_setopt(curl, CURLOPT_URL, o_.url.c_str());
        curl_easy_setopt(curl, CURLOPT_MAIL_FROM, mail_from.c_str());
        curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, rcpts);
        curl_easy_setopt(curl, CURLOPT_READFUNCTION, ReadUpload);
        curl_easy_setopt(curl, CURLOPT_READDATA, &up);
        curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT, static_cast<long>(o_.timeout.count()));
        curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
        if (o_.starttls == "required") {
            curl_easy_setopt(curl, CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_ALL));
        } else if (o_.starttls == "opportunistic") {
            curl_easy_setopt(curl, CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_TRY));
        }
        if (!o_.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, o_.ca_file.c_str());
        if (!o_.username.empty()) {
            curl_easy_setopt(curl, CURLOPT_USERNAME, o_.username.c_str());
            curl_easy_setopt(curl, CURLOPT_PASSWORD, o_.password.c_str());
        }
        char errbuf[CURL_ERROR_SIZE] = {0};
        curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
        const CURLcode rc = curl_easy_perform(curl);
        curl_slist_free_all(rcpts);
        curl_easy_cleanup(curl);
        if (rc != CURLE_OK) {
            // libcurl's message names the server and the SMTP reply, never the mail text.
            return TransportError(std::string("smtp: ") +
                                  (errbuf[0] ? errbuf : curl_easy_strerror(rc)));
        }
        return Ok();
    }
    [[nodiscard]] std::string Name() const override { return "smtp"; }

  private:
    SmtpOptions o_;
};

// ---- SMS gateway -----------------------------------------------------------------------

class SmsGatewayTransport final : public Transport {
  public:
    explicit SmsGatewayTransport(SmsGatewayOptions o) : o_(std::move(o)) { InitCurlOnce(); }

    Status Send(const Message& m) override {
        if (m.channel != Channel::kSms) return Error::Invalid("the SMS gateway sends SMS only");
        if (o_.url.rfind("https://", 0) != 0 && !IsLoopbackUrl(o_.url)) {
            return Error::Invalid("the SMS gateway URL must be https:// (http only on loopback)");
        }
        if (HasControl(m.recipient)) return Error::Invalid("not a phone number");
        std::string body = o_.body_template;
        body = Replace(body, "{to}", JsonEscape(m.recipient));
        body = Replace(body, "{text}", JsonEscape(m.content.text));
        body = Replace(body, "{id}", JsonEscape(m.id));
        CURL* curl = curl_easy_init();
        if (!curl) return TransportError("sms: cannot start libcurl");
        curl_slist* headers = nullptr;
        headers = curl_slist_append(headers, ("Content-Type: " + o_.content_type).c_str());
        if (!o_.auth_header.empty()) headers = curl_slist_append(headers, o_.auth_header.c_str());
        curl_easy_setopt(curl, CURLOPT_URL, o_.url.c_str());
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT, static_cast<long>(o_.timeout.count()));
        curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, DiscardBody);
        curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
        char errbuf[CURL_ERROR_SIZE] = {0};
        curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
        const CURLcode rc = curl_easy_perform(curl);
        long status = 0;
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        curl_slist_free_all(headers);
        curl_easy_cleanup(curl);
        if (rc != CURLE_OK) {
            return TransportError(std::string("sms: ") +
                                  (errbuf[0] ? errbuf : curl_easy_strerror(rc)));
        }
        if (status < 200 || status > 299) {
            return TransportError("sms: the gateway answered HTTP " + std::to_string(status));
        }
        return Ok();
    }
    [[nodiscard]] std::string Name() const override { return "sms-gateway"; }

  private:
    SmsGatewayOptions o_;
};

}  // namespace

std::string FormatEmail(const Message& m, const std::string& from, int64_t now_us) {
    std::string out;
    out += "From: " + from + "\r\n";
    out += "To: <" + m.recipient + ">\r\n";
    out += "Subject: " + EncodeHeader(m.content.subject) + "\r\n";
    out += "Date: " + Rfc5322Date(now_us) + "\r\n";
    out += "Message-ID: <" + m.id + "@carnet>\r\n";
    out += "MIME-Version: 1.0\r\n";
    out += "Content-Type: text/plain; charset=UTF-8\r\n";
    out += "Content-Transfer-Encoding: 8bit\r\n";
    out += "Auto-Submitted: auto-generated\r\n";
    out += "\r\n";
    out += CrLf(m.content.text);
    out += "\r\n";
    return out;
}

std::unique_ptr<Transport> MakeFileTransport(std::filesystem::path dir) {
    return std::make_unique<FileTransport>(std::move(dir));
}

std::unique_ptr<Transport> MakeSmtpTransport(SmtpOptions options) {
    return std::make_unique<SmtpTransport>(std::move(options));
}

std::unique_ptr<Transport> MakeSmsGatewayTransport(SmsGatewayOptions options) {
    return std::make_unique<SmsGatewayTransport>(std::move(options));
}

}  // namespace carnet::notify
