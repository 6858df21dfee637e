// The .npy reader and writer: round trips, float16, and the malformed corpus.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "arrays.hpp"
#include "npy.hpp"

using namespace coreroute::cli;
namespace fs = std::filesystem;

namespace {

std::vector<unsigned char> slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

std::vector<fs::path> corpus(const std::string& prefix) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(COREROUTE_NPY_CORPUS))
    if (e.path().filename().string().rfind(prefix, 0) == 0) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("npy round trip keeps dtype, shape and bytes") {
  const std::vector<std::vector<int64_t>> shapes = {{}, {0}, {3}, {2, 3, 4}, {1, 1, 1, 5}};
  for (const auto& shape : shapes) {
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    const size_t count = static_cast<size_t>(n);
    std::vector<float> f(count);
    std::vector<int32_t> i(count);
    std::vector<uint8_t> u(count);
    for (int64_t k = 0; k < n; ++k) {
      f[size_t(k)] = float(k) * 0.5f - 3;
      i[size_t(k)] = int32_t(k * 1000 - 7);
      u[size_t(k)] = uint8_t(k % 2);
    }
    write_npy("rt_f.npy", f, shape);
    write_npy("rt_i.npy", i, shape);
    write_npy("rt_u.npy", u, shape);
    const NpyArray a = read_npy("rt_f.npy"), b = read_npy("rt_i.npy"), c = read_npy("rt_u.npy");
    CAPTURE(a.shape_str());
    CHECK(a.shape == shape);
    CHECK(a.dtype == DType::f32);
    CHECK(b.dtype == DType::i32);
    CHECK(c.dtype == DType::u8);
    CHECK(to_float32(a, "x") == f);
    REQUIRE(b.bytes.size() == i.size() * 4);
    CHECK((i.empty() || std::memcmp(b.bytes.data(), i.data(), b.bytes.size()) == 0));
    CHECK(std::vector<uint8_t>(c.bytes.begin(), c.bytes.end()) == u);
    // The header is 64-byte aligned, as np.save writes it.
    CHECK((fs::file_size("rt_f.npy") - a.bytes.size()) % 64 == 0);
  }
}

TEST_CASE("float16 conversion is exact and rounds to nearest even") {
  for (uint32_t h = 0; h < 0x10000u; ++h) {
    const float f = half_to_float(uint16_t(h));
    if (std::isnan(f)) {
      CHECK((h & 0x7C00u) == 0x7C00u);
      CHECK(std::isnan(half_to_float(float_to_half(f))));
    } else {
      CAPTURE(h, f);
      REQUIRE(float_to_half(f) == h);
    }
  }
  CHECK(half_to_float(0x3C00) == 1.0f);
  CHECK(half_to_float(0x0001) == std::ldexp(1.0f, -24));
  CHECK(half_to_float(0x7BFF) == 65504.0f);
  CHECK(float_to_half(65519.0f) == 0x7BFF);
  CHECK(float_to_half(65520.0f) == 0x7C00);
  CHECK(float_to_half(1.0f + std::ldexp(1.0f, -11)) == 0x3C00);      // tie -> even
  CHECK(float_to_half(1.0f + 3 * std::ldexp(1.0f, -11)) == 0x3C02);  // tie -> even
  CHECK(float_to_half(std::ldexp(1.0f, -25)) == 0x0000);             // tie -> even (0)
  CHECK(float_to_half(std::ldexp(1.5f, -25)) == 0x0001);
}

TEST_CASE("good corpus files parse, and every shorter prefix of them is rejected") {
  const auto files = corpus("good-");
  REQUIRE(files.size() >= 4);
  for (const fs::path& p : files) {
    CAPTURE(p.string());
    const NpyArray a = read_npy(p.string());
    const std::vector<unsigned char> bytes = slurp(p);
    CHECK(parse_npy(bytes.data(), bytes.size()).bytes == a.bytes);
    for (size_t len = 0; len < bytes.size(); ++len) {
      CAPTURE(len);
      CHECK_THROWS_AS(parse_npy(bytes.data(), len), npy_error);
    }
  }
}

TEST_CASE("every malformed corpus file gives one npy_error line naming the file") {
  const auto files = corpus("bad-");
  REQUIRE(files.size() >= 20);
  for (const fs::path& p : files) {
    CAPTURE(p.string());
    std::string msg;
    try {
      read_npy(p.string());
    } catch (const npy_error& e) {
      msg = e.what();
    }
    REQUIRE(!msg.empty());
    CHECK(msg.find('\n') == std::string::npos);
    CHECK(msg.rfind(p.string() + ": ", 0) == 0);
    const std::vector<unsigned char> bytes = slurp(p);
    CHECK_THROWS_AS(parse_npy(bytes.data(), bytes.size()), npy_error);
  }
}

TEST_CASE("valid .npy files that are no trace are rejected by load_trace") {
  const auto files = corpus("wrong-");
  REQUIRE(files.size() >= 4);
  for (const fs::path& p : files) {
    CAPTURE(p.string());
    CHECK_NOTHROW(read_npy(p.string()));
    CHECK_THROWS_AS(load_trace(p.string()), npy_error);
  }
}

TEST_CASE("a header claiming 10^12 elements is rejected without allocating them") {
  const std::string path = std::string(COREROUTE_NPY_CORPUS) + "/bad-shape-large-truncated.npy";
  REQUIRE(fs::file_size(path) < 1024);
  CHECK_THROWS_WITH(read_npy(path), Catch::Contains("truncated data"));
}

TEST_CASE("load_trace accepts [N, M] as one block and float16 data") {
  const Trace t2 = load_trace(std::string(COREROUTE_NPY_CORPUS) + "/good-v2-f32-3x4.npy");
  CHECK(t2.blocks == 1);
  CHECK(t2.tokens == 3);
  CHECK(t2.experts == 4);
  const Trace a = load_trace(std::string(COREROUTE_NPY_CORPUS) + "/good-f32-2x3x4.npy");
  const Trace h = load_trace(std::string(COREROUTE_NPY_CORPUS) + "/good-f16-2x3x4.npy");
  CHECK(a.logits == h.logits);  // the corpus values are exact in float16
}

TEST_CASE("load_trace converts float64 (numpy's default dtype) to the nearest float32") {
  const Trace a = load_trace(std::string(COREROUTE_NPY_CORPUS) + "/good-f32-2x3x4.npy");
  const Trace d = load_trace(std::string(COREROUTE_NPY_CORPUS) + "/good-f64-2x3x4.npy");
  CHECK(d.blocks == 2);
  CHECK(d.logits == a.logits);  // the corpus values are exact in float32
  const std::string far = std::string(COREROUTE_NPY_CORPUS) + "/wrong-f64-beyond-f32.npy";
  CHECK_THROWS_WITH(load_trace(far),
                    Catch::Contains(far) && Catch::Contains("element 23") && Catch::Contains("beyond float32's range"));
}
