// Reply framing: a loop over value headers with an explicit stack of remaining element counts.
//
//   header at pos_ --scalar line (+ - : , # ( _)--------------------> valueDone()
//                  --"$N" "=N" "!N"--> skip N payload bytes + CRLF --> valueDone()
//                  --"*N" "%N" "~N" ">N" "|N"--> push N (pairs for % and |; +1 for a nested |)
//   valueDone(): decrement the innermost count, pop finished aggregates, and finish the frame
//                when the stack is empty (unless that was a top-level attribute prefix).
#include "resp/reply_scanner.h"

#include <algorithm>
#include <cstring>

#include "resp/number_parse.h"

namespace slotwise::resp {
namespace {

// Longest "$N"/"*N" header awaited without CRLF; any valid length fits in far fewer bytes.
constexpr size_t kMaxLengthLine = 32;

bool isLineType(char c) {
  return c == '+' || c == '-' || c == ':' || c == ',' || c == '#' || c == '(' || c == '_';
}

bool isBulkType(char c) { return c == '$' || c == '=' || c == '!'; }

bool isAggregateType(char c) {
  return c == '*' || c == '%' || c == '~' || c == '>' || c == '|';
}

bool isIntegerText(std::string_view s) {
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) s.remove_prefix(1);
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string describeByte(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u >= 0x20 && u < 0x7f) return std::string(1, c);
  const char* hex = "0123456789abcdef";
  return std::string("\\x") + hex[u >> 4] + hex[u & 0xf];
}

}  // namespace

ErrorKind classifyError(std::string_view message) {
  const std::string_view word = message.substr(0, message.find(' '));
  if (word == "MOVED") return ErrorKind::kMoved;
  if (word == "ASK") return ErrorKind::kAsk;
  if (word == "TRYAGAIN") return ErrorKind::kTryAgain;
  if (word == "CLUSTERDOWN") return ErrorKind::kClusterDown;
  if (word == "READONLY") return ErrorKind::kReadOnly;
  return ErrorKind::kOther;
}

ReplyScanner::ReplyScanner(const ReplyLimits& limits) : limits_(limits) {}

void ReplyScanner::reset() {
  startFrame();
  failed_ = false;
  error_.clear();
}

void ReplyScanner::startFrame() {
  pos_ = 0;
  scan_from_ = 0;
  bulk_len_ = 0;
  in_bulk_ = false;
  done_ = false;
  top_is_attribute_ = false;
  classify_bulk_ = false;
  type_ = 0;
  error_kind_ = ErrorKind::kNone;
  stack_.clear();
}

ScanStatus ReplyScanner::fail(std::string message) {
  error_ = std::move(message);
  failed_ = true;
  return ScanStatus::kError;
}

ScanStatus ReplyScanner::scan(std::string_view data, ReplyInfo* out) {
  if (failed_) return ScanStatus::kError;
  while (!done_) {
    const ScanStatus status = in_bulk_ ? scanBulkBody(data) : scanHeader(data);
    if (status != ScanStatus::kOk) return status;
  }
  out->frame_len = pos_;
  out->type = type_;
  out->error = error_kind_;
  startFrame();
  return ScanStatus::kOk;
}

ScanStatus ReplyScanner::findLineEnd(std::string_view data, char type, size_t* cr) {
  const size_t from = std::max(scan_from_, pos_ + 1);
  const void* hit = from < data.size() ? std::memchr(data.data() + from, '\r', data.size() - from)
                                       : nullptr;
  if (hit == nullptr) {
    if (!isLineType(type) && data.size() - pos_ > kMaxLengthLine) {
      return fail("Protocol error: too long length line in reply");
    }
    scan_from_ = data.size();
    return ScanStatus::kNeedMore;
  }
  const size_t at = static_cast<const char*>(hit) - data.data();
  if (at + 1 >= data.size()) {
    scan_from_ = at;  // the '\n' may come with the next read
    return ScanStatus::kNeedMore;
  }
  if (data[at + 1] != '\n') return fail("Protocol error: CR not followed by LF in reply");
  *cr = at;
  scan_from_ = 0;
  return ScanStatus::kOk;
}

ScanStatus ReplyScanner::scanHeader(std::string_view data) {
  if (pos_ >= data.size()) return ScanStatus::kNeedMore;
  const char type = data[pos_];
  if (!isLineType(type) && !isBulkType(type) && !isAggregateType(type)) {
    return fail("Protocol error: unknown reply type byte '" + describeByte(type) + "'");
  }
  size_t cr = 0;
  const ScanStatus status = findLineEnd(data, type, &cr);
  if (status != ScanStatus::kOk) return status;
  if (isLineType(type)) return scanLineValue(data, type, cr);
  return scanLengthValue(data, type, cr);
}

ScanStatus ReplyScanner::scanLineValue(std::string_view data, char type, size_t cr) {
  const std::string_view line(data.data() + pos_ + 1, cr - pos_ - 1);
  if (type == ':' && !isIntegerText(line)) return fail("Protocol error: invalid integer reply");
  if (type == '#' && line != "t" && line != "f") {
    return fail("Protocol error: invalid boolean reply");
  }
  if (type == '_' && !line.empty()) return fail("Protocol error: invalid null reply");
  beginValue(type, line);
  pos_ = cr + 2;
  valueDone();
  return ScanStatus::kOk;
}

ScanStatus ReplyScanner::scanLengthValue(std::string_view data, char type, size_t cr) {
  const bool bulk = isBulkType(type);
  const char* bad = bulk ? "Protocol error: invalid bulk length in reply"
                         : "Protocol error: invalid aggregate length in reply";
  int64_t n = 0;
  if (!parseDecimal(data.data() + pos_ + 1, cr - pos_ - 1, &n)) return fail(bad);
  const bool null = n == -1 && (type == '$' || type == '*');
  if (n < 0 && !null) return fail(bad);
  beginValue(type, {});
  pos_ = cr + 2;
  if (null) {
    valueDone();
    return ScanStatus::kOk;
  }
  if (bulk) {
    if (static_cast<uint64_t>(n) > limits_.max_bulk_length) return fail(bad);
    bulk_len_ = static_cast<uint64_t>(n);
    in_bulk_ = true;
    return ScanStatus::kOk;
  }
  if (static_cast<uint64_t>(n) > limits_.max_elements) return fail(bad);
  uint64_t count = static_cast<uint64_t>(n) * (type == '%' || type == '|' ? 2 : 1);
  if (type == '|') {
    if (stack_.empty()) {
      top_is_attribute_ = true;  // the annotated value that follows is the top-level value
    } else {
      count += 1;  // the annotated value belongs to the same parent element
    }
  }
  if (count == 0) {
    valueDone();
  } else {
    stack_.push_back(count);
  }
  return ScanStatus::kOk;
}

ScanStatus ReplyScanner::scanBulkBody(std::string_view data) {
  const size_t end = pos_ + bulk_len_;  // offset of the CRLF that must follow the payload
  if (data.size() > end && data[end] != '\r') {
    return fail("Protocol error: bulk payload not followed by CRLF in reply");
  }
  if (data.size() > end + 1 && data[end + 1] != '\n') {
    return fail("Protocol error: bulk payload not followed by CRLF in reply");
  }
  if (data.size() < end + 2) return ScanStatus::kNeedMore;
  if (classify_bulk_) error_kind_ = classifyError(data.substr(pos_, bulk_len_));
  classify_bulk_ = false;
  in_bulk_ = false;
  pos_ = end + 2;
  valueDone();
  return ScanStatus::kOk;
}

void ReplyScanner::beginValue(char type, std::string_view line) {
  if (!stack_.empty() || type == '|') return;  // only the top-level value describes the frame
  type_ = type;
  if (type == '-') error_kind_ = classifyError(line);
  classify_bulk_ = type == '!';
}

void ReplyScanner::valueDone() {
  while (!stack_.empty()) {
    if (--stack_.back() > 0) return;
    stack_.pop_back();
  }
  if (top_is_attribute_) {
    top_is_attribute_ = false;  // the prefix ended; the annotated value comes next
    return;
  }
  done_ = true;
}

}  // namespace slotwise::resp
