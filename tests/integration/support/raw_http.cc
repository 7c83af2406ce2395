// POSIX-socket implementation of raw_exchange(): a status line and headers, then a body framed
// by chunked transfer coding, Content-Length or the end of the connection, decoded as it comes.
#include "support/raw_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>

namespace warden::testing {

namespace {

constexpr std::size_t kReadBytes = 16 * 1024;
constexpr std::size_t kHeadBytesMax = 64 * 1024;

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return std::string(s);
}

// Decodes the body framing incrementally; feed() returns the body bytes the input completed.
class BodyDecoder {
 public:
  enum class Framing { kChunked, kLength, kUntilClose };

  BodyDecoder(Framing framing, std::size_t length) : framing_(framing), remaining_(length) {
    if (framing_ == Framing::kLength && remaining_ == 0) complete_ = true;
  }

  bool complete() const { return complete_; }
  const std::string& error() const { return error_; }

  std::string feed(std::string_view bytes) {
    std::string out;
    if (framing_ == Framing::kUntilClose) return std::string(bytes);
    if (framing_ == Framing::kLength) {
      std::size_t n = std::min(bytes.size(), remaining_);
      out.append(bytes.substr(0, n));
      remaining_ -= n;
      if (remaining_ == 0) complete_ = true;
      return out;
    }
    pending_.append(bytes);
    while (!complete_ && error_.empty()) {
      if (in_data_) {
        std::size_t n = std::min(pending_.size(), remaining_);
        out.append(pending_, 0, n);
        pending_.erase(0, n);
        remaining_ -= n;
        if (remaining_ > 0) break;
        in_data_ = false;
        need_crlf_ = true;
      }
      std::size_t eol = pending_.find("\r\n");
      if (eol == std::string::npos) break;
      std::string line = pending_.substr(0, eol);
      pending_.erase(0, eol + 2);
      if (need_crlf_) {
        need_crlf_ = false;
        if (!line.empty()) error_ = "chunk data not followed by CRLF";
        continue;
      }
      if (in_trailer_) {
        if (line.empty()) complete_ = true;
        continue;
      }
      char* end = nullptr;
      unsigned long long size = std::strtoull(line.c_str(), &end, 16);
      if (end == line.c_str()) {
        error_ = "bad chunk size line \"" + line + "\"";
        break;
      }
      if (size == 0) {
        in_trailer_ = true;
      } else {
        remaining_ = static_cast<std::size_t>(size);
        in_data_ = true;
      }
    }
    return out;
  }

 private:
  Framing framing_;
  std::size_t remaining_ = 0;
  std::string pending_;
  bool in_data_ = false;
  bool need_crlf_ = false;
  bool in_trailer_ = false;
  bool complete_ = false;
  std::string error_;
};

bool write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// Parses the head; false when it is not an HTTP response head.
bool parse_head(std::string_view head, RawResponse& out) {
  std::size_t eol = head.find("\r\n");
  std::string_view status_line = head.substr(0, eol);
  if (status_line.rfind("HTTP/1.", 0) != 0 || status_line.size() < 12) return false;
  out.status = std::atoi(std::string(status_line.substr(9, 3)).c_str());
  std::size_t pos = eol == std::string_view::npos ? head.size() : eol + 2;
  while (pos < head.size()) {
    std::size_t next = head.find("\r\n", pos);
    if (next == std::string_view::npos) next = head.size();
    std::string_view line = head.substr(pos, next - pos);
    if (std::size_t colon = line.find(':'); colon != std::string_view::npos) {
      out.headers[lower(line.substr(0, colon))] = trim(line.substr(colon + 1));
    }
    pos = next + 2;
  }
  return true;
}

}  // namespace

std::string RawResponse::header(std::string_view name) const {
  auto it = headers.find(lower(name));
  return it == headers.end() ? std::string() : it->second;
}

RawResponse raw_exchange(std::uint16_t port, const RawRequest& request) {
  RawResponse out;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    out.error = "socket failed";
    return out;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    out.error = "connect failed";
    return out;
  }
  std::string req = request.method + " " + request.target + " HTTP/1.1\r\n";
  req += "Host: 127.0.0.1:" + std::to_string(port) + "\r\nConnection: close\r\n";
  bool has_content_type = false;
  for (const auto& [name, value] : request.headers) {
    req += name + ": " + value + "\r\n";
    if (lower(name) == "content-type") has_content_type = true;
  }
  if (!request.body.empty() && !has_content_type) req += "Content-Type: application/json\r\n";
  req += "Content-Length: " + std::to_string(request.body.size()) + "\r\n\r\n";
  req += request.body;
  if (!write_all(fd, req)) {
    ::close(fd);
    out.error = "write failed";
    return out;
  }

  std::string head;
  bool have_head = false;
  BodyDecoder decoder(BodyDecoder::Framing::kUntilClose, 0);
  char buf[kReadBytes];
  auto take_body = [&](std::string_view bytes) {
    std::string piece = decoder.feed(bytes);
    if (!piece.empty()) {
      out.body += piece;
      out.pieces.push_back(std::move(piece));
    }
  };
  while (true) {
    pollfd pfd{fd, POLLIN, 0};
    int ready = ::poll(&pfd, 1, request.idle_timeout_ms);
    if (ready == 0) {
      out.timed_out = true;
      break;
    }
    ssize_t n = ready > 0 ? ::recv(fd, buf, sizeof(buf), 0) : -1;
    if (n <= 0) {
      // Without framing the end of the connection is the end of the body.
      if (have_head && out.headers.count("content-length") == 0 &&
          out.header("transfer-encoding").find("chunked") == std::string::npos) {
        out.complete = true;
      } else {
        out.closed_by_server = true;
      }
      break;
    }
    std::string_view bytes(buf, static_cast<std::size_t>(n));
    if (!have_head) {
      head.append(bytes);
      std::size_t end = head.find("\r\n\r\n");
      if (end == std::string::npos) {
        if (head.size() > kHeadBytesMax) {
          out.error = "response head too long";
          break;
        }
        continue;
      }
      if (!parse_head(std::string_view(head).substr(0, end), out)) {
        out.error = "not an HTTP response";
        break;
      }
      have_head = true;
      if (out.header("transfer-encoding").find("chunked") != std::string::npos) {
        decoder = BodyDecoder(BodyDecoder::Framing::kChunked, 0);
      } else if (out.headers.count("content-length") > 0) {
        decoder = BodyDecoder(BodyDecoder::Framing::kLength,
                              std::strtoull(out.header("content-length").c_str(), nullptr, 10));
      }
      take_body(std::string_view(head).substr(end + 4));
    } else {
      take_body(bytes);
    }
    if (!decoder.error().empty()) {
      out.error = decoder.error();
      break;
    }
    if (decoder.complete()) {
      out.complete = true;
      break;
    }
    if (out.body.size() >= request.stop_after_body_bytes) {
      out.hung_up = true;
      break;
    }
  }
  ::close(fd);
  return out;
}

}  // namespace warden::testing
