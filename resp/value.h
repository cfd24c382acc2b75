// RespValue: a decoded RESP2/RESP3 value tree. Control plane only (CLUSTER SLOTS, INFO,
// COMMAND, fan-out merges); the data path never builds trees, it frames raw bytes with
// ReplyScanner and copies them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace slotwise::resp {

enum class ValueType : uint8_t {
  kSimpleString,  // +
  kError,         // -   (str holds the message without '-' and CRLF)
  kInteger,       // :
  kBulkString,    // $
  kArray,         // *
  kNull,          // $-1, *-1 or RESP3 _
  kDouble,        // ,   (str holds the textual form)
  kBoolean,       // #   (integer is 0 or 1)
  kBigNumber,     // (   (str holds the digits)
  kVerbatim,      // =   (str holds "txt:..." payload as sent)
  kBlobError,     // !
  kMap,           // %   (elements hold key, value, key, value ...)
  kSet,           // ~
  kAttribute,     // |   (elements hold key, value pairs)
  kPush,          // >
};

struct RespValue {
  ValueType type = ValueType::kNull;
  std::string str;                  // strings, errors, doubles, big numbers
  int64_t integer = 0;              // integers and booleans
  std::vector<RespValue> elements;  // arrays, maps (flattened pairs), sets, pushes

  static RespValue simple(std::string s) { return {ValueType::kSimpleString, std::move(s), 0, {}}; }
  static RespValue error(std::string s) { return {ValueType::kError, std::move(s), 0, {}}; }
  static RespValue bulk(std::string s) { return {ValueType::kBulkString, std::move(s), 0, {}}; }
  static RespValue integerValue(int64_t i) { return {ValueType::kInteger, {}, i, {}}; }
  static RespValue null() { return {}; }
  static RespValue array(std::vector<RespValue> e) { return {ValueType::kArray, {}, 0, std::move(e)}; }

  bool isError() const { return type == ValueType::kError || type == ValueType::kBlobError; }
  bool isString() const {
    return type == ValueType::kSimpleString || type == ValueType::kBulkString ||
           type == ValueType::kVerbatim;
  }
  bool isAggregate() const {
    return type == ValueType::kArray || type == ValueType::kMap || type == ValueType::kSet ||
           type == ValueType::kPush || type == ValueType::kAttribute;
  }
  bool operator==(const RespValue&) const = default;
};

}  // namespace slotwise::resp
