// strCat: concatenates strings and integers into one message, for modules that do not link fmt
// (resp, router, config keep their dependencies minimal).
#pragma once

#include <concepts>
#include <string>
#include <string_view>

namespace slotwise {

namespace str_cat_detail {
inline void appendPart(std::string* out, std::string_view text) { out->append(text); }
inline void appendPart(std::string* out, char c) { out->push_back(c); }
template <std::integral T>
  requires(!std::same_as<T, char> && !std::same_as<T, bool>)
void appendPart(std::string* out, T number) {
  out->append(std::to_string(number));
}
}  // namespace str_cat_detail

template <typename... Parts>
std::string strCat(const Parts&... parts) {
  std::string out;
  (str_cat_detail::appendPart(&out, parts), ...);
  return out;
}

}  // namespace slotwise
