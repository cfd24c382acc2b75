// libFuzzer target for resp::ReplyScanner and resp::ValueDecoder.
//
// Input layout: [limits byte][chunk count][chunk sizes...][payload]. The payload is a stream of
// backend replies. It is framed by the scanner and decoded by the decoder, each twice: whole, and
// delivered in chunks (pending bytes move to a fresh allocation after every kNeedMore). Checks:
//  - each run follows the scan()/decode() contracts (frame inside the data, sticky kError, ...);
//  - whole and chunked runs agree exactly;
//  - scanner and decoder agree on every frame length, on the top-level type and error class, and
//    the decoder only rejects a frame the scanner accepted for the two reasons it documents
//    (integer out of range, nesting deeper than kMaxValueDepth);
//  - a decoded value survives encodeValue() -> decodeOne() unchanged.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "resp/encoder.h"
#include "resp/limits.h"
#include "resp/reply_scanner.h"
#include "resp/value.h"
#include "resp/value_decoder.h"
#include "tests/fuzz/fuzz_util.h"

namespace slotwise::test {
namespace {

using resp::ErrorKind;
using resp::ReplyLimits;
using resp::RespValue;
using resp::ScanStatus;
using resp::ValueType;

// One scan() or decode() result. `value` is set by the decoder only.
struct Outcome {
  ScanStatus status = ScanStatus::kNeedMore;
  size_t frame_len = 0;
  char type = 0;
  ErrorKind error_kind = ErrorKind::kNone;
  RespValue value;
  std::string error;
  bool operator==(const Outcome&) const = default;
};

ReplyLimits limitsFrom(uint8_t b) {
  static constexpr uint64_t kBulk[] = {0, 3, 64, 4ull * 1024 * 1024 * 1024};
  static constexpr uint64_t kElements[] = {0, 2, 16, 4ull * 1024 * 1024 * 1024};
  ReplyLimits limits;
  limits.max_bulk_length = kBulk[b & 3];
  limits.max_elements = kElements[(b >> 2) & 3];
  return limits;
}

// The value type a top-level type byte announces (null forms aside).
ValueType typeOfByte(char type) {
  switch (type) {
    case '+':
      return ValueType::kSimpleString;
    case '-':
      return ValueType::kError;
    case ':':
      return ValueType::kInteger;
    case '$':
      return ValueType::kBulkString;
    case ',':
      return ValueType::kDouble;
    case '#':
      return ValueType::kBoolean;
    case '(':
      return ValueType::kBigNumber;
    case '=':
      return ValueType::kVerbatim;
    case '!':
      return ValueType::kBlobError;
    case '%':
      return ValueType::kMap;
    case '~':
      return ValueType::kSet;
    case '>':
      return ValueType::kPush;
    case '*':
      return ValueType::kArray;
    default:
      return ValueType::kNull;  // '_'
  }
}

// Adapts the scanner and the decoder to one "step" signature for the feeding loop below.
class Framer {
 public:
  Framer(bool decode, const ReplyLimits& limits)
      : decode_(decode), scanner_(limits), decoder_(limits) {}

  // One scan()/decode() call on `data`, checked against the contract.
  Outcome step(std::string_view data) {
    Outcome o;
    if (decode_) {
      o.status = decoder_.decode(data, &o.value, &o.frame_len);
      if (o.status == ScanStatus::kError) o.error = decoder_.error();
    } else {
      resp::ReplyInfo info;
      o.status = scanner_.scan(data, &info);
      if (o.status == ScanStatus::kOk) fuzzCheck(info.frame_len > 0, "kOk with frame_len 0");
      o.frame_len = info.frame_len;  // stays 0 unless kOk: "*out is untouched"
      o.type = info.type;
      o.error_kind = info.error;
      if (o.status == ScanStatus::kError) o.error = scanner_.error();
    }
    fuzzCheck(o.frame_len <= data.size(), "frame longer than the data");
    fuzzCheck((o.status == ScanStatus::kError) == !o.error.empty(), "error text mismatch");
    return o;
  }

 private:
  bool decode_;
  resp::ReplyScanner scanner_;
  resp::ValueDecoder decoder_;
};

// Frames/decodes `payload` revealed up to each delivery point in turn. Returns every kOk result
// followed by the final kNeedMore/kError one.
std::vector<Outcome> runAll(bool decode, const ReplyLimits& limits, std::string_view payload,
                            const std::vector<size_t>& points) {
  Framer framer(decode, limits);
  std::vector<Outcome> outcomes;
  std::string pending;
  size_t delivered = 0;
  for (size_t point : points) {
    pending.append(payload.substr(delivered, point - delivered));
    delivered = point;
    while (true) {
      Outcome o = framer.step(pending);
      if (o.status != ScanStatus::kOk) {
        if (o.status == ScanStatus::kError || point == payload.size()) {
          if (o.status == ScanStatus::kError) {
            fuzzCheck(framer.step(pending).status == ScanStatus::kError, "kError not sticky");
          }
          outcomes.push_back(std::move(o));
          return outcomes;
        }
        break;
      }
      pending.erase(0, o.frame_len);
      outcomes.push_back(std::move(o));
    }
    std::string moved(pending);  // the contract allows the pending bytes to move between calls
    pending.swap(moved);
  }
  fuzzCheck(false, "the last delivery point must end the run");
  return outcomes;
}

// Whole and chunked runs must agree on every frame. Their final results may differ in one way
// only: a length line still unterminated after kMaxLengthLine bytes is rejected as soon as a
// chunk shows that ("too long length line"), while the whole input may end in that line's CR and
// still wait for the LF (the next byte then fails it as an invalid length). Error wording may
// differ for the same reason.
bool consistentRuns(std::vector<Outcome> whole, std::vector<Outcome> chunked) {
  const Outcome& w = whole.back();
  const Outcome& c = chunked.back();
  const bool eager_reject = w.status == ScanStatus::kNeedMore && c.status == ScanStatus::kError &&
                            c.error.find("too long length line") != std::string::npos;
  if (eager_reject) {
    whole.pop_back();
    chunked.pop_back();
  }
  for (Outcome& o : whole) o.error.clear();
  for (Outcome& o : chunked) o.error.clear();
  return whole == chunked;
}

bool acceptedDecoderRejection(const std::string& error) {
  return error.find("integer reply out of range") != std::string::npos ||
         error.find("nested deeper than") != std::string::npos;
}

// What encodeValue() -> decodeOne() gives back for `v`: encodeValue writes line values (simple
// strings, errors, doubles, big numbers) with any LF turned into a space, and the scanner accepts
// a bare LF inside a line, so those are the only bytes a round trip may change.
RespValue expectedRoundTrip(RespValue v) {
  std::vector<RespValue*> todo = {&v};
  while (!todo.empty()) {
    RespValue* cur = todo.back();
    todo.pop_back();
    const ValueType t = cur->type;
    if (t == ValueType::kSimpleString || t == ValueType::kError || t == ValueType::kDouble ||
        t == ValueType::kBigNumber) {
      std::replace(cur->str.begin(), cur->str.end(), '\n', ' ');
    }
    for (RespValue& e : cur->elements) todo.push_back(&e);
  }
  return v;
}

// Checks one frame both framed by the scanner (`s`) and decoded (`d`).
void checkAgreement(const Outcome& s, const Outcome& d) {
  fuzzCheck(s.frame_len == d.frame_len, "scanner and decoder frame lengths differ");
  const RespValue* v = &d.value;
  while (v->type == ValueType::kAttribute) {
    fuzzCheck(!v->elements.empty() && v->elements.size() % 2 == 1, "attribute shape");
    v = &v->elements.back();
  }
  const bool null_form = v->type == ValueType::kNull && (s.type == '$' || s.type == '*');
  fuzzCheck(null_form || v->type == typeOfByte(s.type), "decoded type differs from type byte");
  if (v->isError()) {
    fuzzCheck(s.error_kind == resp::classifyError(v->str), "error class differs");
  } else {
    fuzzCheck(s.error_kind == ErrorKind::kNone, "error class set for a non-error reply");
  }
  std::string encoded;
  resp::encodeValue(d.value, encoded);
  Result<RespValue> again = resp::decodeOne(encoded);
  fuzzCheck(again.isOk() && *again == expectedRoundTrip(d.value),
            "encodeValue/decodeOne round trip changed value");
  resp::toString(d.value);  // only must not crash: "+\r\n" legitimately renders as ""
}

void crossCheck(const std::vector<Outcome>& scanned, const std::vector<Outcome>& decoded) {
  fuzzCheck(decoded.size() <= scanned.size(), "decoder produced more frames than the scanner");
  for (size_t i = 0; i < decoded.size(); ++i) {
    const Outcome& s = scanned[i];
    const Outcome& d = decoded[i];
    if (d.status == ScanStatus::kOk) {
      fuzzCheck(s.status == ScanStatus::kOk, "decoder accepted a frame the scanner did not");
      checkAgreement(s, d);
    } else if (d.status == ScanStatus::kNeedMore) {
      fuzzCheck(s.status == ScanStatus::kNeedMore, "decoder needs more, scanner does not");
    } else if (s.status != ScanStatus::kError) {
      fuzzCheck(s.status == ScanStatus::kOk && acceptedDecoderRejection(d.error),
                "decoder rejected a frame the scanner accepted");
    }
  }
}

}  // namespace
}  // namespace slotwise::test

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace slotwise::test;
  using slotwise::resp::ReplyLimits;
  using slotwise::resp::RespValue;
  using slotwise::resp::ScanStatus;
  FuzzInput input(data, size);
  const slotwise::resp::ReplyLimits limits = limitsFrom(input.takeByte());
  const std::vector<size_t> chunks = input.takeChunkSizes(64);
  const std::string_view payload = input.rest();
  const std::vector<size_t> points = deliveryPoints(chunks, payload.size());
  const auto scanned = runAll(false, limits, payload, {payload.size()});
  fuzzCheck(consistentRuns(scanned, runAll(false, limits, payload, points)),
            "scanner: whole != chunked");
  const auto decoded = runAll(true, limits, payload, {payload.size()});
  fuzzCheck(consistentRuns(decoded, runAll(true, limits, payload, points)),
            "decoder: whole != chunked");
  crossCheck(scanned, decoded);
  const bool default_limits = limits.max_bulk_length == ReplyLimits().max_bulk_length &&
                              limits.max_elements == ReplyLimits().max_elements;
  if (default_limits && decoded.front().status == ScanStatus::kOk) {
    // The stateless decodeValue() uses default limits; it must agree with a default decoder.
    RespValue value;
    size_t consumed = 0;
    const auto status = slotwise::resp::decodeValue(payload, &value, &consumed, nullptr);
    fuzzCheck(status == ScanStatus::kOk && consumed == decoded.front().frame_len &&
                  value == decoded.front().value,
              "decodeValue() differs from ValueDecoder");
  }
  return 0;
}
