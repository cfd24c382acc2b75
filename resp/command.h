// Command: one parsed client request. Arguments are stored as (offset, length) pairs relative to
// `base`, so parsing allocates nothing per argument once the vector's capacity has grown.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace slotwise::resp {

struct ArgRef {
  uint32_t offset;  // from Command::base
  uint32_t len;
};

struct Command {
  // Bytes of the whole request frame as received (multibulk "*N\r\n$..." or an inline line
  // including its line terminator). The parser consumed exactly this many bytes.
  size_t frame_len = 0;
  // True for an inline command ("GET foo\r\n"). Its raw frame is not RESP multibulk: forward it
  // re-encoded (resp::appendCommand), never as raw bytes.
  bool is_inline = false;
  // Arguments. For multibulk, base points at the first byte of the frame passed to the parser;
  // for inline commands it points into inline_storage (unquoted, unescaped arguments).
  // Lifetime: arg(i) is valid until the caller moves or discards the frame bytes it passed to
  // RequestParser::parse (multibulk) or until the next parse call (inline).
  const char* base = nullptr;
  std::vector<ArgRef> args;
  std::string inline_storage;

  size_t argc() const { return args.size(); }
  std::string_view arg(size_t i) const { return {base + args[i].offset, args[i].len}; }
  void clear() {
    frame_len = 0;
    is_inline = false;
    base = nullptr;
    args.clear();
    inline_storage.clear();
  }
};

}  // namespace slotwise::resp
