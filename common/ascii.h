// ASCII helpers for command and option names (Redis compares them case-insensitively, ASCII only).
#pragma once

#include <string_view>

namespace slotwise {

constexpr char toLowerAscii(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c;
}

// True when `a` and `b` are equal ignoring ASCII case ("GET" == "get"); no locale, no allocation.
constexpr bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (toLowerAscii(a[i]) != toLowerAscii(b[i])) return false;
  }
  return true;
}

}  // namespace slotwise
