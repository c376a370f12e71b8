// core/rng.cpp — xoshiro256** (Blackman & Vigna), seeded through splitmix64.
#include "core/rng.h"

#include <cmath>
#include <cstring>

#include "core/error.h"

namespace raoq {
namespace {
uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

void Generator::seed_with(uint64_t seed) {
  uint64_t x = seed;
  for (auto& word : s_) word = splitmix64(x);
  has_spare_ = false;
  spare_ = 0.0f;
}

uint64_t Generator::next_u64() {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

float Generator::uniform01() { return static_cast<float>(next_u64() >> 40) * 0x1.0p-24f; }

uint64_t Generator::below(uint64_t n) {
  RAOQ_CHECK(n > 0, "Generator::below: n must be > 0");
  const uint64_t limit = UINT64_MAX - UINT64_MAX % n;  // reject the biased tail
  uint64_t r;
  do r = next_u64();
  while (r >= limit);
  return r % n;
}

float Generator::normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  // u1 in (0, 1] so that log(u1) is finite.
  const double u1 = (static_cast<double>(next_u64() >> 11) + 1.0) * 0x1.0p-53;
  const double u2 = static_cast<double>(next_u64() >> 11) * 0x1.0p-53;
  const double r = std::sqrt(-2.0 * std::log(u1));
  const double theta = 2.0 * M_PI * u2;
  spare_ = static_cast<float>(r * std::sin(theta));
  has_spare_ = true;
  return static_cast<float>(r * std::cos(theta));
}

Generator::State Generator::state() const {
  uint32_t bits;
  std::memcpy(&bits, &spare_, sizeof bits);
  return {s_[0], s_[1], s_[2], s_[3], has_spare_ ? 1ULL : 0ULL, bits};
}

void Generator::set_state(const State& st) {
  for (int i = 0; i < 4; ++i) s_[i] = st[i];
  RAOQ_CHECK(s_[0] | s_[1] | s_[2] | s_[3], "Generator::set_state: an all-zero state is invalid");
  has_spare_ = st[4] != 0;
  const auto bits = static_cast<uint32_t>(st[5]);
  std::memcpy(&spare_, &bits, sizeof bits);
}

Generator& default_generator() {
  static Generator gen;
  return gen;
}

void manual_seed(uint64_t seed) { default_generator().seed_with(seed); }

}  // namespace raoq
