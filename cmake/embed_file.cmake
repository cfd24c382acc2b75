# Build-time embedding of a file into the binary, in plain CMake (no xxd needed).
#
#   cmake -DINPUT=<file> -DOUTPUT=<file.cc> -DHEADER=<include path> -DFUNCTION=<ns::name>
#         -P embed_file.cmake
#
# writes OUTPUT: a C++ source that includes HEADER and defines `std::string_view FUNCTION()`,
# returning the bytes of INPUT unchanged (any byte value, NUL included; no terminator counted).
# The bytes live in a static array, so the view stays valid for the life of the process.
# See slotwise_embed_file() in the root CMakeLists.txt.

foreach(var INPUT OUTPUT HEADER FUNCTION)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "embed_file.cmake: -D${var}=... is required")
  endif()
endforeach()

string(REGEX MATCH "^(.*)::([A-Za-z_][A-Za-z0-9_]*)$" qualified "${FUNCTION}")
if(NOT qualified)
  message(FATAL_ERROR "embed_file.cmake: FUNCTION must be namespace::name, got '${FUNCTION}'")
endif()
set(namespace "${CMAKE_MATCH_1}")
set(name "${CMAKE_MATCH_2}")

file(READ "${INPUT}" hex HEX)
# "3c21..." -> "0x3c,0x21,...", 16 bytes (32 hex digits) per line.
string(LENGTH "${hex}" hex_length)
set(bytes "")
foreach(offset RANGE 0 ${hex_length} 32)
  string(SUBSTRING "${hex}" ${offset} 32 chunk)
  if(chunk STREQUAL "")
    break()
  endif()
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," chunk "${chunk}")
  string(APPEND bytes "${chunk}\n    ")
endforeach()
get_filename_component(input_name "${INPUT}" NAME)

file(WRITE "${OUTPUT}" "\
// Generated at build time from ${input_name} by cmake/embed_file.cmake. Do not edit.
#include \"${HEADER}\"

#include <string_view>

namespace ${namespace} {
namespace {

// The file's bytes, then one NUL that is not part of them (keeps the array non-empty).
constexpr unsigned char kBytes[] = {
    ${bytes}0x00};

}  // namespace

std::string_view ${name}() {
  return std::string_view(reinterpret_cast<const char*>(kBytes), sizeof(kBytes) - 1);
}

}  // namespace ${namespace}
")
