// RESP encoding helpers. Every function appends to `out` (never clears it) and allocates only
// when `out` has to grow. Integers are formatted with std::to_chars.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>

#include "resp/command.h"
#include "resp/value.h"

namespace slotwise::resp {

// "+s\r\n". CR and LF inside `s` are replaced by spaces so the frame stays well formed.
void appendSimpleString(std::string& out, std::string_view s);

// "-msg\r\n". `msg` is the whole error text including its code, e.g. "ERR unknown command";
// CR and LF inside it are replaced by spaces.
void appendError(std::string& out, std::string_view msg);

// ":n\r\n".
void appendInteger(std::string& out, int64_t n);

// "$len\r\nbytes\r\n"; binary safe.
void appendBulk(std::string& out, std::string_view bytes);

// Text for humans as Redis sends it (INFO, CLIENT LIST): a bulk string in RESP2, a verbatim
// string "=len\r\ntxt:text\r\n" in RESP3 (`proto` 3).
void appendText(std::string& out, std::string_view text, int proto);

// "$-1\r\n" (RESP2 null bulk string).
void appendNullBulk(std::string& out);

// "*-1\r\n" (RESP2 null array).
void appendNullArray(std::string& out);

// "*n\r\n"; the caller appends the n elements next.
void appendArrayHeader(std::string& out, size_t n);

// A request in multibulk form: "*N\r\n" then one bulk string per argument. The views need only
// live for the duration of the call.
void appendCommand(std::string& out, std::span<const std::string_view> args);
void appendCommand(std::string& out, std::initializer_list<std::string_view> args);

// Re-encodes any parsed Command (multibulk or inline) as multibulk; cmd's argument views must
// still be valid (see Command). An argc() == 0 command appends "*0\r\n".
void appendCommandFrom(std::string& out, const Command& cmd);

// Encodes `v` and all its elements. RESP3 types use RESP3 syntax (",", "#", "(", "=", "!", "%",
// "~", "|", ">"); kNull is written as the RESP2 null bulk "$-1\r\n", which every client accepts.
// A kAttribute with an odd element count (as ValueDecoder produces) is followed by its annotated
// value, its last element. Iterative: nesting depth is not limited by the call stack.
// REQUIRES: a kMap has an even number of elements (key, value, ...).
void encodeValue(const RespValue& v, std::string& out);

// Human-readable one-line rendering for logs and test failure messages, in the spirit of
// redis-cli, e.g. ["GET", (integer) 5, (nil), OK, (error) ERR x, {"k": "v"}, (set) ["a"]].
// Bulk strings are quoted; non-printable bytes are shown as C escapes. Not a wire format.
std::string toString(const RespValue& v);

}  // namespace slotwise::resp
