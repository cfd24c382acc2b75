// Size limits applied by the RESP codec. Plain structs: the proxy fills them from its config.
#pragma once

#include <cstdint>

namespace slotwise::resp {

// Limits for client requests (RequestParser). Defaults match redis-server 7.0.
struct ParserLimits {
  // Largest accepted argument count of one request: the "*N" of a multibulk request, or the
  // number of words of an inline command.
  uint32_t max_args = 1024 * 1024;
  // Largest accepted "$N" bulk argument length (Redis proto-max-bulk-len).
  uint64_t max_bulk_length = 512ull * 1024 * 1024;
  // Longest inline command line, and longest line awaited without a newline.
  uint32_t max_inline_length = 64 * 1024;
  // Largest whole multibulk frame. Argument offsets are 32-bit, so values above 4 GiB - 1 are
  // clamped to that by the parser.
  uint64_t max_request_bytes = 512ull * 1024 * 1024;
};

// Limits for backend replies (ReplyScanner, ValueDecoder).
struct ReplyLimits {
  // Largest accepted "$N" / "=N" / "!N" payload length.
  uint64_t max_bulk_length = 4ull * 1024 * 1024 * 1024;
  // Largest accepted element count of one aggregate ("*N", "~N", ">N"; pairs for "%N", "|N").
  uint64_t max_elements = 4ull * 1024 * 1024 * 1024;
};

}  // namespace slotwise::resp
