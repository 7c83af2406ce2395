// CEL runtime values: a 16-byte trivially copyable Value whose heap parts (strings, lists, maps)
// live in an Arena owned by whoever evaluates, so evaluation never reference-counts or frees.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace warden::expr {

// Bump allocator. Not thread-safe: one per evaluation context.
class Arena {
 public:
  Arena() = default;
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  void* alloc(std::size_t bytes, std::size_t align = alignof(std::max_align_t)) {
    std::size_t at = (used_ + align - 1) & ~(align - 1);
    if (cur_ == nullptr || at + bytes > cap_) return alloc_slow(bytes, align);
    used_ = at + bytes;
    return cur_ + at;
  }
  template <class T>
  T* alloc_array(std::size_t n) {
    return static_cast<T*>(alloc(sizeof(T) * (n == 0 ? 1 : n), alignof(T)));
  }
  // Copies bytes into the arena; the result is not NUL-terminated.
  const char* copy(std::string_view s) {
    char* p = static_cast<char*>(alloc(s.size() == 0 ? 1 : s.size(), 1));
    if (!s.empty()) std::memcpy(p, s.data(), s.size());
    return p;
  }
  // Frees everything but the first block, which is kept for reuse.
  void reset();
  std::size_t bytes_allocated() const { return total_; }

 private:
  void* alloc_slow(std::size_t bytes, std::size_t align);
  std::vector<std::unique_ptr<char[]>> blocks_;
  char* cur_ = nullptr;
  std::size_t cap_ = 0;
  std::size_t used_ = 0;
  std::size_t total_ = 0;
};

enum class Kind : std::uint8_t {
  kNull,
  kBool,
  kInt,
  kUint,
  kDouble,
  kString,
  kBytes,
  kList,
  kMap,
  kTimestamp,  // i = seconds since the Unix epoch, aux = nanos [0, 1e9)
  kDuration,   // i = seconds, aux = nanos as int32 with the sign of the seconds
  kType,       // s/aux = type name
  kIp,
  kCidr,
  kError,  // s/aux = message
};

struct Value;
struct ListRep {
  std::uint32_t size;
  const Value* items;
};
struct MapRep {
  std::uint32_t size;
  const Value* keys;
  const Value* values;
};
struct NetRep {
  std::uint8_t addr[16];  // IPv4 stored as its 4 bytes in addr[0..3]
  bool v4;
  int prefix;  // CIDR only
};

struct Value {
  Kind kind = Kind::kNull;
  std::uint32_t aux = 0;
  union {
    bool b;
    std::int64_t i;
    std::uint64_t u;
    double d;
    const char* s;
    const ListRep* list;
    const MapRep* map;
    const NetRep* net;
  };
  Value() : i(0) {}

  static Value null() { return Value(); }
  static Value boolean(bool v) {
    Value r;
    r.kind = Kind::kBool;
    r.b = v;
    return r;
  }
  static Value integer(std::int64_t v) {
    Value r;
    r.kind = Kind::kInt;
    r.i = v;
    return r;
  }
  static Value uinteger(std::uint64_t v) {
    Value r;
    r.kind = Kind::kUint;
    r.u = v;
    return r;
  }
  static Value dbl(double v) {
    Value r;
    r.kind = Kind::kDouble;
    r.d = v;
    return r;
  }
  // These do not copy: the bytes must outlive the value (arena, program constants or static
  // storage). For text built at run time (e.g. Status::message()) use make_string/make_error
  // with an Arena such as Activation::arena().
  static Value str(std::string_view v) { return text(Kind::kString, v); }
  static Value bytes(std::string_view v) { return text(Kind::kBytes, v); }
  static Value type(std::string_view name) { return text(Kind::kType, name); }
  static Value error(std::string_view message) { return text(Kind::kError, message); }
  static Value text(Kind k, std::string_view v) {
    Value r;
    r.kind = k;
    r.s = v.data();
    r.aux = static_cast<std::uint32_t>(v.size());
    return r;
  }
  static Value timestamp(std::int64_t seconds, std::int32_t nanos) {
    Value r;
    r.kind = Kind::kTimestamp;
    r.i = seconds;
    r.aux = static_cast<std::uint32_t>(nanos);
    return r;
  }
  static Value duration(std::int64_t seconds, std::int32_t nanos) {
    Value r;
    r.kind = Kind::kDuration;
    r.i = seconds;
    r.aux = static_cast<std::uint32_t>(nanos);
    return r;
  }

  bool is_error() const { return kind == Kind::kError; }
  std::string_view sv() const { return {s, aux}; }
  std::int32_t nanos() const { return static_cast<std::int32_t>(aux); }
};
static_assert(sizeof(Value) == 16, "Value must stay small");

// Helpers shared by the evaluator, the runner and the public API.
Value make_list(Arena& arena, const Value* items, std::size_t n);
Value make_map(Arena& arena, const Value* keys, const Value* values, std::size_t n);
Value make_string(Arena& arena, std::string_view s);
Value make_bytes(Arena& arena, std::string_view s);
Value make_error(Arena& arena, std::string_view message);

// CEL equality: heterogeneous numbers compare by value, other kinds differ; errors propagate.
// Returns 1 true, 0 false, -1 when either side is an error (the caller picks which).
int values_equal(const Value& a, const Value& b);
// Map lookup with numeric key equivalence; null when absent.
const Value* map_find(const MapRep& m, const Value& key);

// The CEL type name of a value: "int", "list", "google.protobuf.Timestamp", ...
std::string_view type_name(const Value& v);
// The value in CEL's literal syntax (1u, 2.0, double("NaN"), "s", b"\xff", [1, 2], {"a": 1},
// timestamp("..."), duration("1.5s")), for diagnostics and `warden expr eval`.
std::string to_text(const Value& v);
// Text used by string() and format's %s: strings and bytes unquoted.
std::string to_plain_string(const Value& v);
// Double formatted the way string(double) does (shortest round-trip, 1e+21 style exponent).
std::string format_double(double d);
std::string format_timestamp(std::int64_t seconds, std::int32_t nanos);
std::string format_duration(std::int64_t seconds, std::int32_t nanos);

}  // namespace warden::expr
