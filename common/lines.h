// Line splitting for the text replies of Redis (INFO, CLUSTER NODES): "\r\n" or "\n" separated.
#pragma once

#include <string_view>

namespace slotwise {

// Calls fn(line) for each line of `text`, split at '\n' with a trailing '\r' removed. A final line
// without '\n' counts; the empty remainder after a final '\n' does not.
template <typename Fn>
void forEachLine(std::string_view text, Fn&& fn) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    fn(line);
  }
}

}  // namespace slotwise
