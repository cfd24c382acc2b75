// A minimal blocking HTTP/1.0 client for tests of the admin endpoints (and of Prometheus/HAProxy
// started by tests). Loopback only.
#pragma once

#include <cstdint>
#include <string>

namespace slotwise::test {

struct HttpResult {
  int status = -1;   // HTTP status, or -1 when the request failed (body says why)
  std::string body;
};

// GET http://127.0.0.1:port/path with an optional bearer token; waits at most 5 s for the reply.
HttpResult httpGet(uint16_t port, const std::string& path, const std::string& token = "");

}  // namespace slotwise::test
