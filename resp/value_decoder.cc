// Tree building runs after ReplyScanner has validated and framed the bytes, so it only has to
// map headers to RespValue fields. It is iterative: an explicit stack of open aggregates, each
// with its element vector reserved to the declared size so element pointers stay stable.
#include "resp/value_decoder.h"

#include <charconv>
#include <cstring>
#include <vector>

#include "resp/number_parse.h"

namespace slotwise::resp {
namespace {

struct OpenAggregate {
  RespValue* value;
  size_t expected;  // number of elements it will hold
};

ValueType aggregateType(char c) {
  switch (c) {
    case '%': return ValueType::kMap;
    case '~': return ValueType::kSet;
    case '>': return ValueType::kPush;
    case '|': return ValueType::kAttribute;
    default: return ValueType::kArray;
  }
}

class TreeBuilder {
 public:
  explicit TreeBuilder(std::string_view frame) : frame_(frame) {}

  // Builds the single value in frame_ into *root. REQUIRES: ReplyScanner framed frame_ exactly.
  bool build(RespValue* root, std::string* error);

 private:
  bool readValue(RespValue* v);
  bool readLine(char type, std::string_view line, RespValue* v);
  bool readLength(char type, std::string_view line, RespValue* v);
  bool fail(std::string message) {
    error_ = std::move(message);
    return false;
  }

  std::string_view frame_;
  size_t pos_ = 0;
  std::vector<OpenAggregate> stack_;
  std::string error_;
};

bool TreeBuilder::build(RespValue* root, std::string* error) {
  while (true) {
    RespValue* v = root;
    if (!stack_.empty()) {
      std::vector<RespValue>& elements = stack_.back().value->elements;
      elements.emplace_back();  // capacity reserved: no reallocation, parents' pointers hold
      v = &elements.back();
    }
    if (!readValue(v)) {
      if (error != nullptr) *error = std::move(error_);
      return false;
    }
    while (!stack_.empty() && stack_.back().value->elements.size() == stack_.back().expected) {
      stack_.pop_back();
    }
    if (stack_.empty()) return true;
  }
}

bool TreeBuilder::readValue(RespValue* v) {
  if (pos_ >= frame_.size()) return fail("Protocol error: truncated RESP value");
  const char type = frame_[pos_];
  const void* cr = std::memchr(frame_.data() + pos_, '\r', frame_.size() - pos_);
  if (cr == nullptr) return fail("Protocol error: truncated RESP value");
  const size_t line_end = static_cast<const char*>(cr) - frame_.data();
  const std::string_view line = frame_.substr(pos_ + 1, line_end - pos_ - 1);
  pos_ = line_end + 2;
  switch (type) {
    case '+': case '-': case ':': case ',': case '#': case '(': case '_':
      return readLine(type, line, v);
    default:
      return readLength(type, line, v);
  }
}

bool TreeBuilder::readLine(char type, std::string_view line, RespValue* v) {
  switch (type) {
    case '+': v->type = ValueType::kSimpleString; break;
    case '-': v->type = ValueType::kError; break;
    case ',': v->type = ValueType::kDouble; break;
    case '(': v->type = ValueType::kBigNumber; break;
    case '_': v->type = ValueType::kNull; return true;
    case '#':
      v->type = ValueType::kBoolean;
      v->integer = line == "t" ? 1 : 0;
      return true;
    default: {  // ':'
      v->type = ValueType::kInteger;
      if (!line.empty() && line[0] == '+') line.remove_prefix(1);
      const auto [end, ec] = std::from_chars(line.data(), line.data() + line.size(), v->integer);
      if (ec != std::errc() || end != line.data() + line.size()) {
        return fail("Protocol error: integer reply out of range");
      }
      return true;
    }
  }
  v->str.assign(line);
  return true;
}

bool TreeBuilder::readLength(char type, std::string_view line, RespValue* v) {
  int64_t n = 0;
  if (!parseDecimal(line.data(), line.size(), &n) || n < -1) {
    return fail("Protocol error: invalid length in RESP value");
  }
  if (n == -1) {
    v->type = ValueType::kNull;
    return true;
  }
  const size_t len = static_cast<size_t>(n);
  if (type == '$' || type == '=' || type == '!') {
    v->type = type == '$' ? ValueType::kBulkString
                          : (type == '=' ? ValueType::kVerbatim : ValueType::kBlobError);
    if (pos_ + len + 2 > frame_.size()) return fail("Protocol error: truncated RESP value");
    v->str.assign(frame_.substr(pos_, len));
    pos_ += len + 2;
    return true;
  }
  v->type = aggregateType(type);
  size_t count = (type == '%' || type == '|') ? len * 2 : len;
  if (type == '|') count += 1;  // the annotated value is kept as the last element
  if (count > frame_.size() - pos_) return fail("Protocol error: truncated RESP value");
  if (count == 0) return true;
  if (stack_.size() >= kMaxValueDepth) {
    return fail("Protocol error: RESP value nested deeper than " +
                std::to_string(kMaxValueDepth) + " levels");
  }
  v->elements.reserve(count);
  stack_.push_back({v, count});
  return true;
}

// Frames with `scanner`, then builds the tree from the framed bytes.
ScanStatus decodeWith(ReplyScanner* scanner, std::string_view data, RespValue* out,
                      size_t* consumed, std::string* error) {
  ReplyInfo info;
  const ScanStatus status = scanner->scan(data, &info);
  if (status == ScanStatus::kNeedMore) return status;
  if (status == ScanStatus::kError) {
    if (error != nullptr) *error = scanner->error();
    return status;
  }
  RespValue value;
  if (!TreeBuilder(data.substr(0, info.frame_len)).build(&value, error)) return ScanStatus::kError;
  *out = std::move(value);
  *consumed = info.frame_len;
  return ScanStatus::kOk;
}

}  // namespace

ScanStatus decodeValue(std::string_view data, RespValue* out, size_t* consumed,
                       std::string* error) {
  ReplyScanner scanner;
  return decodeWith(&scanner, data, out, consumed, error);
}

Result<RespValue> decodeOne(std::string_view complete_frame) {
  RespValue value;
  size_t consumed = 0;
  std::string error;
  switch (decodeValue(complete_frame, &value, &consumed, &error)) {
    case ScanStatus::kNeedMore:
      return Result<RespValue>::error("Protocol error: incomplete RESP value");
    case ScanStatus::kError:
      return Result<RespValue>::error(std::move(error));
    case ScanStatus::kOk:
      break;
  }
  if (consumed != complete_frame.size()) {
    return Result<RespValue>::error("Protocol error: unexpected bytes after RESP value");
  }
  return value;
}

ValueDecoder::ValueDecoder(const ReplyLimits& limits) : scanner_(limits) {}

ScanStatus ValueDecoder::decode(std::string_view data, RespValue* out, size_t* consumed) {
  if (!error_.empty()) return ScanStatus::kError;
  const ScanStatus status = decodeWith(&scanner_, data, out, consumed, &error_);
  if (status == ScanStatus::kError && error_.empty()) error_ = "Protocol error: invalid RESP value";
  return status;
}

void ValueDecoder::reset() {
  scanner_.reset();
  error_.clear();
}

}  // namespace slotwise::resp
