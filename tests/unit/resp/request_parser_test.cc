#include "resp/request_parser.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "resp/encoder.h"
#include "split_feeder.h"

// Counts heap allocations so the "no allocation per argument" contract can be checked.
namespace {
std::atomic<size_t> g_allocations{0};
}  // namespace

// None of these is inlined: otherwise GCC pairs malloc/free with new/delete at the call sites
// and warns (-Wmismatched-new-delete).
[[gnu::noinline]] void* operator new(std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
[[gnu::noinline]] void operator delete(void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace slotwise::resp {
namespace {

using namespace std::string_literals;
using Args = std::vector<std::string>;

struct ParserCase {
  std::string name;
  std::string input;
  std::vector<Args> commands;  // expected commands in order (empty Args = ignored request)
  std::string error;           // expected error after those commands; empty if none
  size_t leftover = 0;         // bytes of an incomplete trailing frame
  ParserLimits limits = {};
};

// Names the case in gtest output instead of dumping its bytes.
void PrintTo(const ParserCase& c, std::ostream* os) { *os << c.name; }

struct Outcome {
  std::vector<Args> commands;
  std::vector<bool> inline_flags;
  std::string error;
  size_t leftover = 0;
  size_t consumed = 0;
};

Outcome runPlan(const ParserCase& c, const test::SplitPlan& plan) {
  RequestParser parser(c.limits);
  Command cmd;
  Outcome o;
  auto step = [&](std::string_view data) {
    switch (parser.parse(data, &cmd)) {
      case ParseStatus::kNeedMore:
        return test::StepResult{test::StepKind::kNeedMore};
      case ParseStatus::kError:
        o.error = parser.error();
        return test::StepResult{test::StepKind::kError};
      case ParseStatus::kOk:
        break;
    }
    Args args;
    for (size_t i = 0; i < cmd.argc(); ++i) args.emplace_back(cmd.arg(i));
    if (!cmd.is_inline) {
      EXPECT_EQ(cmd.base, data.data());
    }
    EXPECT_GT(cmd.frame_len, 0u);
    EXPECT_LE(cmd.frame_len, data.size());
    o.commands.push_back(std::move(args));
    o.inline_flags.push_back(cmd.is_inline);
    o.consumed += cmd.frame_len;
    return test::StepResult{test::StepKind::kConsumed, cmd.frame_len};
  };
  test::feedPlan(c.input, plan, step, &o.leftover);
  return o;
}

class RequestParserTableTest : public ::testing::TestWithParam<ParserCase> {};

TEST_P(RequestParserTableTest, SameResultForEverySplit) {
  const ParserCase& c = GetParam();
  for (const test::SplitPlan& plan : test::splitPlans(c.input.size())) {
    SCOPED_TRACE(plan.name);
    const Outcome o = runPlan(c, plan);
    EXPECT_EQ(o.commands, c.commands);
    EXPECT_EQ(o.error, c.error);
    if (c.error.empty()) {
      EXPECT_EQ(o.leftover, c.leftover);
      EXPECT_EQ(o.consumed + o.leftover, c.input.size());
    }
  }
}

std::string repeat(char c, size_t n) { return std::string(n, c); }

ParserCase ok(std::string name, std::string input, std::vector<Args> commands,
              size_t leftover = 0, ParserLimits limits = {}) {
  return {std::move(name), std::move(input), std::move(commands), "", leftover, limits};
}

ParserCase bad(std::string name, std::string input, std::string error,
               std::vector<Args> commands = {}, ParserLimits limits = {}) {
  return {std::move(name), std::move(input), std::move(commands), std::move(error), 0, limits};
}

ParserLimits limitArgs(uint32_t n) {
  ParserLimits l;
  l.max_args = n;
  return l;
}
ParserLimits limitBulk(uint64_t n) {
  ParserLimits l;
  l.max_bulk_length = n;
  return l;
}
ParserLimits limitRequest(uint64_t n) {
  ParserLimits l;
  l.max_request_bytes = n;
  return l;
}
ParserLimits limitInline(uint32_t n) {
  ParserLimits l;
  l.max_inline_length = n;
  return l;
}

const char kInvalidMultibulk[] = "Protocol error: invalid multibulk length";
const char kInvalidBulk[] = "Protocol error: invalid bulk length";
const char kUnbalanced[] = "Protocol error: unbalanced quotes in request";
const char kInlineArgs[] = "Protocol error: too many arguments in inline request";

const ParserCase kCases[] = {
    ok("Ping", "*1\r\n$4\r\nPING\r\n", {{"PING"}}),
    ok("Set", "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n", {{"SET", "key", "value"}}),
    ok("EmptyArg", "*2\r\n$3\r\nGET\r\n$0\r\n\r\n", {{"GET", ""}}),
    ok("BinaryArg", "*2\r\n$3\r\nSET\r\n$6\r\na\0\r\nb\n\r\n"s, {{"SET", "a\0\r\nb\n"s}}),
    ok("CrlfOnlyArg", "*1\r\n$2\r\n\r\n\r\n", {{"\r\n"}}),
    ok("ZeroCountIgnored", "*0\r\n", {{}}),
    ok("NullCountIgnored", "*-1\r\n", {{}}),
    ok("NegativeCountIgnored", "*-7\r\n*1\r\n$1\r\nx\r\n", {{}, {"x"}}),
    ok("Pipeline",
       "*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\na\r\nECHO hi\r\n*1\r\n$4\r\nQUIT\r\n",
       {{"PING"}, {"GET", "a"}, {"ECHO", "hi"}, {"QUIT"}}),
    ok("IncompleteTail", "*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\na\r", {{"PING"}}, 19),
    ok("IncompleteCount", "*12", {}, 3),
    ok("InlineCrlf", "PING\r\n", {{"PING"}}),
    ok("InlineLf", "PING\n", {{"PING"}}),
    ok("InlineSpaces", "  set   a\tb  \r\n", {{"set", "a", "b"}}),
    ok("InlineBlankLines", "\r\n\n   \r\nPING\n", {{}, {}, {}, {"PING"}}),
    ok("InlineCrInside", "a\rb\r\n", {{"a", "b"}}),
    ok("InlineVerticalTabIsPartOfArg", "a\vb c\n", {{"a\vb", "c"}}),
    ok("InlineDoubleQuotes", "set \"a b\" \"\"\r\n", {{"set", "a b", ""}}),
    ok("InlineEscapes", "x \"\\n\\r\\t\\b\\a\\\\\\\"\\q\"\n", {{"x", "\n\r\t\b\a\\\"q"}}),
    ok("InlineHexEscape", "x \"\\x41\\x7a\\x00!\"\n", {{"x", "Az\0!"s}}),
    ok("InlineBadHexIsLiteral", "x \"\\x4g\"\n", {{"x", "x4g"}}),
    ok("InlineSingleQuotes", "x 'it\\'s' 'a\\nb' 'c\"d'\n", {{"x", "it's", "a\\nb", "c\"d"}}),
    ok("InlineQuoteMidArg", "x ab\"c d\"\n", {{"x", "abc d"}}),
    ok("InlineNulEndsLine", "get a\0b c\r\n"s, {{"get", "a"}}),
    ok("InlineThenMultibulk", "GET a\r\n*1\r\n$4\r\nPING\r\n", {{"GET", "a"}, {"PING"}}),
    ok("InlineIncomplete", "GET a", {}, 5),
    ok("InlineAtLimit", repeat('a', 64 * 1024) + "\n", {{repeat('a', 64 * 1024)}}),
    ok("RequestAtLimit", "*1\r\n$1\r\nx\r\n", {{"x"}}, 0, limitRequest(11)),
    bad("BadCount", "*abc\r\n", kInvalidMultibulk),
    bad("EmptyCount", "*\r\n", kInvalidMultibulk),
    bad("LeadingZeroCount", "*01\r\n", kInvalidMultibulk),
    bad("HugeCount", "*3000000000\r\n", kInvalidMultibulk),
    bad("TwentyDigitCount", "*99999999999999999999\r\n", kInvalidMultibulk),
    bad("CountCrWithoutLf", "*1\rx", kInvalidMultibulk),
    bad("HugeBulk", "*1\r\n$2000000000\r\n", kInvalidBulk),
    bad("NegativeBulk", "*1\r\n$-1\r\n", kInvalidBulk),
    bad("BadBulk", "*1\r\n$x\r\n", kInvalidBulk),
    bad("EmptyBulkLength", "*1\r\n$\r\n", kInvalidBulk),
    bad("ExpectedDollar", "*1\r\n:5\r\n", "Protocol error: expected '$', got ':'"),
    bad("ErrorAfterGoodCommand", "*1\r\n$1\r\na\r\n*1\r\n+x\r\n",
        "Protocol error: expected '$', got '+'", {{"a"}}),
    bad("BadTerminator", "*1\r\n$3\r\nfooXY", "Protocol error: invalid bulk terminator"),
    bad("BadTerminatorLf", "*1\r\n$3\r\nfoo\rX", "Protocol error: invalid bulk terminator"),
    bad("TooBigCountString", "*" + repeat('1', 64 * 1024 + 1),
        "Protocol error: too big mbulk count string"),
    bad("TooBigBulkString", "*1\r\n$" + repeat('1', 64 * 1024 + 1),
        "Protocol error: too big bulk count string"),
    bad("TooBigInline", repeat('a', 64 * 1024 + 1), "Protocol error: too big inline request"),
    bad("UnbalancedDouble", "set \"abc\r\n", kUnbalanced),
    bad("UnbalancedSingle", "set 'abc\n", kUnbalanced),
    bad("QuoteFollowedByText", "set \"abc\"def\n", kUnbalanced),
    bad("TrailingBackslashInQuotes", "set \"abc\\\n", kUnbalanced),
    bad("MaxArgsLimit", "*3\r\n", kInvalidMultibulk, {}, limitArgs(2)),
    bad("MaxBulkLimit", "*1\r\n$5\r\n", kInvalidBulk, {}, limitBulk(4)),
    bad("RequestTooLargeByBulk", "*1\r\n$200\r\n", "Protocol error: request too large", {},
        limitRequest(100)),
    bad("RequestTooLargeByCount", "*10\r\n", "Protocol error: request too large", {},
        limitRequest(20)),
    bad("InlineLimit", "abcdef", "Protocol error: too big inline request", {}, limitInline(5)),
    ok("InlineArgsAtLimit", "set a b  \t\r\n", {{"set", "a", "b"}}, 0, limitArgs(3)),
    ok("InlineQuotedArgsAtLimit", "set \"a b\" 'c d'\n", {{"set", "a b", "c d"}}, 0,
       limitArgs(3)),
    bad("InlineArgsOverLimit", "set a b c\r\n", kInlineArgs, {}, limitArgs(3)),
    bad("InlineArgsOverLimitAfterGood", "get a\r\nset a b c\r\n", kInlineArgs, {{"get", "a"}},
        limitArgs(3)),
    bad("InlineArgsOverLimitBeforeBadQuote", "a b \"c\n", kInlineArgs, {}, limitArgs(2)),
};

INSTANTIATE_TEST_SUITE_P(Frames, RequestParserTableTest, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return info.param.name; });

TEST(RequestParserTest, HugeLengthsFailWithoutPayload) {
  for (const std::string input : {"*3000000000\r\n", "*1\r\n$2000000000\r\n"}) {
    RequestParser parser;
    Command cmd;
    EXPECT_EQ(parser.parse(input, &cmd), ParseStatus::kError) << input;
  }
}

TEST(RequestParserTest, ErrorIsStickyUntilReset) {
  RequestParser parser;
  Command cmd;
  ASSERT_EQ(parser.parse("*x\r\n", &cmd), ParseStatus::kError);
  EXPECT_EQ(parser.parse("*1\r\n$1\r\na\r\n", &cmd), ParseStatus::kError);
  parser.reset();
  EXPECT_TRUE(parser.error().empty());
  ASSERT_EQ(parser.parse("*1\r\n$1\r\na\r\n", &cmd), ParseStatus::kOk);
  EXPECT_EQ(cmd.arg(0), "a");
}

TEST(RequestParserTest, ResetDropsPartialFrame) {
  RequestParser parser;
  Command cmd;
  ASSERT_EQ(parser.parse("*2\r\n$3\r\nfoo\r\n", &cmd), ParseStatus::kNeedMore);
  parser.reset();
  ASSERT_EQ(parser.parse("PING\r\n", &cmd), ParseStatus::kOk);
  EXPECT_TRUE(cmd.is_inline);
  ASSERT_EQ(cmd.argc(), 1u);
  EXPECT_EQ(cmd.arg(0), "PING");
}

TEST(RequestParserTest, ArgsAreOffsetsFromBase) {
  const std::string frame = "*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n";
  RequestParser parser;
  Command cmd;
  ASSERT_EQ(parser.parse(frame, &cmd), ParseStatus::kOk);
  EXPECT_EQ(cmd.base, frame.data());
  ASSERT_EQ(cmd.argc(), 2u);
  EXPECT_EQ(cmd.args[0].offset, 8u);
  EXPECT_EQ(cmd.args[1].offset, 17u);
  EXPECT_EQ(cmd.frame_len, frame.size());
}

TEST(RequestParserTest, LongPipelineInOneBuffer) {
  std::string buffer;
  std::vector<Args> expected;
  for (int i = 0; i < 2000; ++i) {
    const std::string key = "key:" + std::to_string(i);
    const std::string value(static_cast<size_t>(i % 97), static_cast<char>('a' + i % 26));
    if (i % 3 == 0) {
      appendCommand(buffer, {"GET", key});
      expected.push_back({"GET", key});
    } else {
      appendCommand(buffer, {"SET", key, value});
      expected.push_back({"SET", key, value});
    }
  }
  RequestParser parser;
  Command cmd;
  std::vector<Args> got;
  std::string_view rest = buffer;
  while (parser.parse(rest, &cmd) == ParseStatus::kOk) {
    got.emplace_back();
    for (size_t i = 0; i < cmd.argc(); ++i) got.back().emplace_back(cmd.arg(i));
    rest.remove_prefix(cmd.frame_len);
  }
  EXPECT_TRUE(rest.empty());
  EXPECT_EQ(got, expected);
}

TEST(RequestParserTest, NoAllocationPerArgumentAfterWarmup) {
  std::string buffer;
  for (int i = 0; i < 100; ++i) {
    appendCommand(buffer, {"MSET", "k1", "v1", "k2", "v2", "k3", "v3", "k4", "v4"});
  }
  RequestParser parser;
  Command cmd;
  auto parseAll = [&] {
    std::string_view rest = buffer;
    size_t commands = 0;
    while (parser.parse(rest, &cmd) == ParseStatus::kOk) {
      rest.remove_prefix(cmd.frame_len);
      ++commands;
    }
    return commands;
  };
  ASSERT_EQ(parseAll(), 100u);  // warm-up: vectors grow to their final capacity
  const size_t before = g_allocations.load();
  const size_t commands = parseAll();
  const size_t allocations = g_allocations.load() - before;
  EXPECT_EQ(commands, 100u);
  EXPECT_EQ(allocations, 0u);
}

TEST(RequestParserTest, InlineStorageBacksArgs) {
  RequestParser parser;
  Command cmd;
  ASSERT_EQ(parser.parse("set \"a\\x00b\" c\r\n", &cmd), ParseStatus::kOk);
  EXPECT_TRUE(cmd.is_inline);
  EXPECT_EQ(cmd.base, cmd.inline_storage.data());
  ASSERT_EQ(cmd.argc(), 3u);
  EXPECT_EQ(cmd.arg(1), "a\0b"s);
  EXPECT_EQ(cmd.frame_len, 16u);
}

TEST(RequestParserTest, InlineArgLimitAppliesToDefaultSizedLines) {
  // 30,000 one-letter words fit in the default 64 KiB inline line but not in max_args = 1000.
  std::string line;
  for (int i = 0; i < 30000; ++i) line += "a ";
  line += "\r\n";
  ParserLimits limits;
  limits.max_args = 1000;
  RequestParser parser(limits);
  Command cmd;
  ASSERT_EQ(parser.parse(line, &cmd), ParseStatus::kError);
  EXPECT_EQ(parser.error(), kInlineArgs);
  EXPECT_LE(cmd.argc(), 1000u);  // splitting stopped at the limit
  limits.max_args = 30000;  // the same line is fine once the limit allows it
  RequestParser relaxed(limits);
  ASSERT_EQ(relaxed.parse(line, &cmd), ParseStatus::kOk);
  EXPECT_EQ(cmd.argc(), 30000u);
}

TEST(RequestParserTest, LargeBulkFedByteByByteIsLinear) {
  // 4 MiB payload fed one byte at a time: each call must do O(1) work, not rescan the frame.
  std::string frame;
  appendCommand(frame, {"SET", "k", std::string(4 << 20, 'v')});
  RequestParser parser;
  Command cmd;
  size_t calls = 0;
  ParseStatus status = ParseStatus::kNeedMore;
  for (size_t n = 1; n <= frame.size() && status == ParseStatus::kNeedMore; ++n, ++calls) {
    status = parser.parse(std::string_view(frame.data(), n), &cmd);
  }
  ASSERT_EQ(status, ParseStatus::kOk);
  EXPECT_EQ(calls, frame.size());
  EXPECT_EQ(cmd.arg(2).size(), 4u << 20);
}

}  // namespace
}  // namespace slotwise::resp
