// Beast-based implementation of the test HTTP client. Each operation is started on a private
// io_context and run for at most the client's timeout, so a silent server fails the test
// instead of hanging it.
#include "http_client.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <thread>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cctype>
#include <chrono>

namespace warden::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

}  // namespace

std::string Response::header(std::string_view name) const {
  auto it = headers.find(lower(name));
  return it == headers.end() ? std::string() : it->second;
}

bool Response::has_header(std::string_view name) const { return headers.count(lower(name)) > 0; }

boost::json::value Response::json() const {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(body, ec);
  return ec ? boost::json::value() : v;
}

std::string Response::error_code() const {
  boost::json::value v = json();
  const auto* root = v.if_object();
  if (!root) return {};
  const auto* err = root->if_contains("error");
  if (!err || !err->is_object()) return {};
  const auto* code = err->as_object().if_contains("code");
  if (!code || !code->is_string()) return {};
  return std::string(code->as_string());
}

std::string Response::describe() const {
  if (status == 0) return "transport error: " + error;
  constexpr std::size_t kBodyCharsMax = 600;
  std::string b = body.size() > kBodyCharsMax ? body.substr(0, kBodyCharsMax) + "..." : body;
  return "HTTP " + std::to_string(status) + " " + b;
}

struct HttpClient::Impl {
  asio::io_context ioc;
  beast::tcp_stream stream{ioc};
  beast::flat_buffer buffer;
  std::uint16_t port;
  int timeout_ms;
  bool is_connected = false;
  int connect_count = 0;
  // The last exchange failed because the peer closed before sending any byte back.
  bool closed_before_response = false;

  // Starts `start(handler)` and runs the io_context until it completes or the deadline
  // passes. The stream's own expiry closes the socket on timeout, which completes the op.
  template <class Start>
  boost::system::error_code run_bounded(Start&& start, int op_timeout_ms) {
    boost::system::error_code result = asio::error::timed_out;
    bool done = false;
    ioc.restart();
    stream.expires_after(std::chrono::milliseconds(op_timeout_ms));
    start([&](boost::system::error_code ec, std::size_t) {
      result = ec;
      done = true;
    });
    ioc.run_for(std::chrono::milliseconds(op_timeout_ms + 1000));
    if (!done) {
      // Should not happen (the expiry fires first); make sure no handler outlives `done`.
      stream.close();
      ioc.restart();
      ioc.run_for(std::chrono::milliseconds(1000));
    }
    stream.expires_never();
    return result;
  }

  // A kept-alive connection the server has since closed (idle timeout) reads as EOF.
  bool peer_closed() {
    if (!is_connected) return true;
    pollfd pfd{stream.socket().native_handle(), POLLIN, 0};
    if (::poll(&pfd, 1, 0) <= 0) return false;
    char byte;
    return ::recv(pfd.fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) <= 0;
  }

  boost::system::error_code connect() {
    if (is_connected && peer_closed()) drop();
    if (is_connected) return {};
    stream.close();
    buffer.clear();
    tcp::endpoint ep(asio::ip::address_v4::loopback(), port);
    auto ec = run_bounded(
        [&](auto handler) {
          stream.async_connect(ep,
                               [handler](boost::system::error_code e) mutable { handler(e, 0); });
        },
        timeout_ms);
    if (!ec) {
      is_connected = true;
      ++connect_count;
    }
    return ec;
  }

  // Writes the request while already reading the response: a server may answer (413) and stop
  // reading before the whole body is sent, and that answer must not be lost.
  Response exchange(const http::request<http::string_body>& req) {
    Response out;
    http::response_parser<http::string_body> parser;
    constexpr std::uint64_t kResponseBytesMax = 64ull << 20;
    parser.body_limit(kResponseBytesMax);
    bool write_done = false;
    bool read_done = false;
    boost::system::error_code write_ec;
    boost::system::error_code read_ec = asio::error::timed_out;
    ioc.restart();
    stream.expires_after(std::chrono::milliseconds(timeout_ms));
    http::async_write(stream, req, [&](boost::system::error_code ec, std::size_t) {
      write_done = true;
      write_ec = ec;
    });
    http::async_read(stream, buffer, parser, [&](boost::system::error_code ec, std::size_t) {
      read_done = true;
      read_ec = ec;
      // The server answered early: stop pushing the rest of the body.
      if (!write_done) stream.socket().cancel();
    });
    ioc.run_for(std::chrono::milliseconds(timeout_ms + 1000));
    if (!write_done || !read_done) {
      stream.close();
      ioc.restart();
      ioc.run_for(std::chrono::milliseconds(1000));
    }
    stream.expires_never();
    closed_before_response = !parser.got_some() && (read_ec == http::error::end_of_stream ||
                                                    read_ec == asio::error::eof ||
                                                    read_ec == asio::error::connection_reset);
    if (read_ec || !read_done) {
      drop();
      out.error = "read: " + read_ec.message();
      if (write_ec) out.error += " (write: " + write_ec.message() + ")";
      return out;
    }
    fill(parser.release(), out);
    if (write_ec) drop();
    return out;
  }

  void fill(http::response<http::string_body>&& res, Response& out) {
    out.status = static_cast<int>(res.result_int());
    for (const auto& field : res) {
      out.headers[lower(field.name_string())] = std::string(field.value());
    }
    out.body = std::move(res.body());
    if (!res.keep_alive()) drop();
  }

  void drop() {
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream.close();
    is_connected = false;
    buffer.clear();
  }
};

HttpClient::HttpClient(std::uint16_t port, int timeout_ms) : impl_(std::make_unique<Impl>()) {
  impl_->port = port;
  impl_->timeout_ms = timeout_ms;
}

HttpClient::~HttpClient() { impl_->drop(); }

bool HttpClient::connected() const { return impl_->is_connected; }
void HttpClient::close() { impl_->drop(); }
int HttpClient::connects() const { return impl_->connect_count; }

Response HttpClient::request(std::string_view method, std::string_view target,
                             std::string_view body, const Headers& headers) {
  http::request<http::string_body> req;
  req.method_string(method);
  req.target(target);
  req.version(11);
  req.set(http::field::host, "127.0.0.1:" + std::to_string(impl_->port));
  req.keep_alive(true);
  bool has_content_type = false;
  for (const auto& [name, value] : headers) {
    req.set(name, value);
    if (lower(name) == "content-type") has_content_type = true;
  }
  if (!body.empty() && !has_content_type) req.set(http::field::content_type, "application/json");
  req.body() = std::string(body);
  req.prepare_payload();
  // The server may close an idle kept-alive connection just as we reuse it; like any HTTP
  // client, retry an idempotent request once on a fresh connection when that happens.
  const bool idempotent =
      method == "GET" || method == "HEAD" || method == "PUT" || method == "DELETE";
  for (int attempt = 0;; ++attempt) {
    const bool reused = impl_->is_connected;
    Response out;
    if (auto ec = impl_->connect()) {
      out.error = "connect: " + ec.message();
      return out;
    }
    out = impl_->exchange(req);
    if (out.status != 0 || attempt > 0 || !reused || !idempotent ||
        !impl_->closed_before_response) {
      return out;
    }
  }
}

bool HttpClient::send_raw(std::string_view bytes) {
  if (impl_->connect()) return false;
  auto ec = impl_->run_bounded(
      [&](auto handler) {
        asio::async_write(impl_->stream, asio::buffer(bytes.data(), bytes.size()), handler);
      },
      impl_->timeout_ms);
  if (ec) impl_->drop();
  return !ec;
}

Response HttpClient::read_response() {
  Response out;
  if (!impl_->is_connected) {
    out.error = "not connected";
    return out;
  }
  http::response_parser<http::string_body> parser;
  constexpr std::uint64_t kResponseBytesMax = 64ull << 20;
  parser.body_limit(kResponseBytesMax);
  auto ec = impl_->run_bounded(
      [&](auto handler) { http::async_read(impl_->stream, impl_->buffer, parser, handler); },
      impl_->timeout_ms);
  if (ec) {
    impl_->drop();
    out.error = "read: " + ec.message();
    return out;
  }
  impl_->fill(parser.release(), out);
  return out;
}

bool HttpClient::wait_closed(int timeout_ms) {
  if (!impl_->is_connected) return true;
  char scratch[512];
  auto ec = impl_->run_bounded(
      [&](auto handler) { impl_->stream.async_read_some(asio::buffer(scratch), handler); },
      timeout_ms);
  bool closed = ec == asio::error::eof || ec == asio::error::connection_reset;
  if (ec) impl_->drop();
  return closed;
}

std::vector<Response> concurrently(std::uint16_t port, int count,
                                   const std::function<Response(HttpClient&, int)>& request) {
  std::vector<Response> responses(static_cast<std::size_t>(count));
  std::vector<std::thread> threads;
  for (int i = 0; i < count; ++i) {
    threads.emplace_back([&, i] {
      HttpClient c(port);
      responses[static_cast<std::size_t>(i)] = request(c, i);
    });
  }
  for (auto& t : threads) t.join();
  return responses;
}

}  // namespace warden::testing
