// ReplyScanner: frames one backend reply (RESP2 or RESP3) without building a value tree.
//
// This is the proxy's hottest code: BackendConn uses it to find where each pipelined reply ends,
// copies those bytes to the client unchanged, and looks only at `type` and `error` (to follow
// MOVED/ASK). Bulk payloads are skipped arithmetically; nesting is tracked with an explicit stack,
// so arbitrarily deep replies are framed in O(n) without recursion.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "resp/limits.h"

namespace slotwise::resp {

enum class ScanStatus { kNeedMore, kOk, kError };

// Cluster-relevant class of an error reply, from its first word.
// kReadOnly: "-READONLY You can't write against a read only replica." (a write that reached a
// demoted master; it was not applied).
enum class ErrorKind : uint8_t { kNone, kMoved, kAsk, kTryAgain, kClusterDown, kReadOnly, kOther };

struct ReplyInfo {
  size_t frame_len = 0;  // bytes of the whole reply, attributes included
  char type = 0;         // type byte of the top-level value ('+', '-', '$', '*', '%', ...)
  ErrorKind error = ErrorKind::kNone;  // for '-' and '!' replies; kNone otherwise
};

// Classifies an error message (without the leading '-') by its first word: "MOVED", "ASK",
// "TRYAGAIN", "CLUSTERDOWN", "READONLY" (exact, case-sensitive, as Redis sends them), else kOther.
ErrorKind classifyError(std::string_view message);

class ReplyScanner {
 public:
  explicit ReplyScanner(const ReplyLimits& limits = {});

  // Replaces the limits; call between frames (or after reset()).
  void setLimits(const ReplyLimits& limits) { limits_ = limits; }

  // Frames the reply that starts at data[0].
  //
  // Outcomes:
  //  - kNeedMore: no complete reply yet. Call again with the same bytes followed by more (they
  //    may have moved); progress is kept as offsets, so byte-at-a-time feeding is O(n) overall.
  //    `*out` is untouched.
  //  - kOk: `*out` describes one reply of out->frame_len bytes starting at data[0]. A RESP3
  //    attribute ('|') is framed together with the value it annotates and `type` is that value's
  //    type byte. The scanner is ready for the next reply.
  //  - kError: the bytes are not RESP (unknown type byte, bad or out-of-limit length, negative
  //    length other than "$-1"/"*-1", missing CRLF). error() says why; every later call returns
  //    kError until reset(). The connection's byte stream cannot be resynchronised.
  // `out` must not be null.
  ScanStatus scan(std::string_view data, ReplyInfo* out);

  // The last error message; valid after kError, empty otherwise.
  const std::string& error() const { return error_; }

  // Forgets any partial reply and error.
  void reset();

 private:
  // Reads the value header at pos_ (and, for scalars, the whole value). kOk means progress.
  ScanStatus scanHeader(std::string_view data);
  ScanStatus scanLineValue(std::string_view data, char type, size_t cr);
  ScanStatus scanLengthValue(std::string_view data, char type, size_t cr);
  ScanStatus scanBulkBody(std::string_view data);
  ScanStatus findLineEnd(std::string_view data, char type, size_t* cr);
  // One value (scalar or finished aggregate) ended at pos_: pops finished aggregates.
  void valueDone();
  // Records a value header read at pos_ (the top-level type and error kind when at the top).
  void beginValue(char type, std::string_view line);
  ScanStatus fail(std::string message);
  void startFrame();

  ReplyLimits limits_;
  size_t pos_ = 0;        // next unscanned byte, relative to the frame start
  size_t scan_from_ = 0;  // where the pending CRLF search resumes
  uint64_t bulk_len_ = 0;  // payload length while in_bulk_
  bool in_bulk_ = false;   // waiting for a bulk payload at pos_
  bool done_ = false;      // the top-level value is complete
  bool failed_ = false;
  bool top_is_attribute_ = false;  // the pending top-level aggregate is an attribute prefix
  bool classify_bulk_ = false;     // the awaited payload is a top-level '!' blob error
  char type_ = 0;
  ErrorKind error_kind_ = ErrorKind::kNone;
  // Remaining element counts of the open aggregates, innermost last. A nested attribute counts
  // its pairs plus the one value it annotates, so together they are one element of the parent.
  std::vector<uint64_t> stack_;
  std::string error_;
};

}  // namespace slotwise::resp
