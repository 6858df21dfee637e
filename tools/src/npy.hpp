#pragma once
// A .npy reader and writer for untrusted files (format versions 1.0, 2.0 and 3.0).
// Every defect (bad magic, malformed or oversized header, unknown dtype, Fortran
// order, absurd or truncated shape) throws `npy_error` with one line of text, and
// nothing is allocated before the claimed data size has been checked against the
// bytes that are really there, so a header claiming 10^15 elements costs nothing.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace coreroute::cli {

class npy_error : public std::runtime_error {
 public:
  explicit npy_error(const std::string& what) : std::runtime_error(what) {}
};

enum class DType { f16, f32, f64, i32, i64, u8, b1 };

struct DTypeInfo {
  DType type;
  const char* descr;  // as np.save writes it on a little-endian machine
  int size;
};

inline constexpr DTypeInfo kDTypes[] = {
    {DType::f16, "<f2", 2}, {DType::f32, "<f4", 4}, {DType::f64, "<f8", 8}, {DType::i32, "<i4", 4},
    {DType::i64, "<i8", 8}, {DType::u8, "|u1", 1},  {DType::b1, "|b1", 1},
};

inline const DTypeInfo& info_of(DType t) {
  for (const DTypeInfo& d : kDTypes)
    if (d.type == t) return d;
  throw npy_error("unknown dtype");
}

/// A C-order array: its dtype, shape and raw little-endian bytes.
struct NpyArray {
  DType dtype = DType::f32;
  std::vector<int64_t> shape;
  std::vector<unsigned char> bytes;

  int64_t count() const {
    int64_t c = 1;
    for (int64_t s : shape) c *= s;
    return c;
  }
  std::string shape_str() const {
    std::string s = "(";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + (shape.size() == 1 ? ",)" : ")");
  }
};

/// What the header says; `data_offset` is where the array's bytes start.
struct NpyHeader {
  DType dtype = DType::f32;
  std::vector<int64_t> shape;
  size_t data_offset = 0;
  uint64_t data_bytes = 0;
};

namespace detail {

inline constexpr size_t kMaxHeaderBytes = size_t(1) << 20;  // np.save writes < 100 B
inline constexpr size_t kMaxDims = 32;                      // NPY_MAXDIMS
inline constexpr uint64_t kMaxDataBytes = uint64_t(1) << 48;

/// A recursive-descent parser of the header's Python dict literal; accepts what
/// np.save writes (and reasonable hand-written variants), nothing else.
class HeaderParser {
 public:
  explicit HeaderParser(const std::string& text) : s_(text) {}

  NpyHeader parse() {
    bool has_descr = false, has_order = false, has_shape = false;
    NpyHeader h;
    skip_space();
    expect('{');
    for (;;) {
      skip_space();
      if (peek() == '}') {
        ++pos_;
        break;
      }
      const std::string key = parse_string();
      skip_space();
      expect(':');
      skip_space();
      if (key == "descr") {
        once(has_descr, key);
        h.dtype = dtype_of(parse_descr());
      } else if (key == "fortran_order") {
        once(has_order, key);
        if (parse_bool()) throw npy_error("Fortran-order arrays are not supported (save a C-order copy)");
      } else if (key == "shape") {
        once(has_shape, key);
        h.shape = parse_shape();
      } else {
        throw npy_error("malformed header: unexpected key '" + key + "'");
      }
      skip_space();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      skip_space();
      expect('}');
      break;
    }
    skip_space();
    if (pos_ != s_.size()) throw npy_error("malformed header: text after the closing '}'");
    if (!has_descr || !has_order || !has_shape)
      throw npy_error(std::string("malformed header: missing key '") +
                      (!has_descr   ? "descr"
                       : !has_order ? "fortran_order"
                                    : "shape") +
                      "'");
    return h;
  }

 private:
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  void skip_space() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\t' || s_[pos_] == '\r')) ++pos_;
  }
  void expect(char c) {
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++pos_;
  }
  [[noreturn]] void fail(const std::string& what) const {
    throw npy_error("malformed header: " + what + " at character " + std::to_string(pos_));
  }
  static void once(bool& seen, const std::string& key) {
    if (seen) throw npy_error("malformed header: key '" + key + "' given twice");
    seen = true;
  }
  std::string parse_string() {
    const char q = peek();
    if (q != '\'' && q != '"') fail("expected a quoted string");
    const size_t end = s_.find(q, pos_ + 1);
    if (end == std::string::npos || end - pos_ > 64) fail("unterminated or overlong string");
    std::string out = s_.substr(pos_ + 1, end - pos_ - 1);
    for (char c : out)  // keeps every error message on one printable line
      if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7F)
        fail("non-printable character");
    pos_ = end + 1;
    return out;
  }
  std::string parse_descr() {
    if (peek() == '[') throw npy_error("structured dtypes are not supported (need a plain numeric dtype)");
    return parse_string();
  }
  bool parse_bool() {
    if (s_.compare(pos_, 4, "True") == 0) {
      pos_ += 4;
      return true;
    }
    if (s_.compare(pos_, 5, "False") == 0) {
      pos_ += 5;
      return false;
    }
    fail("expected True or False");
  }
  int64_t parse_dim() {
    if (peek() < '0' || peek() > '9') fail("expected a non-negative integer dimension");
    uint64_t v = 0;
    while (peek() >= '0' && peek() <= '9') {
      v = v * 10 + uint64_t(peek() - '0');
      if (v > kMaxDataBytes) throw npy_error("absurd shape: a dimension exceeds 2^48");
      ++pos_;
    }
    if (peek() == 'L') ++pos_;  // Python 2 long literal
    return int64_t(v);
  }
  std::vector<int64_t> parse_shape() {
    std::vector<int64_t> shape;
    expect('(');
    for (;;) {
      skip_space();
      if (peek() == ')') {
        ++pos_;
        break;
      }
      if (shape.size() == kMaxDims) throw npy_error("absurd shape: more than 32 dimensions");
      shape.push_back(parse_dim());
      skip_space();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      expect(')');
      break;
    }
    return shape;
  }
  // '<' (or '=' on this little-endian host) for multi-byte types, any order mark
  // for one-byte types, as numpy itself accepts.
  static DType dtype_of(const std::string& d) {
    if (d.size() == 3 && std::string("<>|=").find(d[0]) != std::string::npos) {
      for (const DTypeInfo& t : kDTypes) {
        if (d.compare(1, 2, t.descr + 1) != 0) continue;
        if (t.size > 1 && d[0] == '>')
          throw npy_error("big-endian dtype '" + d + "' is not supported (save with a '<' dtype)");
        if (t.size > 1 && d[0] == '|') break;
        return t.type;
      }
    }
    throw npy_error("unsupported dtype '" + d + "' (supported: <f2 <f4 <f8 <i4 <i8 |u1 |b1)");
  }

  const std::string& s_;
  size_t pos_ = 0;
};

inline uint32_t read_le(const unsigned char* p, int bytes) {
  uint32_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

}  // namespace detail

/// Parses the preamble and header from the first `size` bytes of a file whose total
/// size is `file_size`, checking that exactly the claimed data follows.
inline NpyHeader parse_npy_header(const unsigned char* data, size_t size, uint64_t file_size) {
  static const unsigned char magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  if (size < 10 || std::memcmp(data, magic, 6) != 0) throw npy_error("not a .npy file (bad magic string)");
  const int major = data[6];
  if (major < 1 || major > 3)
    throw npy_error("unsupported .npy format version " + std::to_string(major) + "." + std::to_string(data[7]));
  const int len_bytes = major == 1 ? 2 : 4;
  if (size < size_t(8 + len_bytes)) throw npy_error("truncated header");
  const size_t header_len = detail::read_le(data + 8, len_bytes);
  if (header_len > detail::kMaxHeaderBytes)
    throw npy_error("header length " + std::to_string(header_len) + " is absurd");
  const size_t start = size_t(8 + len_bytes);
  if (size - start < header_len) throw npy_error("truncated header");
  const std::string text(reinterpret_cast<const char*>(data + start), header_len);
  if (text.find('\0') != std::string::npos) throw npy_error("malformed header: NUL character");
  NpyHeader h = detail::HeaderParser(text).parse();
  h.data_offset = start + header_len;
  if (file_size < h.data_offset) throw npy_error("truncated header");
  uint64_t count = 1;
  for (int64_t s : h.shape) {
    if (s != 0 && count > detail::kMaxDataBytes / uint64_t(s)) throw npy_error("absurd shape: too many elements");
    count *= uint64_t(s);
  }
  const uint64_t itemsize = uint64_t(info_of(h.dtype).size);
  if (count > detail::kMaxDataBytes / itemsize) throw npy_error("absurd shape: too many bytes");
  h.data_bytes = count * itemsize;
  const uint64_t have = file_size - h.data_offset;
  if (have < h.data_bytes)
    throw npy_error("truncated data: the header claims " + std::to_string(h.data_bytes) + " bytes, the file has " +
                    std::to_string(have));
  if (have > h.data_bytes)
    throw npy_error(std::to_string(have - h.data_bytes) + " unexpected bytes after the array data");
  return h;
}

/// Parses a whole .npy image held in memory.
inline NpyArray parse_npy(const unsigned char* data, size_t size) {
  const NpyHeader h = parse_npy_header(data, size, size);
  NpyArray a;
  a.dtype = h.dtype;
  a.shape = h.shape;
  a.bytes.assign(data + h.data_offset, data + h.data_offset + h.data_bytes);
  return a;
}

namespace detail {
/// Opens `path` and parses its header (the data is not read); errors are prefixed
/// with the path.
inline NpyHeader open_npy(const std::string& path, std::ifstream& f) {
  try {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) throw npy_error("no such file");
    if (!std::filesystem::is_regular_file(path, ec)) throw npy_error("not a regular file");
    f.open(path, std::ios::binary);
    if (!f) throw npy_error("cannot open file");
    f.seekg(0, std::ios::end);
    const std::streamoff end = f.tellg();
    if (end < 0) throw npy_error("cannot determine the file size (not a regular file?)");
    const uint64_t file_size = uint64_t(end);
    f.seekg(0);
    // The header is read in two steps so its claimed length is checked before use.
    std::vector<unsigned char> head(size_t(std::min<uint64_t>(file_size, 12)));
    f.read(reinterpret_cast<char*>(head.data()), std::streamsize(head.size()));
    if (head.size() >= 10 && head[6] >= 1 && head[6] <= 3) {
      const size_t len = detail::read_le(head.data() + 8, head[6] == 1 ? 2 : 4);
      const size_t want = (head[6] == 1 ? 10 : 12) + std::min(len, detail::kMaxHeaderBytes + 1);
      head.resize(size_t(std::min<uint64_t>(file_size, want)));
      f.seekg(0);
      f.read(reinterpret_cast<char*>(head.data()), std::streamsize(head.size()));
    }
    if (!f) throw npy_error("read error");
    return parse_npy_header(head.data(), head.size(), file_size);
  } catch (const npy_error& e) {
    throw npy_error(path + ": " + e.what());
  }
}
}  // namespace detail

/// The header of a .npy file (dtype, shape, data size), checked against the file's
/// size, without reading the data: what a caller bounds before allocating.
inline NpyHeader read_npy_header(const std::string& path) {
  std::ifstream f;
  return detail::open_npy(path, f);
}

/// Reads a .npy file; errors are prefixed with the path.
inline NpyArray read_npy(const std::string& path) {
  std::ifstream f;
  const NpyHeader h = detail::open_npy(path, f);
  NpyArray a;
  a.dtype = h.dtype;
  a.shape = h.shape;
  a.bytes.resize(size_t(h.data_bytes));  // bounded by the file's real size (checked above)
  f.seekg(std::streamoff(h.data_offset));
  f.read(reinterpret_cast<char*>(a.bytes.data()), std::streamsize(a.bytes.size()));
  if (!f) throw npy_error(path + ": read error in the array data");
  return a;
}

/// Writes a C-order array in format 1.0 with a 64-byte aligned header.
inline void write_npy(const std::string& path, DType dtype, const std::vector<int64_t>& shape, const void* data) {
  NpyArray tmp;
  tmp.shape = shape;
  std::string header = std::string("{'descr': '") + info_of(dtype).descr +
                       "', 'fortran_order': False, 'shape': " + tmp.shape_str() + ", }";
  const size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header.push_back('\n');
  std::ofstream f(path, std::ios::binary);
  if (!f) throw npy_error(path + ": cannot open for writing");
  const unsigned char pre[10] = {0x93,
                                 'N',
                                 'U',
                                 'M',
                                 'P',
                                 'Y',
                                 1,
                                 0,
                                 static_cast<unsigned char>(header.size() & 0xFF),
                                 static_cast<unsigned char>(header.size() >> 8)};
  f.write(reinterpret_cast<const char*>(pre), 10);
  f.write(header.data(), std::streamsize(header.size()));
  f.write(static_cast<const char*>(data), std::streamsize(tmp.count() * info_of(dtype).size));
  if (!f) throw npy_error(path + ": write error");
}

template <class T>
constexpr DType dtype_for() {
  if constexpr (std::is_same_v<T, float>)
    return DType::f32;
  else if constexpr (std::is_same_v<T, int32_t>)
    return DType::i32;
  else if constexpr (std::is_same_v<T, uint8_t>)
    return DType::u8;
  else if constexpr (std::is_same_v<T, double>)
    return DType::f64;
  else
    static_assert(sizeof(T) == 0, "no .npy dtype for this type");
}

template <class T>
void write_npy(const std::string& path, const std::vector<T>& v, const std::vector<int64_t>& shape) {
  write_npy(path, dtype_for<T>(), shape, v.data());
}

}  // namespace coreroute::cli
