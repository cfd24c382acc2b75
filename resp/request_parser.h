// RequestParser: incremental parser for client requests (RESP multibulk and inline commands).
//
// The parser is resumable: it keeps offsets into the current frame, never pointers, so the caller
// may move its buffer between calls. Errors use redis-server's own wording so that clients see the
// same "-ERR Protocol error: ..." text they would get from Redis.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "resp/command.h"
#include "resp/limits.h"

namespace slotwise::resp {

enum class ParseStatus { kNeedMore, kOk, kError };

class RequestParser {
 public:
  explicit RequestParser(const ParserLimits& limits = {});

  // Replaces the limits. Takes effect at the next frame; call between frames (or after reset()).
  void setLimits(const ParserLimits& limits);

  // Parses the frame that starts at data[0].
  //
  // Outcomes:
  //  - kNeedMore: `data` holds no complete frame yet. Call again with the same bytes followed by
  //    more; they may live at a different address. `*out` is left unspecified. Work already done
  //    is not repeated, so feeding a frame one byte at a time costs O(frame length) in total.
  //  - kOk: `*out` holds one request. out->frame_len is the number of bytes consumed (the caller
  //    drops them and calls again with the rest). For multibulk, out->base == data.data() and the
  //    argument views are valid while those bytes stay where they are. For inline commands,
  //    out->is_inline is true and the arguments live in out->inline_storage (valid until `*out`
  //    is next modified). A request Redis ignores ("*0", "*-1", a blank inline line) is kOk with
  //    argc() == 0 and frame_len > 0: consume it and send nothing. The parser is ready for the
  //    next frame.
  //  - kError: protocol error; error() holds Redis' message (e.g. "Protocol error: invalid bulk
  //    length"). Reported as soon as a header is read, without waiting for payload bytes. An
  //    inline command with more than limits.max_args words fails with "Protocol error: too many
  //    arguments in inline request" (Redis has no such cap; the proxy applies it to both forms).
  //    Every later call returns kError until reset(); the connection should be closed after
  //    replying.
  //
  // `out` must not be null. It may be a different Command on each call; reusing one Command lets
  // its vectors keep their capacity, so parsing then allocates nothing per argument.
  ParseStatus parse(std::string_view data, Command* out);

  // The last error message. Valid after parse() returned kError; empty otherwise.
  const std::string& error() const { return error_; }

  // Forgets any partial frame and error; the next parse() starts a new frame.
  void reset();

 private:
  enum class State : uint8_t { kIdle, kCount, kBulkHeader, kBulkPayload, kInline, kFailed };

  ParseStatus parseMultibulk(std::string_view data, Command* out);
  ParseStatus parseCount(std::string_view data);
  ParseStatus parseBulkHeader(std::string_view data);
  ParseStatus parseBulkPayload(std::string_view data);
  ParseStatus finishMultibulk(std::string_view data, Command* out);
  ParseStatus parseInline(std::string_view data, Command* out);
  // Finds the "\r\n" ending the header line that starts at line_start. Returns kOk with *cr set to
  // the offset of the CR, kNeedMore, or kError (`too_big` if no CRLF within kMaxHeaderLine bytes,
  // `bad_number` if a CR is not followed by LF).
  ParseStatus findLineEnd(std::string_view data, size_t line_start, const char* too_big,
                          const char* bad_number, size_t* cr);
  ParseStatus fail(std::string message);
  void startFrame();

  ParserLimits limits_;
  uint64_t max_request_bytes_;  // limits_.max_request_bytes clamped to what ArgRef can address
  State state_ = State::kIdle;
  size_t pos_ = 0;          // next unparsed byte, relative to the frame start
  size_t scan_from_ = 0;    // where the pending line-end search resumes, relative to frame start
  uint64_t argc_ = 0;       // declared argument count of the current multibulk frame
  uint64_t bulk_len_ = 0;   // declared length of the bulk payload being awaited
  std::vector<ArgRef> args_;  // arguments parsed so far; swapped into the Command on kOk
  std::string error_;
};

}  // namespace slotwise::resp
