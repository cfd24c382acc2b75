#include "resp/encoder.h"

#include <charconv>
#include <vector>

namespace slotwise::resp {
namespace {

// Appends prefix, the decimal form of n, and CRLF, formatting on the stack.
template <typename Int>
void appendNumberLine(std::string& out, char prefix, Int n) {
  char buf[32];
  buf[0] = prefix;
  const auto result = std::to_chars(buf + 1, buf + sizeof(buf) - 2, n);
  result.ptr[0] = '\r';
  result.ptr[1] = '\n';
  out.append(buf, result.ptr + 2 - buf);
}

// Appends prefix + s + CRLF with any CR/LF inside s turned into spaces.
void appendSafeLine(std::string& out, char prefix, std::string_view s) {
  const size_t start = out.size() + 1;
  out.push_back(prefix);
  out.append(s);
  for (size_t i = start; i < out.size(); ++i) {
    if (out[i] == '\r' || out[i] == '\n') out[i] = ' ';
  }
  out.append("\r\n", 2);
}

void appendBlob(std::string& out, char prefix, std::string_view bytes) {
  appendNumberLine(out, prefix, bytes.size());
  out.append(bytes);
  out.append("\r\n", 2);
}

char aggregatePrefix(ValueType type) {
  switch (type) {
    case ValueType::kMap: return '%';
    case ValueType::kSet: return '~';
    case ValueType::kAttribute: return '|';
    case ValueType::kPush: return '>';
    default: return '*';
  }
}

// Writes a scalar, or an aggregate's header. Returns true if the value's elements follow.
bool encodeHead(const RespValue& v, std::string& out) {
  switch (v.type) {
    case ValueType::kSimpleString: appendSafeLine(out, '+', v.str); return false;
    case ValueType::kError: appendSafeLine(out, '-', v.str); return false;
    case ValueType::kInteger: appendNumberLine(out, ':', v.integer); return false;
    case ValueType::kBulkString: appendBlob(out, '$', v.str); return false;
    case ValueType::kNull: appendNullBulk(out); return false;
    case ValueType::kDouble: appendSafeLine(out, ',', v.str); return false;
    case ValueType::kBoolean: out.append(v.integer != 0 ? "#t\r\n" : "#f\r\n", 4); return false;
    case ValueType::kBigNumber: appendSafeLine(out, '(', v.str); return false;
    case ValueType::kVerbatim: appendBlob(out, '=', v.str); return false;
    case ValueType::kBlobError: appendBlob(out, '!', v.str); return false;
    case ValueType::kMap:
    case ValueType::kAttribute:
      appendNumberLine(out, aggregatePrefix(v.type), v.elements.size() / 2);
      return true;
    case ValueType::kArray:
    case ValueType::kSet:
    case ValueType::kPush:
      appendNumberLine(out, aggregatePrefix(v.type), v.elements.size());
      return true;
  }
  return false;
}

// An aggregate being walked, and the index of its next element.
struct Cursor {
  const RespValue* value;
  size_t next;
};

void appendEscaped(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out.append("\\n");
    } else if (c == '\r') {
      out.append("\\r");
    } else if (c == '\t') {
      out.append("\\t");
    } else if (u < 0x20 || u >= 0x7f) {
      out.append("\\x");
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 0xf]);
    } else {
      out.push_back(c);
    }
  }
}

void appendQuoted(std::string& out, std::string_view s) {
  out.push_back('"');
  appendEscaped(out, s);
  out.push_back('"');
}

// Renders a scalar, or an aggregate's opening bracket. Returns true if elements follow.
bool renderHead(const RespValue& v, std::string& out) {
  switch (v.type) {
    case ValueType::kSimpleString: appendEscaped(out, v.str); return false;
    case ValueType::kError:
    case ValueType::kBlobError:
      out.append("(error) ");
      appendEscaped(out, v.str);
      return false;
    case ValueType::kInteger: out.append("(integer) " + std::to_string(v.integer)); return false;
    case ValueType::kBulkString: appendQuoted(out, v.str); return false;
    case ValueType::kNull: out.append("(nil)"); return false;
    case ValueType::kDouble: out.append("(double) " + v.str); return false;
    case ValueType::kBoolean: out.append(v.integer != 0 ? "(true)" : "(false)"); return false;
    case ValueType::kBigNumber: out.append("(big number) " + v.str); return false;
    case ValueType::kVerbatim:
      out.append("(verbatim) ");
      appendQuoted(out, v.str);
      return false;
    case ValueType::kMap: out.append("{"); return true;
    case ValueType::kArray: out.append("["); return true;
    case ValueType::kSet: out.append("(set) ["); return true;
    case ValueType::kPush: out.append("(push) ["); return true;
    case ValueType::kAttribute: out.append("(attr) ["); return true;
  }
  return false;
}

// Separator written before element `index` of `parent`.
const char* separator(const RespValue& parent, size_t index) {
  if (index == 0) return "";
  if (parent.type == ValueType::kMap && index % 2 == 1) return ": ";
  return ", ";
}

}  // namespace

void appendSimpleString(std::string& out, std::string_view s) { appendSafeLine(out, '+', s); }

void appendError(std::string& out, std::string_view msg) { appendSafeLine(out, '-', msg); }

void appendInteger(std::string& out, int64_t n) { appendNumberLine(out, ':', n); }

void appendBulk(std::string& out, std::string_view bytes) { appendBlob(out, '$', bytes); }

void appendText(std::string& out, std::string_view text, int proto) {
  if (proto != 3) {
    appendBulk(out, text);
    return;
  }
  appendNumberLine(out, '=', text.size() + 4);
  out.append("txt:");
  out.append(text);
  out.append("\r\n");
}

void appendNullBulk(std::string& out) { out.append("$-1\r\n", 5); }

void appendNullArray(std::string& out) { out.append("*-1\r\n", 5); }

void appendArrayHeader(std::string& out, size_t n) { appendNumberLine(out, '*', n); }

void appendCommand(std::string& out, std::span<const std::string_view> args) {
  appendArrayHeader(out, args.size());
  for (const std::string_view arg : args) appendBulk(out, arg);
}

void appendCommand(std::string& out, std::initializer_list<std::string_view> args) {
  appendCommand(out, std::span<const std::string_view>(args.begin(), args.size()));
}

void appendCommandFrom(std::string& out, const Command& cmd) {
  appendArrayHeader(out, cmd.argc());
  for (size_t i = 0; i < cmd.argc(); ++i) appendBulk(out, cmd.arg(i));
}

void encodeValue(const RespValue& v, std::string& out) {
  std::vector<Cursor> stack;
  const RespValue* current = &v;
  while (current != nullptr) {
    if (encodeHead(*current, out) && !current->elements.empty()) stack.push_back({current, 0});
    current = nullptr;
    while (!stack.empty() && current == nullptr) {
      Cursor& top = stack.back();
      if (top.next < top.value->elements.size()) {
        current = &top.value->elements[top.next++];
      } else {
        stack.pop_back();
      }
    }
  }
}

std::string toString(const RespValue& v) {
  std::string out;
  std::vector<Cursor> stack;
  const RespValue* current = &v;
  while (current != nullptr) {
    if (renderHead(*current, out)) stack.push_back({current, 0});
    current = nullptr;
    while (!stack.empty() && current == nullptr) {
      Cursor& top = stack.back();
      if (top.next < top.value->elements.size()) {
        out.append(separator(*top.value, top.next));
        current = &top.value->elements[top.next++];
      } else {
        out.append(top.value->type == ValueType::kMap ? "}" : "]");
        stack.pop_back();
      }
    }
  }
  return out;
}

}  // namespace slotwise::resp
