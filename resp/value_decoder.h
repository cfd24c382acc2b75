// Decoding of complete RESP2/RESP3 values into RespValue trees. Control plane only (CLUSTER
// SLOTS, INFO, COMMAND, fan-out merges): the data path frames replies with ReplyScanner instead.
//
// Representation notes:
//  - "$-1", "*-1" and "_" all decode to ValueType::kNull.
//  - A RESP3 attribute "|N" decodes to a kAttribute value whose elements are its N key/value
//    pairs followed by the value it annotates (2N + 1 elements), so no byte is lost.
//  - Trees are at most kMaxValueDepth levels deep, because RespValue's destructor and operator==
//    recurse. Deeper replies (which no Redis command produces) are rejected with an error; the
//    decoder itself never recurses.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/result.h"
#include "resp/limits.h"
#include "resp/reply_scanner.h"
#include "resp/value.h"

namespace slotwise::resp {

// Deepest accepted nesting: a flat array has depth 1, an array of arrays depth 2, and so on.
inline constexpr size_t kMaxValueDepth = 1024;

// Decodes the first value in `data` (RESP2 or RESP3).
//  - kOk: *out holds the value and *consumed its frame length; bytes after it are untouched.
//  - kNeedMore: no complete value yet; *out and *consumed are untouched. The function keeps no
//    state, so callers feeding a large value piecewise should use ValueDecoder instead.
//  - kError: malformed, out of default ReplyLimits, or deeper than kMaxValueDepth; the message
//    goes to *error if `error` is not null.
// `out` and `consumed` must not be null. The decoded strings are copies; `data` may be freed.
ScanStatus decodeValue(std::string_view data, RespValue* out, size_t* consumed,
                       std::string* error);

// Decodes `complete_frame`, which must hold exactly one value (no more, no less).
// @return the value, or an error (malformed, incomplete, trailing bytes, too deep).
Result<RespValue> decodeOne(std::string_view complete_frame);

// Incremental decoder: like decodeValue(), but remembers how far the current frame was framed, so
// feeding a value piecewise costs O(n) in total. One instance per byte stream.
class ValueDecoder {
 public:
  explicit ValueDecoder(const ReplyLimits& limits = {});

  // Same contract as decodeValue(): `data` starts at the first byte of the pending value and,
  // after kNeedMore, is passed again with more bytes appended (it may have moved). After kError
  // every call returns kError until reset(). `out` and `consumed` must not be null.
  ScanStatus decode(std::string_view data, RespValue* out, size_t* consumed);

  // The last error message; valid after kError.
  const std::string& error() const { return error_; }

  // Forgets the pending frame and error.
  void reset();

 private:
  ReplyScanner scanner_;
  std::string error_;
};

}  // namespace slotwise::resp
