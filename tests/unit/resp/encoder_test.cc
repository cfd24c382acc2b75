#include "resp/encoder.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "resp/request_parser.h"
#include "resp/value_decoder.h"

namespace slotwise::resp {
namespace {

using namespace std::string_literals;

RespValue make(ValueType type, std::string str = {}, int64_t integer = 0,
               std::vector<RespValue> elements = {}) {
  return {type, std::move(str), integer, std::move(elements)};
}

TEST(EncoderTest, Scalars) {
  std::string out = "prefix|";
  appendSimpleString(out, "OK");
  appendError(out, "ERR bad");
  appendInteger(out, 0);
  appendInteger(out, -123);
  appendInteger(out, INT64_MIN);
  appendBulk(out, "a\0\r\n"s);
  appendBulk(out, "");
  appendNullBulk(out);
  appendNullArray(out);
  appendArrayHeader(out, 12);
  EXPECT_EQ(out,
            "prefix|+OK\r\n-ERR bad\r\n:0\r\n:-123\r\n:-9223372036854775808\r\n"
            "$4\r\na\0\r\n\r\n$0\r\n\r\n$-1\r\n*-1\r\n*12\r\n"s);
}

TEST(EncoderTest, LineRepliesNeverContainCrLf) {
  std::string out;
  appendError(out, "ERR line1\r\nline2\n");
  appendSimpleString(out, "a\rb");
  EXPECT_EQ(out, "-ERR line1  line2 \r\n+a b\r\n");
}

TEST(EncoderTest, CommandFromInitializerListAndSpan) {
  std::string a;
  appendCommand(a, {"SET", "key", "v\r\n"});
  EXPECT_EQ(a, "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$3\r\nv\r\n\r\n");
  const std::vector<std::string_view> args{"SET", "key", "v\r\n"};
  std::string b;
  appendCommand(b, std::span<const std::string_view>(args));
  EXPECT_EQ(a, b);
  std::string empty;
  appendCommand(empty, std::span<const std::string_view>());
  EXPECT_EQ(empty, "*0\r\n");
}

TEST(EncoderTest, CommandFromInlineReparsesToSameArgs) {
  RequestParser parser;
  Command inline_cmd;
  ASSERT_EQ(parser.parse("set \"a b\" '\\'c' \"\\x00\"\r\n", &inline_cmd), ParseStatus::kOk);
  ASSERT_TRUE(inline_cmd.is_inline);
  std::string encoded;
  appendCommandFrom(encoded, inline_cmd);
  EXPECT_EQ(encoded, "*4\r\n$3\r\nset\r\n$3\r\na b\r\n$2\r\n'c\r\n$1\r\n\0\r\n"s);
  Command multibulk;
  ASSERT_EQ(parser.parse(encoded, &multibulk), ParseStatus::kOk);
  ASSERT_EQ(multibulk.argc(), inline_cmd.argc());
  for (size_t i = 0; i < multibulk.argc(); ++i) EXPECT_EQ(multibulk.arg(i), inline_cmd.arg(i));
}

TEST(EncoderTest, CommandFromMultibulkIsIdentical) {
  const std::string frame = "*2\r\n$3\r\nGET\r\n$4\r\nk\r\nx\r\n";
  RequestParser parser;
  Command cmd;
  ASSERT_EQ(parser.parse(frame, &cmd), ParseStatus::kOk);
  std::string out;
  appendCommandFrom(out, cmd);
  EXPECT_EQ(out, frame);
}

struct EncodeCase {
  std::string name;
  RespValue value;
  std::string wire;
};

// Names the case in gtest output instead of dumping its bytes.
void PrintTo(const EncodeCase& c, std::ostream* os) { *os << c.name; }

const EncodeCase kEncodeCases[] = {
    {"Simple", RespValue::simple("PONG"), "+PONG\r\n"},
    {"Error", RespValue::error("MOVED 1 h:2"), "-MOVED 1 h:2\r\n"},
    {"Integer", RespValue::integerValue(42), ":42\r\n"},
    {"Bulk", RespValue::bulk("x\r\ny"), "$4\r\nx\r\ny\r\n"},
    {"Null", RespValue::null(), "$-1\r\n"},
    {"Double", make(ValueType::kDouble, "inf"), ",inf\r\n"},
    {"BooleanTrue", make(ValueType::kBoolean, {}, 1), "#t\r\n"},
    {"BooleanFalse", make(ValueType::kBoolean, {}, 0), "#f\r\n"},
    {"BigNumber", make(ValueType::kBigNumber, "123"), "(123\r\n"},
    {"Verbatim", make(ValueType::kVerbatim, "txt:hi"), "=6\r\ntxt:hi\r\n"},
    {"BlobError", make(ValueType::kBlobError, "ERR x"), "!5\r\nERR x\r\n"},
    {"Array", RespValue::array({RespValue::integerValue(1), RespValue::null()}),
     "*2\r\n:1\r\n$-1\r\n"},
    {"EmptyArray", RespValue::array({}), "*0\r\n"},
    {"Map",
     make(ValueType::kMap, {}, 0, {RespValue::simple("k"), RespValue::integerValue(1)}),
     "%1\r\n+k\r\n:1\r\n"},
    {"Set", make(ValueType::kSet, {}, 0, {RespValue::simple("a")}), "~1\r\n+a\r\n"},
    {"Push", make(ValueType::kPush, {}, 0, {RespValue::bulk("m")}), ">1\r\n$1\r\nm\r\n"},
    {"AttributeWithValue",
     make(ValueType::kAttribute, {}, 0,
          {RespValue::simple("k"), RespValue::simple("v"), RespValue::integerValue(9)}),
     "|1\r\n+k\r\n+v\r\n:9\r\n"},
    {"AttributePairsOnly",
     make(ValueType::kAttribute, {}, 0, {RespValue::simple("k"), RespValue::simple("v")}),
     "|1\r\n+k\r\n+v\r\n"},
    {"Nested",
     RespValue::array({RespValue::array({RespValue::bulk("a")}), RespValue::array({})}),
     "*2\r\n*1\r\n$1\r\na\r\n*0\r\n"},
};

class EncodeValueTest : public ::testing::TestWithParam<EncodeCase> {};

TEST_P(EncodeValueTest, ExactWireBytes) {
  std::string out = "keep";
  encodeValue(GetParam().value, out);
  EXPECT_EQ(out, "keep" + GetParam().wire);
}

INSTANTIATE_TEST_SUITE_P(Values, EncodeValueTest, ::testing::ValuesIn(kEncodeCases),
                         [](const auto& info) { return info.param.name; });

TEST(EncodeValueTest, DeepTreeIsEncodedIteratively) {
  // Built and torn down by hand: RespValue's own destructor recurses.
  constexpr size_t kDepth = 100000;
  RespValue leaf = RespValue::integerValue(5);
  RespValue root = RespValue::array({});
  RespValue* cursor = &root;
  for (size_t i = 1; i < kDepth; ++i) {
    cursor->elements.push_back(RespValue::array({}));
    cursor = &cursor->elements.back();
  }
  cursor->elements.push_back(leaf);
  std::string out;
  encodeValue(root, out);
  std::string expected;
  for (size_t i = 0; i < kDepth; ++i) expected += "*1\r\n";
  expected += ":5\r\n";
  EXPECT_EQ(out, expected);
  // Unlink level by level so no destructor recurses deeply.
  RespValue current = std::move(root);
  while (!current.elements.empty()) {
    RespValue next = std::move(current.elements.back());
    current.elements.clear();
    current = std::move(next);
  }
}

TEST(ToStringTest, RendersEveryType) {
  const RespValue v = RespValue::array(
      {RespValue::simple("OK"), RespValue::error("ERR x"), RespValue::integerValue(3),
       RespValue::bulk("a\"b\n\x01"), RespValue::null(), make(ValueType::kDouble, "1.5"),
       make(ValueType::kBoolean, {}, 1), make(ValueType::kBigNumber, "12"),
       make(ValueType::kVerbatim, "txt:t"), make(ValueType::kBlobError, "E"),
       make(ValueType::kMap, {}, 0, {RespValue::bulk("k"), RespValue::bulk("v")}),
       make(ValueType::kSet, {}, 0, {RespValue::bulk("s")}),
       make(ValueType::kPush, {}, 0, {}), make(ValueType::kAttribute, {}, 0, {})});
  EXPECT_EQ(toString(v),
            "[OK, (error) ERR x, (integer) 3, \"a\\\"b\\n\\x01\", (nil), (double) 1.5, (true), "
            "(big number) 12, (verbatim) \"txt:t\", (error) E, {\"k\": \"v\"}, (set) [\"s\"], "
            "(push) [], (attr) []]");
}

}  // namespace
}  // namespace slotwise::resp
