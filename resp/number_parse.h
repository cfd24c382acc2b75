// Hand-written decimal parsing shared by the RESP parsers (hot path: no locale, no allocation).
#pragma once

#include <cstddef>
#include <cstdint>

namespace slotwise::resp {

// Parses p[0..len) as a decimal integer with redis-server's string2ll rules: an optional '-',
// then digits with no leading zero ("0" alone is fine, "-0" and "01" are not), nothing else.
// Accepts at most 18 digits, so the value always fits in int64_t; longer numbers are rejected,
// which is safe because every RESP length limit is far below 10^18.
// Returns false (leaving *value untouched) when the text is not such a number.
inline bool parseDecimal(const char* p, size_t len, int64_t* value) {
  constexpr size_t kMaxDigits = 18;
  bool negative = false;
  if (len > 0 && p[0] == '-') {
    negative = true;
    ++p;
    --len;
  }
  if (len == 0 || len > kMaxDigits) return false;
  if (p[0] == '0') {
    if (len != 1 || negative) return false;
    *value = 0;
    return true;
  }
  int64_t v = 0;
  for (size_t i = 0; i < len; ++i) {
    const unsigned digit = static_cast<unsigned char>(p[i]) - '0';
    if (digit > 9) return false;
    v = v * 10 + digit;
  }
  *value = negative ? -v : v;
  return true;
}

}  // namespace slotwise::resp
