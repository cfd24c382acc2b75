#include "resp/value_decoder.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "resp/encoder.h"
#include "split_feeder.h"

namespace slotwise::resp {
namespace {

using namespace std::string_literals;

RespValue make(ValueType type, std::string str = {}, int64_t integer = 0,
               std::vector<RespValue> elements = {}) {
  return {type, std::move(str), integer, std::move(elements)};
}

RespValue agg(ValueType type, std::vector<RespValue> elements) {
  return make(type, {}, 0, std::move(elements));
}

struct DecodeCase {
  std::string name;
  std::string input;
  RespValue expected;
};

// Names the case in gtest output instead of dumping its bytes.
void PrintTo(const DecodeCase& c, std::ostream* os) { *os << c.name; }

const DecodeCase kCases[] = {
    {"Simple", "+OK\r\n", RespValue::simple("OK")},
    {"Error", "-ERR wrong\r\n", RespValue::error("ERR wrong")},
    {"Integer", ":-42\r\n", RespValue::integerValue(-42)},
    {"IntegerMax", ":9223372036854775807\r\n", RespValue::integerValue(INT64_MAX)},
    {"IntegerMin", ":-9223372036854775808\r\n", RespValue::integerValue(INT64_MIN)},
    {"Bulk", "$5\r\nhe\0\r\n\r\n"s, RespValue::bulk("he\0\r\n"s)},
    {"EmptyBulk", "$0\r\n\r\n", RespValue::bulk("")},
    {"NullBulk", "$-1\r\n", RespValue::null()},
    {"NullArray", "*-1\r\n", RespValue::null()},
    {"Resp3Null", "_\r\n", RespValue::null()},
    {"EmptyArray", "*0\r\n", RespValue::array({})},
    {"Array", "*3\r\n$3\r\nGET\r\n:1\r\n$-1\r\n",
     RespValue::array({RespValue::bulk("GET"), RespValue::integerValue(1), RespValue::null()})},
    {"Nested", "*2\r\n*1\r\n+a\r\n*0\r\n",
     RespValue::array({RespValue::array({RespValue::simple("a")}), RespValue::array({})})},
    {"Double", ",1.5e3\r\n", make(ValueType::kDouble, "1.5e3")},
    {"True", "#t\r\n", make(ValueType::kBoolean, {}, 1)},
    {"False", "#f\r\n", make(ValueType::kBoolean, {}, 0)},
    {"BigNumber", "(123456789012345678901234567890\r\n",
     make(ValueType::kBigNumber, "123456789012345678901234567890")},
    {"Verbatim", "=9\r\ntxt:hello\r\n", make(ValueType::kVerbatim, "txt:hello")},
    {"BlobError", "!10\r\nSYNTAX bad\r\n", make(ValueType::kBlobError, "SYNTAX bad")},
    {"Map", "%2\r\n+a\r\n:1\r\n+b\r\n:2\r\n",
     agg(ValueType::kMap, {RespValue::simple("a"), RespValue::integerValue(1),
                           RespValue::simple("b"), RespValue::integerValue(2)})},
    {"Set", "~2\r\n+a\r\n+b\r\n",
     agg(ValueType::kSet, {RespValue::simple("a"), RespValue::simple("b")})},
    {"Push", ">2\r\n+message\r\n$2\r\nhi\r\n",
     agg(ValueType::kPush, {RespValue::simple("message"), RespValue::bulk("hi")})},
    {"Attribute", "|1\r\n+ttl\r\n:3\r\n$1\r\nv\r\n",
     agg(ValueType::kAttribute,
         {RespValue::simple("ttl"), RespValue::integerValue(3), RespValue::bulk("v")})},
    {"NestedAttribute", "*2\r\n|1\r\n+k\r\n+v\r\n:1\r\n:2\r\n",
     RespValue::array({agg(ValueType::kAttribute, {RespValue::simple("k"), RespValue::simple("v"),
                                                   RespValue::integerValue(1)}),
                       RespValue::integerValue(2)})},
    {"ClusterSlotsShape",
     "*1\r\n*3\r\n:0\r\n:5460\r\n*3\r\n$9\r\n127.0.0.1\r\n:7000\r\n$4\r\nabcd\r\n",
     RespValue::array({RespValue::array(
         {RespValue::integerValue(0), RespValue::integerValue(5460),
          RespValue::array({RespValue::bulk("127.0.0.1"), RespValue::integerValue(7000),
                            RespValue::bulk("abcd")})})})},
};

class ValueDecoderTableTest : public ::testing::TestWithParam<DecodeCase> {};

TEST_P(ValueDecoderTableTest, DecodeOne) {
  const DecodeCase& c = GetParam();
  const Result<RespValue> r = decodeOne(c.input);
  ASSERT_TRUE(r.isOk()) << r.error();
  EXPECT_EQ(*r, c.expected) << toString(*r) << " vs " << toString(c.expected);
}

TEST_P(ValueDecoderTableTest, IncrementalAtEverySplit) {
  const DecodeCase& c = GetParam();
  const std::string input = c.input + c.input;  // two values back to back
  for (const test::SplitPlan& plan : test::splitPlans(input.size())) {
    SCOPED_TRACE(plan.name);
    ValueDecoder decoder;
    std::vector<RespValue> values;
    auto step = [&](std::string_view data) {
      RespValue v;
      size_t consumed = 0;
      const ScanStatus s = decoder.decode(data, &v, &consumed);
      if (s == ScanStatus::kNeedMore) return test::StepResult{test::StepKind::kNeedMore};
      if (s == ScanStatus::kError) return test::StepResult{test::StepKind::kError};
      values.push_back(std::move(v));
      return test::StepResult{test::StepKind::kConsumed, consumed};
    };
    size_t leftover = 0;
    ASSERT_TRUE(test::feedPlan(input, plan, step, &leftover)) << decoder.error();
    EXPECT_EQ(leftover, 0u);
    EXPECT_EQ(values, (std::vector<RespValue>{c.expected, c.expected}));
  }
}

TEST_P(ValueDecoderTableTest, EncodeRoundTrip) {
  const DecodeCase& c = GetParam();
  std::string encoded;
  encodeValue(c.expected, encoded);
  const Result<RespValue> r = decodeOne(encoded);
  ASSERT_TRUE(r.isOk()) << r.error();
  EXPECT_EQ(*r, c.expected);
}

INSTANTIATE_TEST_SUITE_P(Values, ValueDecoderTableTest, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return info.param.name; });

TEST(DecodeOneTest, RejectsMalformedIncompleteAndTrailing) {
  EXPECT_FALSE(decodeOne("?\r\n").isOk());
  EXPECT_FALSE(decodeOne("$-2\r\n").isOk());
  EXPECT_FALSE(decodeOne("").isOk());
  const Result<RespValue> incomplete = decodeOne("*2\r\n:1\r\n");
  ASSERT_FALSE(incomplete.isOk());
  EXPECT_NE(incomplete.error().find("incomplete"), std::string::npos);
  const Result<RespValue> trailing = decodeOne("+OK\r\n+OK\r\n");
  ASSERT_FALSE(trailing.isOk());
  EXPECT_NE(trailing.error().find("after"), std::string::npos);
  const Result<RespValue> range = decodeOne(":9223372036854775808\r\n");
  ASSERT_FALSE(range.isOk());
  EXPECT_NE(range.error().find("range"), std::string::npos);
}

TEST(DecodeValueTest, ReportsConsumedAndLeavesRest) {
  RespValue v = RespValue::simple("untouched");
  size_t consumed = 99;
  std::string error;
  EXPECT_EQ(decodeValue("*2\r\n:1", &v, &consumed, &error), ScanStatus::kNeedMore);
  EXPECT_EQ(v, RespValue::simple("untouched"));
  EXPECT_EQ(consumed, 99u);
  ASSERT_EQ(decodeValue(":7\r\n+rest", &v, &consumed, &error), ScanStatus::kOk);
  EXPECT_EQ(v, RespValue::integerValue(7));
  EXPECT_EQ(consumed, 4u);
  EXPECT_EQ(decodeValue("#maybe\r\n", &v, &consumed, &error), ScanStatus::kError);
  EXPECT_NE(error.find("boolean"), std::string::npos);
  EXPECT_EQ(decodeValue("?\r\n", &v, &consumed, nullptr), ScanStatus::kError);
}

std::string deepArray(size_t depth) {
  std::string s;
  for (size_t i = 0; i < depth; ++i) s += "*1\r\n";
  return s + ":1\r\n";
}

TEST(DecodeDepthTest, DecodesUpToLimit) {
  const Result<RespValue> r = decodeOne(deepArray(kMaxValueDepth));
  ASSERT_TRUE(r.isOk()) << r.error();
  const RespValue* v = &*r;
  size_t depth = 0;
  while (v->type == ValueType::kArray) {
    ASSERT_EQ(v->elements.size(), 1u);
    v = &v->elements[0];
    ++depth;
  }
  EXPECT_EQ(depth, kMaxValueDepth);
  EXPECT_EQ(*v, RespValue::integerValue(1));
}

TEST(DecodeDepthTest, RejectsDeeperWithoutCrashing) {
  const Result<RespValue> just_over = decodeOne(deepArray(kMaxValueDepth + 1));
  ASSERT_FALSE(just_over.isOk());
  EXPECT_NE(just_over.error().find("nested deeper"), std::string::npos);
  EXPECT_FALSE(decodeOne(deepArray(100000)).isOk());
}

TEST(DecodeDepthTest, ValueDecoderErrorIsStickyUntilReset) {
  ValueDecoder decoder;
  RespValue v;
  size_t consumed = 0;
  ASSERT_EQ(decoder.decode(deepArray(kMaxValueDepth + 1), &v, &consumed), ScanStatus::kError);
  EXPECT_FALSE(decoder.error().empty());
  EXPECT_EQ(decoder.decode("+OK\r\n", &v, &consumed), ScanStatus::kError);
  decoder.reset();
  ASSERT_EQ(decoder.decode("+OK\r\n", &v, &consumed), ScanStatus::kOk);
  EXPECT_EQ(v, RespValue::simple("OK"));
}

TEST(RoundTripTest, EveryTypeInOneTree) {
  const RespValue tree = agg(
      ValueType::kPush,
      {RespValue::simple("s"), RespValue::error("ERR e"), RespValue::integerValue(-1),
       RespValue::bulk("b\r\n\0"s), RespValue::null(), make(ValueType::kDouble, "-0.5"),
       make(ValueType::kBoolean, {}, 1), make(ValueType::kBigNumber, "-99999999999999999999"),
       make(ValueType::kVerbatim, "mkd:# t"), make(ValueType::kBlobError, "X\r\ny"),
       agg(ValueType::kMap, {RespValue::bulk("k"), agg(ValueType::kSet, {RespValue::bulk("m")})}),
       agg(ValueType::kAttribute,
           {RespValue::simple("a"), RespValue::integerValue(2), RespValue::array({})}),
       RespValue::array({RespValue::array({RespValue::array({RespValue::bulk("deep")})})})});
  std::string encoded;
  encodeValue(tree, encoded);
  const Result<RespValue> r = decodeOne(encoded);
  ASSERT_TRUE(r.isOk()) << r.error();
  EXPECT_EQ(*r, tree) << toString(*r);
}

}  // namespace
}  // namespace slotwise::resp
