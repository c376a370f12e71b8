// core/rng.h — the seedable random generator (xoshiro256**).
//
// Every random draw in raoq (initialisation, dropout, shuffling, augmentation, BitAug's
// bit-width sampling) goes through a Generator, so a run is reproducible from its seed.
// The state is four 64-bit words that can be read and written, so a checkpoint can
// store it and a resumed run continues the same stream bit for bit.
// There is one process-wide default generator (seeded by manual_seed); code that needs
// its own stream (a data loader, a dropout layer) owns a Generator of its own.
#pragma once

#include <array>
#include <cstdint>

namespace raoq {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0x5eed) { seed_with(seed); }
  void seed_with(uint64_t seed);
  uint64_t next_u64();
  // Uniform in [0, 1) with 24 random bits (exactly representable in float).
  float uniform01();
  // Uniform integer in [0, n), n > 0 (unbiased by rejection).
  uint64_t below(uint64_t n);
  // Standard normal (Box-Muller; the spare value is kept in the state).
  float normal();

  using State = std::array<uint64_t, 6>;  // s0..s3, has_spare, spare bits
  State state() const;
  void set_state(const State& state);

 private:
  std::array<uint64_t, 4> s_{};
  bool has_spare_ = false;
  float spare_ = 0.0f;
};

// The process-wide default generator and its seed function.
Generator& default_generator();
void manual_seed(uint64_t seed);

}  // namespace raoq
