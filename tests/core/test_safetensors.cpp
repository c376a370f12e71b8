// tests/core/test_safetensors.cpp — bitwise round trips, and one specific error per malformation.
// Malformed files are written byte by byte here (length prefix, header text, data bytes).
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "core/error.h"
#include "core/rng.h"
#include "core/safetensors.h"
#include "tests/support/testing.h"

using namespace raoq;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

// A fresh folder under the system temp dir, removed with everything in it at scope exit.
struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& tag) {
    path = fs::temp_directory_path() / ("raoq_" + tag + "_" + std::to_string(::getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

// Writes <8-byte little-endian length><header><data>; `length` overrides the true header length.
std::string write_raw(const TempDir& dir, const std::string& header, size_t data_bytes,
                      uint64_t length = std::numeric_limits<uint64_t>::max()) {
  if (length == std::numeric_limits<uint64_t>::max()) length = header.size();
  const std::string path = dir.file("malformed.safetensors");
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>(length >> (8 * i)));
  out << header << std::string(data_bytes, '\x01');
  return path;
}

// The error message of load_safetensors on `path` (empty when it loads).
std::string load_error(const std::string& path) {
  try {
    load_safetensors(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), sizeof(float) * a.numel()) == 0;
}

}  // namespace

TEST_CASE("safetensors: round trip is bitwise exact, keeps order and metadata", "[core]") {
  TempDir dir("st_roundtrip");
  Tensor special = Tensor::empty({2, 3});  // values that a text or lossy path would change
  const uint32_t nan_payload = 0x7fc01234u;
  float nan_value;
  std::memcpy(&nan_value, &nan_payload, sizeof nan_value);
  const std::vector<float> values = {-0.0f, nan_value, std::numeric_limits<float>::infinity(),
                                     std::numeric_limits<float>::denorm_min(), 1.0f / 3.0f, -1e38f};
  std::copy(values.begin(), values.end(), special.data());
  const std::vector<std::pair<std::string, Tensor>> tensors = {
      {"layer1.0.conv1.weight", testing::randn({4, 3, 3, 3}, 7, false)},
      {"special", special},
      {"scalar", Tensor::scalar(2.5f)},
      {"empty", Tensor::zeros({0, 5})},
      {"a.bias", testing::randn({5}, 8, false)},
  };
  const std::map<std::string, std::string> metadata = {
      {"config", R"({"stages": [{"name": "fp", "epochs": 2}]})"}, {"format", "raoq"}, {"note", "µ, tab\t, \"quote\""}};
  const std::string path = dir.file("ckpt.safetensors");
  save_safetensors(path, tensors, metadata);

  // The data section starts 8-byte aligned and no temporary file is left behind.
  std::ifstream in(path, std::ios::binary);
  uint64_t header_length = 0;
  for (int i = 0; i < 8; ++i) header_length |= static_cast<uint64_t>(static_cast<uint8_t>(in.get())) << (8 * i);
  CHECK((8 + header_length) % 8 == 0);
  CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()) == 1);

  const SafetensorsFile file = load_safetensors(path);
  REQUIRE(file.tensors.size() == tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    INFO("tensor " << tensors[i].first);
    CHECK(file.tensors[i].first == tensors[i].first);
    CHECK(file.tensors[i].second.name() == tensors[i].first);
    CHECK(bitwise_equal(file.tensors[i].second, tensors[i].second));
  }
  CHECK(file.metadata == metadata);
  CHECK(file.contains("scalar"));
  CHECK(file.at("scalar").shape().empty());
  CHECK_THROWS_WITH(file.at("missing"), Contains("no tensor 'missing'") && Contains("special"));

  // Saving again over the same path replaces it whole.
  save_safetensors(path, {{"only", Tensor::ones({2})}});
  const SafetensorsFile again = load_safetensors(path);
  REQUIRE(again.tensors.size() == 1);
  CHECK(again.metadata.empty());
  CHECK(again.tensors[0].second.to_vector() == std::vector<float>{1, 1});
}

TEST_CASE("safetensors: tensors come back in data-offset order", "[core]") {
  TempDir dir("st_order");
  // Header lists b first but its bytes come second.
  const std::string header =
      R"({"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
  const SafetensorsFile file = load_safetensors(write_raw(dir, header, 8));
  REQUIRE(file.tensors.size() == 2);
  CHECK(file.tensors[0].first == "a");
  CHECK(file.tensors[1].first == "b");
}

TEST_CASE("safetensors: I8 tensors (integer codes) take one byte per element and read back exactly", "[core]") {
  TempDir dir("st_int8");
  const std::string path = dir.file("codes.safetensors");
  const Tensor codes = Tensor::from_vector({-128, -7, 0, 3, 127, 1}, {2, 3});
  const Tensor scale = Tensor::from_vector({0.125f}, {1});
  save_safetensors(path, {{"codes", codes}, {"scale", scale}}, {}, {"codes"});
  // 8-byte length, the header padded to 8, then 6 bytes of codes and 4 of the float.
  std::ifstream in(path, std::ios::binary);
  const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  REQUIRE(bytes.size() > 8);
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t(uint8_t(bytes[size_t(i)])) << (8 * i);
  const std::string header = bytes.substr(8, n);
  CHECK(bytes.size() == 8 + n + 10);
  CHECK_THAT(header, Contains(R"("codes":{"dtype":"I8","shape":[2,3],"data_offsets":[0,6]})"));
  CHECK_THAT(header, Contains(R"("scale":{"dtype":"F32","shape":[1],"data_offsets":[6,10]})"));
  const SafetensorsFile file = load_safetensors(path);
  CHECK(file.at("codes").to_vector() == codes.to_vector());
  CHECK(file.at("codes").shape() == Shape{2, 3});
  CHECK(file.at("scale").to_vector() == std::vector<float>{0.125f});
  // Only integers in [-128, 127] fit a byte; the file is then not written.
  const std::string bad = dir.file("bad.safetensors");
  CHECK_THROWS_WITH(save_safetensors(bad, {{"c", Tensor::from_vector({1, 128}, {2})}}, {}, {"c"}),
                    Contains("tensor 'c' is written as I8 but element 1 is 128") && Contains("[-128, 127]"));
  CHECK_THROWS_WITH(save_safetensors(bad, {{"c", Tensor::from_vector({0.5f}, {1})}}, {}, {"c"}),
                    Contains("element 0 is 0.5"));
  CHECK(!fs::exists(bad));
  // An I8 entry whose byte count is not one per element.
  CHECK_THROWS_WITH(load_safetensors(write_raw(dir, R"({"c":{"dtype":"I8","shape":[3],"data_offsets":[0,4]}})", 4)),
                    Contains("hold 4 bytes, expected 3 (1 * 3 elements of shape [3])"));
}

TEST_CASE("safetensors: I64 tensors (PyTorch's integer buffers) read into float exactly, or are refused", "[core]") {
  TempDir dir("st_int64");
  const std::string path = dir.file("counts.safetensors");
  // A 0-dimensional count, as PyTorch stores num_batches_tracked, and the largest exact value.
  const Tensor count = Tensor::from_vector({7}, {});
  const Tensor big = Tensor::from_vector({-16777216.0f, 16777216.0f}, {2});
  save_safetensors(path, {{"count", count}, {"big", big}}, {}, {}, {"count", "big"});
  const SafetensorsFile file = load_safetensors(path);
  CHECK(file.at("count").shape() == Shape{});
  CHECK(file.at("count").to_vector() == std::vector<float>{7});
  CHECK(file.at("big").to_vector() == big.to_vector());
  CHECK_THROWS_WITH(save_safetensors(dir.file("bad.safetensors"), {{"c", Tensor::from_vector({0.5f}, {1})}}, {}, {}, {"c"}),
                    Contains("tensor 'c' is written as I64 but element 0 is 0.5"));
  // 2^24 + 1 has no exact float: the reader refuses it instead of rounding.
  std::string data(8, '\0');
  const uint64_t v = (uint64_t{1} << 24) + 1;
  for (int i = 0; i < 8; ++i) data[size_t(i)] = static_cast<char>(v >> (8 * i));
  const std::string raw = write_raw(dir, R"({"n":{"dtype":"I64","shape":[],"data_offsets":[0,8]}})", 8);
  {
    std::fstream f(raw, std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(-8, std::ios::end);
    f.write(data.data(), 8);
  }
  CHECK_THROWS_WITH(load_safetensors(raw), Contains("tensor 'n': I64 element 0 is 16777217") && Contains("2^24"));
  // Named as a counter (num_batches_tracked, which import-torch checks and drops), it is rounded instead.
  CHECK(load_safetensors(raw, {"n"}).at("n").item() == 16777216.0f);
}

namespace {
// A file of one tensor `name` of `dtype` whose data section is `data` (little-endian elements).
std::string write_typed(const TempDir& dir, const std::string& name, const std::string& dtype, size_t numel,
                        const std::string& data) {
  const std::string header = "{\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":[" + std::to_string(numel) +
                             "],\"data_offsets\":[0," + std::to_string(data.size()) + "]}}";
  const std::string path = dir.file(dtype + ".safetensors");
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>(header.size() >> (8 * i)));
  out << header << data;
  return path;
}

std::string halves(const std::vector<uint16_t>& v) {
  std::string d;
  for (uint16_t h : v) d += static_cast<char>(h & 0xff), d += static_cast<char>(h >> 8);
  return d;
}

std::string doubles(const std::vector<double>& v) {
  std::string d(v.size() * sizeof(double), '\0');
  std::memcpy(d.data(), v.data(), d.size());
  return d;
}
}  // namespace

TEST_CASE("safetensors: F16, BF16 and F64 tensors (PyTorch's) read into float", "[core]") {
  TempDir dir("st_half");
  // binary16, bits by hand: 1.5 = 0x3E00, -2 = 0xC000, the largest 65504 = 0x7BFF, the smallest
  // subnormal 2^-24 = 0x0001, a larger subnormal 512 * 2^-24 = 2^-15 = 0x0200, -0 = 0x8000, -inf = 0xFC00.
  const SafetensorsFile f16 = load_safetensors(
      write_typed(dir, "h", "F16", 7, halves({0x3E00, 0xC000, 0x7BFF, 0x0001, 0x0200, 0x8000, 0xFC00})));
  const std::vector<float> h = f16.at("h").to_vector();
  CHECK(h[0] == 1.5f);
  CHECK(h[1] == -2.0f);
  CHECK(h[2] == 65504.0f);
  CHECK(h[3] == std::ldexp(1.0f, -24));
  CHECK(h[4] == std::ldexp(1.0f, -15));
  CHECK((h[5] == 0.0f && std::signbit(h[5])));
  CHECK(h[6] == -std::numeric_limits<float>::infinity());
  // bfloat16 is a float's upper 16 bits: 1.5 = 0x3FC0, -2 = 0xC000, 65536 = 0x4780, and 0x0001 is
  // the float subnormal 2^-133.
  const SafetensorsFile bf16 = load_safetensors(write_typed(dir, "b", "BF16", 4, halves({0x3FC0, 0xC000, 0x4780, 0x0001})));
  CHECK(bf16.at("b").to_vector() == std::vector<float>{1.5f, -2.0f, 65536.0f, std::ldexp(1.0f, -133)});
  // F64: exact when the value is a float, else the nearest float; beyond float's range refused.
  const SafetensorsFile f64 = load_safetensors(write_typed(dir, "d", "F64", 4, doubles({1.5, -2.0, 0.1, 1e-40})));
  CHECK(f64.at("d").to_vector() == std::vector<float>{1.5f, -2.0f, 0.1f, static_cast<float>(1e-40)});
  CHECK_THROWS_WITH(load_safetensors(write_typed(dir, "big", "F64", 2, doubles({1.0, 1e39}))),
                    Contains("F64.safetensors") && Contains("tensor 'big': F64 element 1 is") &&
                        Contains("beyond the range of a float tensor"));
  // A byte count that does not fit the dtype names its element size.
  CHECK_THROWS_WITH(load_safetensors(write_typed(dir, "odd", "F16", 2, std::string(3, '\0'))),
                    Contains("tensor 'odd'") && Contains("expected 4 (2 * 2 elements"));
}

TEST_CASE("safetensors: save refuses bad input", "[core]") {
  TempDir dir("st_save");
  const std::string path = dir.file("x.safetensors");
  CHECK_THROWS_WITH(save_safetensors(path, {{"w", Tensor::ones({1})}, {"w", Tensor::ones({2})}}),
                    Contains("duplicate tensor name 'w'"));
  CHECK_THROWS_WITH(save_safetensors(path, {{"__metadata__", Tensor::ones({1})}}), Contains("reserved"));
  CHECK_THROWS_WITH(save_safetensors(path, {{"w", Tensor()}}), Contains("tensor 'w' (entry 0) is undefined"));
  CHECK_THROWS_WITH(save_safetensors(path, {}, {{"k", "\xff\xfe"}}), Contains("not valid UTF-8"));
  CHECK_THROWS_WITH(save_safetensors(dir.file("no/such/dir/x.safetensors"), {}), Contains("cannot create temporary file"));
  CHECK(!fs::exists(path));
  CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()) == 0);
}

TEST_CASE("safetensors: each malformed file gets its own one-line error", "[core]") {
  TempDir dir("st_bad");
  const std::string ok_entry = R"("dtype":"F32","shape":[2],"data_offsets":[0,8])";
  struct Case {
    const char* what;
    std::string header;
    size_t data_bytes;
    uint64_t length;
    std::string expected;
  };
  const uint64_t own = std::numeric_limits<uint64_t>::max();  // use the header's true length
  const std::vector<Case> cases = {
      {"header length past the end", "{}", 0, 100, "header length 100 at byte 0 runs past the end of the file (10 bytes)"},
      {"absurd header length", "{}", 0, uint64_t{1} << 62, "header length 4611686018427387904 at byte 0 is absurd"},
      {"not JSON", "{\"a\": ", 0, own, "header is not valid JSON (near byte"},
      {"empty header", "", 0, own, "header is not valid JSON"},
      {"not an object", "[1, 2]", 0, own, "header is JSON of type array, expected an object"},
      // Found by tests/fuzz/fuzz_safetensors: nlohmann's out_of_range escaped as an internal error.
      {"a number that overflows a double", R"({"w":{"dtype":"F32","shape":[88e888],"data_offsets":[0,8]}})", 8, own,
       "header cannot be held as JSON values (number overflow parsing '88e888')"},
      {"nested too deep", "{\"w\":" + std::string(70, '[') + std::string(70, ']') + "}", 0, own,
       "header nests deeper than 64 levels, expected at most 64 (a safetensors header nests 3)"},
      {"dtype I32", R"({"fc.weight":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}})", 8, own,
       "tensor 'fc.weight': dtype I32, expected F32, F16, BF16, F64, I8 or I64"},
      {"dtype not a string", R"({"w":{"dtype":7,"shape":[2],"data_offsets":[0,8]}})", 8, own, "tensor 'w': dtype 7 is not a string"},
      {"entry not an object", R"({"w":[1]})", 0, own, "tensor 'w': entry is of type array"},
      {"missing shape", R"({"w":{"dtype":"F32","data_offsets":[0,8]}})", 8, own, "tensor 'w': missing 'shape'"},
      {"negative shape", R"({"w":{"dtype":"F32","shape":[2,-2],"data_offsets":[0,8]}})", 8, own,
       "tensor 'w': shape entry 1 is -2, expected a non-negative integer (dimensions cannot be negative)"},
      {"float shape", R"({"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})", 8, own,
       "tensor 'w': shape entry 0 is 2.5, expected a non-negative integer"},
      {"string shape", R"({"w":{"dtype":"F32","shape":["2"],"data_offsets":[0,8]}})", 8, own,
       "tensor 'w': shape entry 0 is \"2\", expected a non-negative integer"},
      {"shape not an array", R"({"w":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})", 8, own,
       "tensor 'w': shape 2 is not an array"},
      {"shape product overflow", R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", 8, own,
       "tensor 'w': shape [4294967296,4294967296] has more elements than a 64-bit byte count can hold"},
      {"offsets of one element", R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8]}})", 8, own,
       "tensor 'w': data_offsets [8], expected [begin, end] with non-negative integers"},
      {"offsets with a string", R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,"8"]}})", 8, own,
       "tensor 'w': data_offsets [0,\"8\"], expected [begin, end]"},
      {"negative offset", R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}})", 8, own,
       "tensor 'w': data_offsets [-8,0], expected [begin, end]"},
      {"begin after end", R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 8, own,
       "tensor 'w': data_offsets [8, 0]: begin is after end"},
      {"offsets out of range", R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 4, own,
       "tensor 'w': data_offsets [0, 8] run past the data section, which holds 4 bytes"},
      {"size differs from 4*numel", R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8, own,
       "tensor 'w': data_offsets [0, 8] hold 8 bytes, expected 12 (4 * 3 elements of shape [3])"},
      {"overlap", R"({"a":{)" + ok_entry + R"(},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12, own,
       "tensor 'b': data_offsets [4, 12] overlap tensor 'a' [0, 8]"},
      {"gap", R"({"a":{)" + ok_entry + R"(},"b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}})", 20, own,
       "bytes [8, 12) of the data section (file byte "},
      {"gap at the start", R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8, own,
       "bytes [0, 4) of the data section"},
      {"trailing bytes", R"({"a":{)" + ok_entry + "}}", 12, own,
       "the data section holds 12 bytes but the tensors cover 8"},
      {"duplicate names", R"({"a":{)" + ok_entry + R"(},"a":{)" + ok_entry + "}}", 8, own,
       "duplicate tensor name 'a' in the header"},
      {"duplicate metadata key", R"({"__metadata__":{"k":"1","k":"2"}})", 0, own, "duplicate key 'k' inside '__metadata__'"},
      {"metadata not strings", R"({"__metadata__":{"epoch":3}})", 0, own,
       "'__metadata__' key 'epoch' holds a value of type number, expected a string"},
      {"metadata not an object", R"({"__metadata__":"x"})", 0, own, "'__metadata__' is of type string"},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    const std::string path = write_raw(dir, c.header, c.data_bytes, c.length);
    const std::string error = load_error(path);
    CHECK_THAT(error, Contains("safetensors: '" + path + "': ") && Contains(c.expected));
    CHECK(error.find('\n') == std::string::npos);
  }
}

TEST_CASE("safetensors: short, missing and non-regular files", "[core]") {
  TempDir dir("st_short");
  const std::string path = dir.file("short.safetensors");
  std::ofstream(path, std::ios::binary) << "abcde";
  CHECK_THAT(load_error(path), Contains("'" + path + "': file holds 5 bytes, expected at least 8 (the header length)"));
  CHECK_THAT(load_error(dir.file("absent.safetensors")), Contains("absent.safetensors': cannot open (No such file"));
  CHECK_THAT(load_error(dir.path.string()), Contains("is a directory, expected a safetensors file"));
}

TEST_CASE("safetensors: corrupted and truncated files raise raoq::Error, never crash", "[core]") {
  TempDir dir("st_fuzz");
  const std::string good = dir.file("good.safetensors");
  save_safetensors(good, {{"w", testing::randn({3, 4}, 1, false)}, {"b", testing::randn({4}, 2, false)}}, {{"k", "v"}});
  std::ifstream in(good, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Generator gen(99);
  int errors = 0, loaded = 0;
  for (int trial = 0; trial < 400; ++trial) {
    std::string mutated = bytes;
    if (trial % 4 == 0) {
      mutated.resize(gen.below(bytes.size()));  // truncation
    } else {
      // Flip a few bytes, mostly inside the length prefix and header where parsing happens.
      const uint64_t span = trial % 4 == 1 ? 16 : bytes.size();
      for (int k = 0; k < 1 + trial % 3; ++k) mutated[gen.below(span)] = static_cast<char>(gen.below(256));
    }
    const std::string path = dir.file("mutated.safetensors");
    std::ofstream(path, std::ios::binary | std::ios::trunc) << mutated;
    try {
      load_safetensors(path);
      ++loaded;
    } catch (const Error& e) {
      ++errors;
      CHECK(std::string(e.what()).find('\n') == std::string::npos);
    }
  }
  CHECK(errors + loaded == 400);
  CHECK(errors > 100);  // truncations alone fail a quarter of the trials
}
