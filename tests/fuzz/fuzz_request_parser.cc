// libFuzzer target for resp::RequestParser.
//
// Input layout: [limits byte][chunk count][chunk sizes...][payload]. The payload is parsed twice,
// with the same small limits: once whole, and once delivered in chunks the way a socket would
// deliver it (the pending bytes move to a fresh allocation after every kNeedMore, so ASan catches
// any pointer kept across calls). Both runs must produce the same requests and the same final
// state. Every result is checked against the parse() contract in resp/request_parser.h.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "resp/command.h"
#include "resp/limits.h"
#include "resp/request_parser.h"
#include "tests/fuzz/fuzz_util.h"

namespace slotwise::test {
namespace {

using resp::Command;
using resp::ParserLimits;
using resp::ParseStatus;
using resp::RequestParser;

// One parse() result, copied out of the Command so that runs can be compared after the bytes
// it pointed into are gone.
struct Outcome {
  ParseStatus status = ParseStatus::kNeedMore;
  size_t frame_len = 0;
  bool is_inline = false;
  std::vector<std::string> args;
  std::string error;
  bool operator==(const Outcome&) const = default;
};

// Small limits chosen by one byte, so that every limit check is reachable with short inputs.
ParserLimits limitsFrom(uint8_t b) {
  static constexpr uint32_t kArgs[] = {1, 3, 16, 1024 * 1024};
  static constexpr uint64_t kBulk[] = {0, 4, 64, 512ull * 1024 * 1024};
  static constexpr uint32_t kInline[] = {0, 8, 100, 64 * 1024};
  static constexpr uint64_t kRequest[] = {16, 128, 1024, 512ull * 1024 * 1024};
  ParserLimits limits;
  limits.max_args = kArgs[b & 3];
  limits.max_bulk_length = kBulk[(b >> 2) & 3];
  limits.max_inline_length = kInline[(b >> 4) & 3];
  limits.max_request_bytes = kRequest[(b >> 6) & 3];
  return limits;
}

void checkMultibulk(std::string_view data, const Command& cmd, const ParserLimits& limits) {
  fuzzCheck(cmd.base == data.data(), "multibulk base is not the frame start");
  fuzzCheck(data[0] == '*', "multibulk frame does not start with '*'");
  fuzzCheck(cmd.frame_len >= 4 && data.substr(cmd.frame_len - 2, 2) == "\r\n",
            "multibulk frame does not end with CRLF");
  fuzzCheck(cmd.frame_len <= limits.max_request_bytes, "frame longer than max_request_bytes");
  fuzzCheck(cmd.argc() <= limits.max_args, "more arguments than max_args");
  for (const resp::ArgRef& arg : cmd.args) {
    fuzzCheck(arg.offset <= cmd.frame_len && arg.len <= cmd.frame_len - arg.offset,
              "argument outside its frame");
    fuzzCheck(arg.len <= limits.max_bulk_length, "argument longer than max_bulk_length");
  }
}

void checkInline(std::string_view data, const Command& cmd, const ParserLimits& limits) {
  fuzzCheck(cmd.base == cmd.inline_storage.data(), "inline base is not inline_storage");
  fuzzCheck(data[cmd.frame_len - 1] == '\n', "inline frame does not end with a newline");
  fuzzCheck(cmd.frame_len - 1 <= limits.max_inline_length, "inline line longer than the limit");
  for (const resp::ArgRef& arg : cmd.args) {
    fuzzCheck(arg.offset <= cmd.inline_storage.size() &&
                  arg.len <= cmd.inline_storage.size() - arg.offset,
              "inline argument outside inline_storage");
  }
}

// Checks one parse() result against the contract and records it.
Outcome record(ParseStatus status, std::string_view data, const Command& cmd,
               const RequestParser& parser, const ParserLimits& limits) {
  Outcome outcome;
  outcome.status = status;
  if (status != ParseStatus::kOk) {
    fuzzCheck((status == ParseStatus::kError) == !parser.error().empty(),
              "error() must be set exactly when parse() returns kError");
    outcome.error = parser.error();
    return outcome;
  }
  fuzzCheck(parser.error().empty(), "error() set after kOk");
  fuzzCheck(cmd.frame_len > 0 && cmd.frame_len <= data.size(), "frame_len outside the data");
  // max_args bounds "*N" only; an inline line is bounded by max_inline_length instead.
  if (cmd.is_inline) {
    checkInline(data, cmd, limits);
  } else {
    checkMultibulk(data, cmd, limits);
  }
  outcome.frame_len = cmd.frame_len;
  outcome.is_inline = cmd.is_inline;
  for (size_t i = 0; i < cmd.argc(); ++i) outcome.args.emplace_back(cmd.arg(i));
  return outcome;
}

// Parses everything in *pending, appending kOk results to *outcomes and dropping their bytes.
// Returns the status that stopped the loop (kNeedMore or kError).
ParseStatus drain(RequestParser* parser, const ParserLimits& limits, std::string* pending,
                  std::vector<Outcome>* outcomes) {
  Command cmd;
  while (true) {
    const ParseStatus status = parser->parse(*pending, &cmd);
    Outcome outcome = record(status, *pending, cmd, *parser, limits);
    if (status != ParseStatus::kOk) {
      if (status == ParseStatus::kError) {
        fuzzCheck(parser->parse(*pending, &cmd) == ParseStatus::kError, "kError is not sticky");
      }
      return status;
    }
    outcomes->push_back(std::move(outcome));
    pending->erase(0, cmd.frame_len);
  }
}

// Feeds `payload` to a fresh parser, revealing it up to each delivery point in turn. Returns
// every kOk result followed by the final kNeedMore/kError result.
std::vector<Outcome> parseAll(std::string_view payload, const std::vector<size_t>& points,
                              const ParserLimits& limits) {
  RequestParser parser(limits);
  std::vector<Outcome> outcomes;
  std::string pending;
  size_t delivered = 0;
  ParseStatus status = ParseStatus::kNeedMore;
  for (size_t point : points) {
    pending.append(payload.substr(delivered, point - delivered));
    delivered = point;
    status = drain(&parser, limits, &pending, &outcomes);
    if (status == ParseStatus::kError) break;
    std::string moved(pending);  // the contract allows the pending bytes to move between calls
    pending.swap(moved);
  }
  Outcome last;
  last.status = status;
  last.error = parser.error();
  outcomes.push_back(std::move(last));
  return outcomes;
}

}  // namespace
}  // namespace slotwise::test

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace slotwise::test;
  FuzzInput input(data, size);
  const slotwise::resp::ParserLimits limits = limitsFrom(input.takeByte());
  const std::vector<size_t> chunks = input.takeChunkSizes(64);
  const std::string_view payload = input.rest();
  const auto whole = parseAll(payload, {payload.size()}, limits);
  const auto split = parseAll(payload, deliveryPoints(chunks, payload.size()), limits);
  fuzzCheck(whole == split, "whole and chunked parsing disagree");
  return 0;
}
