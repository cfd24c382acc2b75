// Request parsing follows redis-server's processMultibulkBuffer / processInlineBuffer, keeping
// offsets instead of pointers so the caller's buffer may move between calls.
//
//   kIdle --'*'--> kCount --> kBulkHeader <--> kBulkPayload --(all args)--> kOk, back to kIdle
//     \--other--> kInline --(newline)--> kOk, back to kIdle
//   any state --malformed header/terminator--> kFailed (sticky until reset())
#include "resp/request_parser.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "resp/number_parse.h"

namespace slotwise::resp {
namespace {

// Longest "*N" / "$N" line awaited without CRLF (Redis PROTO_INLINE_MAX_SIZE).
constexpr size_t kMaxHeaderLine = 64 * 1024;
// Smallest possible encoded argument, "$0\r\n\r\n": used to bound a frame's size from its headers.
constexpr uint64_t kMinArgBytes = 6;
// Upper bound on the argument vector reserved from a declared count (the rest grows on demand),
// so "*1000000" with no payload does not allocate megabytes up front.
constexpr uint64_t kMaxArgsReserve = 1024;

constexpr const char* kErrMultibulkLength = "Protocol error: invalid multibulk length";
constexpr const char* kErrBulkLength = "Protocol error: invalid bulk length";
constexpr const char* kErrBigMbulkCount = "Protocol error: too big mbulk count string";
constexpr const char* kErrBigBulkCount = "Protocol error: too big bulk count string";
constexpr const char* kErrBigInline = "Protocol error: too big inline request";
constexpr const char* kErrTooLarge = "Protocol error: request too large";
constexpr const char* kErrBulkTerminator = "Protocol error: invalid bulk terminator";
constexpr const char* kErrUnbalancedQuotes = "Protocol error: unbalanced quotes in request";
// Redis has no argument cap for inline commands; ours applies limits.max_args to both forms.
constexpr const char* kErrInlineArgs = "Protocol error: too many arguments in inline request";

// isspace() in the "C" locale, without the locale lookup.
bool isSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

char unescape(char c) {
  switch (c) {
    case 'n': return '\n';
    case 'r': return '\r';
    case 't': return '\t';
    case 'b': return '\b';
    case 'a': return '\a';
    default: return c;
  }
}

// Reads one argument of an inline line, starting at line[*pos] (not whitespace), with the rules
// of Redis' sdssplitargs: quotes may start mid-argument, a closing quote must be followed by
// whitespace or the end of the line. Appends the unescaped bytes to *storage and advances *pos.
// Returns false on unbalanced quotes.
bool readInlineArg(std::string_view line, size_t* pos, std::string* storage) {
  enum class Mode { kPlain, kDouble, kSingle } mode = Mode::kPlain;
  const size_t n = line.size();
  auto at = [&](size_t k) { return k < n ? line[k] : '\0'; };
  auto closes = [&](size_t k) { return k + 1 >= n || isSpace(line[k + 1]); };
  size_t i = *pos;
  while (true) {
    const char c = at(i);
    if (mode == Mode::kPlain) {
      if (i >= n || c == ' ' || c == '\n' || c == '\r' || c == '\t') break;
      if (c == '"') {
        mode = Mode::kDouble;
      } else if (c == '\'') {
        mode = Mode::kSingle;
      } else {
        storage->push_back(c);
      }
      ++i;
      continue;
    }
    if (i >= n) return false;
    if (mode == Mode::kDouble) {
      if (c == '\\' && at(i + 1) == 'x' && hexValue(at(i + 2)) >= 0 && hexValue(at(i + 3)) >= 0) {
        storage->push_back(static_cast<char>(hexValue(at(i + 2)) * 16 + hexValue(at(i + 3))));
        i += 4;
      } else if (c == '\\' && i + 1 < n) {
        storage->push_back(unescape(line[i + 1]));
        i += 2;
      } else if (c == '"') {
        if (!closes(i)) return false;
        ++i;
        break;
      } else {
        storage->push_back(c);
        ++i;
      }
    } else {  // Mode::kSingle
      if (c == '\\' && at(i + 1) == '\'') {
        storage->push_back('\'');
        i += 2;
      } else if (c == '\'') {
        if (!closes(i)) return false;
        ++i;
        break;
      } else {
        storage->push_back(c);
        ++i;
      }
    }
  }
  *pos = i;
  return true;
}

// Splits an inline line (without its line terminator) into out->args / out->inline_storage,
// stopping as soon as the line holds more than `max_args` arguments.
// Like Redis, which hands the line to sdssplitargs as a C string, a NUL byte ends the line.
// @return nullptr on success, else the protocol error message (a static string).
const char* splitInlineArgs(std::string_view line, uint32_t max_args, Command* out) {
  if (const void* nul = std::memchr(line.data(), '\0', line.size())) {
    line = line.substr(0, static_cast<const char*>(nul) - line.data());
  }
  std::string& storage = out->inline_storage;
  storage.reserve(line.size());  // unescaping never grows the text, so no reallocation below
  size_t i = 0;
  while (true) {
    while (i < line.size() && isSpace(line[i])) ++i;
    if (i == line.size()) return nullptr;
    if (out->args.size() >= max_args) return kErrInlineArgs;
    const size_t start = storage.size();
    if (!readInlineArg(line, &i, &storage)) return kErrUnbalancedQuotes;
    const auto len = static_cast<uint32_t>(storage.size() - start);
    out->args.push_back({static_cast<uint32_t>(start), len});
  }
}

}  // namespace

RequestParser::RequestParser(const ParserLimits& limits) { setLimits(limits); }

void RequestParser::setLimits(const ParserLimits& limits) {
  limits_ = limits;
  max_request_bytes_ = std::min<uint64_t>(limits.max_request_bytes,
                                          std::numeric_limits<uint32_t>::max());
}

void RequestParser::reset() {
  startFrame();
  error_.clear();
}

void RequestParser::startFrame() {
  state_ = State::kIdle;
  pos_ = 0;
  scan_from_ = 0;
  argc_ = 0;
  bulk_len_ = 0;
  args_.clear();
}

ParseStatus RequestParser::fail(std::string message) {
  error_ = std::move(message);
  state_ = State::kFailed;
  return ParseStatus::kError;
}

ParseStatus RequestParser::parse(std::string_view data, Command* out) {
  if (state_ == State::kFailed) return ParseStatus::kError;
  if (state_ == State::kIdle) {
    if (data.empty()) return ParseStatus::kNeedMore;
    state_ = data[0] == '*' ? State::kCount : State::kInline;
    scan_from_ = data[0] == '*' ? 1 : 0;
  }
  if (state_ == State::kInline) return parseInline(data, out);
  return parseMultibulk(data, out);
}

ParseStatus RequestParser::parseMultibulk(std::string_view data, Command* out) {
  while (true) {
    ParseStatus status = ParseStatus::kError;
    switch (state_) {
      case State::kCount:
        status = parseCount(data);
        break;
      case State::kBulkHeader:
        if (args_.size() == argc_) return finishMultibulk(data, out);
        status = parseBulkHeader(data);
        break;
      case State::kBulkPayload:
        status = parseBulkPayload(data);
        break;
      default:
        return fail("Protocol error: parser in unexpected state");
    }
    if (status != ParseStatus::kOk) return status;
  }
}

ParseStatus RequestParser::findLineEnd(std::string_view data, size_t line_start,
                                       const char* too_big, const char* bad_number, size_t* cr) {
  const size_t from = std::max(scan_from_, line_start);
  const void* hit = from < data.size() ? std::memchr(data.data() + from, '\r', data.size() - from)
                                       : nullptr;
  if (hit == nullptr) {
    if (data.size() - line_start > kMaxHeaderLine) return fail(too_big);
    scan_from_ = data.size();
    return ParseStatus::kNeedMore;
  }
  const size_t at = static_cast<const char*>(hit) - data.data();
  if (at + 1 >= data.size()) {
    scan_from_ = at;  // the '\n' may arrive with the next read
    return ParseStatus::kNeedMore;
  }
  if (data[at + 1] != '\n') return fail(bad_number);  // a stray '\r' inside the number
  *cr = at;
  return ParseStatus::kOk;
}

ParseStatus RequestParser::parseCount(std::string_view data) {
  size_t cr = 0;
  const ParseStatus status = findLineEnd(data, 0, kErrBigMbulkCount, kErrMultibulkLength, &cr);
  if (status != ParseStatus::kOk) return status;
  int64_t count = 0;
  if (!parseDecimal(data.data() + 1, cr - 1, &count) ||
      count > static_cast<int64_t>(limits_.max_args)) {
    return fail(kErrMultibulkLength);
  }
  pos_ = cr + 2;
  argc_ = count > 0 ? static_cast<uint64_t>(count) : 0;  // Redis ignores "*0" and "*-1"
  if (pos_ + argc_ * kMinArgBytes > max_request_bytes_) return fail(kErrTooLarge);
  args_.reserve(std::min(argc_, kMaxArgsReserve));
  state_ = State::kBulkHeader;
  scan_from_ = pos_ + 1;
  return ParseStatus::kOk;
}

ParseStatus RequestParser::parseBulkHeader(std::string_view data) {
  if (pos_ >= data.size()) return ParseStatus::kNeedMore;
  if (data[pos_] != '$') {
    return fail(std::string("Protocol error: expected '$', got '") + data[pos_] + "'");
  }
  size_t cr = 0;
  const ParseStatus status = findLineEnd(data, pos_, kErrBigBulkCount, kErrBulkLength, &cr);
  if (status != ParseStatus::kOk) return status;
  int64_t len = 0;
  if (!parseDecimal(data.data() + pos_ + 1, cr - pos_ - 1, &len) || len < 0 ||
      static_cast<uint64_t>(len) > limits_.max_bulk_length) {
    return fail(kErrBulkLength);
  }
  pos_ = cr + 2;
  bulk_len_ = static_cast<uint64_t>(len);
  const uint64_t args_after = argc_ - args_.size() - 1;
  if (pos_ + bulk_len_ + 2 + args_after * kMinArgBytes > max_request_bytes_) {
    return fail(kErrTooLarge);
  }
  state_ = State::kBulkPayload;
  return ParseStatus::kOk;
}

ParseStatus RequestParser::parseBulkPayload(std::string_view data) {
  const size_t end = pos_ + bulk_len_;  // offset of the "\r\n" that must follow the payload
  // Check the terminator bytes as soon as each one is present.
  if (data.size() > end && data[end] != '\r') return fail(kErrBulkTerminator);
  if (data.size() > end + 1 && data[end + 1] != '\n') return fail(kErrBulkTerminator);
  if (data.size() < end + 2) return ParseStatus::kNeedMore;
  args_.push_back({static_cast<uint32_t>(pos_), static_cast<uint32_t>(bulk_len_)});
  pos_ = end + 2;
  scan_from_ = pos_ + 1;
  state_ = State::kBulkHeader;
  return ParseStatus::kOk;
}

ParseStatus RequestParser::finishMultibulk(std::string_view data, Command* out) {
  out->clear();
  out->args.swap(args_);  // args_ takes over out's emptied vector and keeps its capacity
  out->base = data.data();
  out->frame_len = pos_;
  startFrame();
  return ParseStatus::kOk;
}

ParseStatus RequestParser::parseInline(std::string_view data, Command* out) {
  const size_t max_line = limits_.max_inline_length;
  const void* hit = scan_from_ < data.size()
                        ? std::memchr(data.data() + scan_from_, '\n', data.size() - scan_from_)
                        : nullptr;
  if (hit == nullptr) {
    if (data.size() > max_line) return fail(kErrBigInline);
    scan_from_ = data.size();
    return ParseStatus::kNeedMore;
  }
  const size_t newline = static_cast<const char*>(hit) - data.data();
  if (newline > max_line) return fail(kErrBigInline);
  size_t line_len = newline;
  if (line_len > 0 && data[line_len - 1] == '\r') --line_len;
  out->clear();
  out->is_inline = true;
  if (const char* error = splitInlineArgs(data.substr(0, line_len), limits_.max_args, out)) {
    return fail(error);
  }
  out->base = out->inline_storage.data();
  out->frame_len = newline + 1;
  startFrame();
  return ParseStatus::kOk;
}

}  // namespace slotwise::resp
