// Helpers shared by the libFuzzer targets: invariant checks that abort (so libFuzzer records a
// crash with the input) and a reader that carves fuzzer-chosen parameters off the input's front.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

namespace slotwise::test {

// Aborts with `what` when `condition` is false. Used instead of assert() so that the checks stay
// active in every build type.
inline void fuzzCheck(bool condition, const char* what) {
  if (condition) return;
  std::fprintf(stderr, "fuzz invariant violated: %s\n", what);
  std::abort();
}

// Reads parameters from the front of a fuzz input; the unread rest is the payload. Reading past
// the end yields zeros, so every input, even an empty one, is a valid parameter set.
class FuzzInput {
 public:
  FuzzInput(const uint8_t* data, size_t size) : bytes_(reinterpret_cast<const char*>(data), size) {}

  // The next byte, or 0 once the input is exhausted.
  uint8_t takeByte() {
    if (bytes_.empty()) return 0;
    const auto b = static_cast<uint8_t>(bytes_.front());
    bytes_.remove_prefix(1);
    return b;
  }

  // Chunk sizes (each 1..max_chunk) for feeding a payload piecewise: one count byte selects how
  // many follow (0..15), then one byte per chunk. An empty list means "feed all at once".
  std::vector<size_t> takeChunkSizes(size_t max_chunk) {
    std::vector<size_t> sizes(takeByte() % 16);
    for (size_t& size : sizes) size = takeByte() % max_chunk + 1;
    return sizes;
  }

  // Everything not read yet. The view points into the fuzzer's input buffer.
  std::string_view rest() const { return bytes_; }

 private:
  std::string_view bytes_;
};

// The byte counts at which a payload of `total` bytes becomes visible to a parser: the chunk
// sizes are used in a cycle until everything is delivered; the last entry is always `total`.
inline std::vector<size_t> deliveryPoints(const std::vector<size_t>& chunk_sizes, size_t total) {
  std::vector<size_t> points;
  size_t delivered = 0;
  for (size_t i = 0; delivered < total && !chunk_sizes.empty(); ++i) {
    delivered += chunk_sizes[i % chunk_sizes.size()];
    if (delivered < total) points.push_back(delivered);
  }
  points.push_back(total);
  return points;
}

}  // namespace slotwise::test
