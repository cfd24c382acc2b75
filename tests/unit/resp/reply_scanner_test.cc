#include "resp/reply_scanner.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "split_feeder.h"

namespace slotwise::resp {
namespace {

using namespace std::string_literals;

struct Frame {
  size_t len;
  char type;
  ErrorKind error = ErrorKind::kNone;
  bool operator==(const Frame&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Frame& f) {
  return os << "{len=" << f.len << " type='" << f.type << "' error=" << static_cast<int>(f.error)
            << "}";
}

struct ScanCase {
  std::string name;
  std::string input;
  std::vector<Frame> frames;  // expected replies in order
  std::string error;          // expected error message after them; empty if none
  size_t leftover = 0;        // bytes of an incomplete trailing reply
  ReplyLimits limits = {};
};

// Names the case in gtest output instead of dumping its bytes.
void PrintTo(const ScanCase& c, std::ostream* os) { *os << c.name; }

ScanCase ok(std::string name, std::string input, std::vector<Frame> frames, size_t leftover = 0) {
  return {std::move(name), std::move(input), std::move(frames), "", leftover, {}};
}

ScanCase bad(std::string name, std::string input, std::string error,
             std::vector<Frame> frames = {}, ReplyLimits limits = {}) {
  return {std::move(name), std::move(input), std::move(frames), std::move(error), 0, limits};
}

// Frame of the whole input with the given type.
Frame whole(const std::string& input, char type, ErrorKind error = ErrorKind::kNone) {
  return {input.size(), type, error};
}

ScanCase single(std::string name, std::string input, char type,
                ErrorKind error = ErrorKind::kNone) {
  Frame f = whole(input, type, error);
  return ok(std::move(name), std::move(input), {f});
}

struct Outcome {
  std::vector<Frame> frames;
  std::string error;
  size_t leftover = 0;
};

Outcome runPlan(const ScanCase& c, const test::SplitPlan& plan) {
  ReplyScanner scanner(c.limits);
  Outcome o;
  auto step = [&](std::string_view data) {
    ReplyInfo info;
    switch (scanner.scan(data, &info)) {
      case ScanStatus::kNeedMore:
        return test::StepResult{test::StepKind::kNeedMore};
      case ScanStatus::kError:
        o.error = scanner.error();
        return test::StepResult{test::StepKind::kError};
      case ScanStatus::kOk:
        break;
    }
    o.frames.push_back({info.frame_len, info.type, info.error});
    return test::StepResult{test::StepKind::kConsumed, info.frame_len};
  };
  test::feedPlan(c.input, plan, step, &o.leftover);
  return o;
}

class ReplyScannerTableTest : public ::testing::TestWithParam<ScanCase> {};

TEST_P(ReplyScannerTableTest, SameResultForEverySplit) {
  const ScanCase& c = GetParam();
  for (const test::SplitPlan& plan : test::splitPlans(c.input.size())) {
    SCOPED_TRACE(plan.name);
    const Outcome o = runPlan(c, plan);
    EXPECT_EQ(o.frames, c.frames);
    if (c.error.empty()) {
      EXPECT_EQ(o.error, "");
      EXPECT_EQ(o.leftover, c.leftover);
    } else {
      EXPECT_NE(o.error.find(c.error), std::string::npos) << "actual error: " << o.error;
    }
  }
}

ReplyLimits smallLimits() {
  ReplyLimits l;
  l.max_bulk_length = 10;
  l.max_elements = 3;
  return l;
}

const ScanCase kCases[] = {
    single("SimpleString", "+OK\r\n", '+'),
    single("EmptySimpleString", "+\r\n", '+'),
    single("ErrorOther", "-ERR unknown command 'FOO'\r\n", '-', ErrorKind::kOther),
    single("ErrorMoved", "-MOVED 3999 127.0.0.1:6381\r\n", '-', ErrorKind::kMoved),
    single("ErrorAsk", "-ASK 3999 127.0.0.1:6381\r\n", '-', ErrorKind::kAsk),
    single("ErrorAskAlone", "-ASK\r\n", '-', ErrorKind::kAsk),
    single("ErrorTryAgain", "-TRYAGAIN Multiple keys request during rehashing of slot\r\n", '-',
           ErrorKind::kTryAgain),
    single("ErrorClusterDown", "-CLUSTERDOWN The cluster is down\r\n", '-',
           ErrorKind::kClusterDown),
    single("ErrorPrefixOnly", "-MOVEDX 1 a:1\r\n", '-', ErrorKind::kOther),
    single("Integer", ":1000\r\n", ':'),
    single("NegativeInteger", ":-5\r\n", ':'),
    single("Bulk", "$5\r\nhello\r\n", '$'),
    single("EmptyBulk", "$0\r\n\r\n", '$'),
    single("NullBulk", "$-1\r\n", '$'),
    single("BinaryBulk", "$6\r\n\r\n\0*\r\n\r\n"s, '$'),
    single("NullArray", "*-1\r\n", '*'),
    single("EmptyArray", "*0\r\n", '*'),
    single("Array", "*3\r\n$3\r\nfoo\r\n:1\r\n$-1\r\n", '*'),
    single("NestedArray", "*2\r\n*1\r\n+a\r\n*0\r\n", '*'),
    single("ArrayWithMovedInside", "*1\r\n-MOVED 1 a:1\r\n", '*'),
    single("Resp3Null", "_\r\n", '_'),
    single("Double", ",3.14\r\n", ','),
    single("DoubleInf", ",-inf\r\n", ','),
    single("BooleanTrue", "#t\r\n", '#'),
    single("BooleanFalse", "#f\r\n", '#'),
    single("BigNumber", "(3492890328409238509324850943850943825024385\r\n", '('),
    single("Verbatim", "=15\r\ntxt:Some string\r\n", '='),
    single("BlobError", "!21\r\nSYNTAX invalid syntax\r\n", '!', ErrorKind::kOther),
    single("BlobErrorMoved", "!13\r\nMOVED 1 a:100\r\n", '!', ErrorKind::kMoved),
    single("Map", "%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n", '%'),
    single("EmptyMap", "%0\r\n", '%'),
    single("Set", "~3\r\n+a\r\n+b\r\n#f\r\n", '~'),
    single("Push", ">3\r\n+message\r\n+chan\r\n$2\r\nhi\r\n", '>'),
    single("TopAttribute",
           "|1\r\n+key-popularity\r\n*2\r\n$1\r\na\r\n,0.1923\r\n*2\r\n:2039123\r\n:9543892\r\n",
           '*'),
    single("EmptyTopAttribute", "|0\r\n:7\r\n", ':'),
    single("TwoTopAttributes", "|1\r\n+a\r\n+b\r\n|1\r\n+c\r\n+d\r\n-ERR x\r\n", '-',
           ErrorKind::kOther),
    single("NestedAttribute", "*2\r\n|1\r\n+k\r\n+v\r\n:1\r\n:2\r\n", '*'),
    single("AttributeInsideAttribute", "|1\r\n+k\r\n|1\r\n+a\r\n+b\r\n+v\r\n+value\r\n", '+'),
    ok("Pipeline", "+OK\r\n$3\r\nbar\r\n-MOVED 1 h:2\r\n*1\r\n:1\r\n",
       {{5, '+'}, {9, '$'}, {14, '-', ErrorKind::kMoved}, {8, '*'}}),
    ok("IncompleteBulk", "+OK\r\n$10\r\nhello", {{5, '+'}}, 10),
    ok("IncompleteArray", "*3\r\n:1\r\n:2\r\n", {}, 12),
    ok("IncompleteLine", "+OK", {}, 3),
    bad("UnknownType", "?x\r\n", "unknown reply type byte '?'"),
    bad("UnknownBinaryType", "\x01x\r\n", "unknown reply type byte '\\x01'"),
    bad("NestedUnknownType", "*1\r\n@\r\n", "unknown reply type byte '@'"),
    bad("BulkMinusTwo", "$-2\r\n", "invalid bulk length"),
    bad("BulkNotNumber", "$abc\r\n", "invalid bulk length"),
    bad("ArrayMinusTwo", "*-2\r\n", "invalid aggregate length"),
    bad("MapNull", "%-1\r\n", "invalid aggregate length"),
    bad("VerbatimNull", "=-1\r\n", "invalid bulk length"),
    bad("MissingCrlfAfterBulk", "$3\r\nfooXX", "not followed by CRLF"),
    bad("MissingLfAfterBulk", "$3\r\nfoo\rX", "not followed by CRLF"),
    bad("BadInteger", ":12a\r\n", "invalid integer"),
    bad("EmptyInteger", ":\r\n", "invalid integer"),
    bad("BadBoolean", "#x\r\n", "invalid boolean"),
    bad("BadNull", "_x\r\n", "invalid null"),
    bad("CrWithoutLf", "+OK\rX", "CR not followed by LF"),
    bad("LongLengthLine", "$" + std::string(40, '1'), "too long length line"),
    bad("BulkOverDefaultLimit", "$5000000000\r\n", "invalid bulk length"),
    bad("BulkOverLimit", "$11\r\n", "invalid bulk length", {}, smallLimits()),
    bad("ArrayOverLimit", "*4\r\n", "invalid aggregate length", {}, smallLimits()),
    bad("ErrorAfterGoodReply", "+OK\r\n*1\r\n$x\r\n", "invalid bulk length", {{5, '+'}}),
};

INSTANTIATE_TEST_SUITE_P(Frames, ReplyScannerTableTest, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return info.param.name; });

TEST(ReplyScannerTest, HugeBulkErrorsWithoutPayload) {
  ReplyScanner scanner;
  ReplyInfo info;
  EXPECT_EQ(scanner.scan("$99999999999\r\n", &info), ScanStatus::kError);
}

TEST(ReplyScannerTest, ErrorIsStickyUntilReset) {
  ReplyScanner scanner;
  ReplyInfo info;
  ASSERT_EQ(scanner.scan("?\r\n", &info), ScanStatus::kError);
  EXPECT_EQ(scanner.scan("+OK\r\n", &info), ScanStatus::kError);
  scanner.reset();
  EXPECT_TRUE(scanner.error().empty());
  ASSERT_EQ(scanner.scan("+OK\r\n", &info), ScanStatus::kOk);
  EXPECT_EQ(info.frame_len, 5u);
}

TEST(ReplyScannerTest, NeedMoreLeavesInfoUntouched) {
  ReplyScanner scanner;
  ReplyInfo info{42, 'x', ErrorKind::kAsk};
  ASSERT_EQ(scanner.scan("*2\r\n:1\r\n", &info), ScanStatus::kNeedMore);
  EXPECT_EQ(info.frame_len, 42u);
  EXPECT_EQ(info.type, 'x');
}

std::string deepArray(size_t depth) {
  std::string s;
  s.reserve(depth * 4 + 4);
  for (size_t i = 0; i < depth; ++i) s += "*1\r\n";
  s += ":1\r\n";
  return s;
}

TEST(ReplyScannerTest, DeepNestingFramedWhole) {
  const std::string reply = deepArray(100000) + "+next\r\n";
  ReplyScanner scanner;
  ReplyInfo info;
  ASSERT_EQ(scanner.scan(reply, &info), ScanStatus::kOk);
  EXPECT_EQ(info.frame_len, 100000u * 4 + 4);
  EXPECT_EQ(info.type, '*');
  ASSERT_EQ(scanner.scan(std::string_view(reply).substr(info.frame_len), &info), ScanStatus::kOk);
  EXPECT_EQ(info.type, '+');
}

TEST(ReplyScannerTest, DeepNestingFedByteByByteIsLinear) {
  // ~400 KB fed one byte at a time: O(n^2) work here would take minutes, O(n) takes milliseconds.
  const std::string reply = deepArray(100000);
  ReplyScanner scanner;
  ReplyInfo info;
  ScanStatus status = ScanStatus::kNeedMore;
  size_t n = 0;
  while (status == ScanStatus::kNeedMore && n < reply.size()) {
    status = scanner.scan(std::string_view(reply.data(), ++n), &info);
  }
  ASSERT_EQ(status, ScanStatus::kOk);
  EXPECT_EQ(n, reply.size());
  EXPECT_EQ(info.frame_len, reply.size());
}

TEST(ReplyScannerTest, DeepNestingAtRandomSplits) {
  const std::string reply = deepArray(100000);
  for (const test::SplitPlan& plan : test::splitPlans(reply.size(), 2)) {
    if (plan.name == "bytewise") continue;  // covered above without copies
    ReplyScanner scanner;
    std::vector<size_t> lens;
    size_t leftover = 0;
    auto step = [&](std::string_view data) {
      ReplyInfo info;
      const ScanStatus s = scanner.scan(data, &info);
      if (s != ScanStatus::kOk) {
        return test::StepResult{s == ScanStatus::kError ? test::StepKind::kError
                                                        : test::StepKind::kNeedMore};
      }
      lens.push_back(info.frame_len);
      return test::StepResult{test::StepKind::kConsumed, info.frame_len};
    };
    ASSERT_TRUE(test::feedPlan(reply, plan, step, &leftover)) << plan.name;
    EXPECT_EQ(lens, std::vector<size_t>{reply.size()}) << plan.name;
  }
}

TEST(ReplyScannerTest, LargeBulkSkippedWithoutCopy) {
  std::string reply = "$" + std::to_string(8 << 20) + "\r\n";
  reply.append(8 << 20, 'x');
  reply += "\r\n";
  ReplyScanner scanner;
  ReplyInfo info;
  ASSERT_EQ(scanner.scan(std::string_view(reply).substr(0, 1000), &info), ScanStatus::kNeedMore);
  ASSERT_EQ(scanner.scan(reply, &info), ScanStatus::kOk);
  EXPECT_EQ(info.frame_len, reply.size());
}

TEST(ClassifyErrorTest, FirstWordOnly) {
  EXPECT_EQ(classifyError("MOVED 1 h:1"), ErrorKind::kMoved);
  EXPECT_EQ(classifyError("ASK 1 h:1"), ErrorKind::kAsk);
  EXPECT_EQ(classifyError("TRYAGAIN x"), ErrorKind::kTryAgain);
  EXPECT_EQ(classifyError("CLUSTERDOWN x"), ErrorKind::kClusterDown);
  EXPECT_EQ(classifyError("READONLY You can't write against a read only replica."),
            ErrorKind::kReadOnly);
  EXPECT_EQ(classifyError("moved 1 h:1"), ErrorKind::kOther);
  EXPECT_EQ(classifyError("ERR MOVED"), ErrorKind::kOther);
  EXPECT_EQ(classifyError(""), ErrorKind::kOther);
}

}  // namespace
}  // namespace slotwise::resp
