// NodeQuery: the router's only seam to the network. The proxy implements it over a backend
// connection on the control loop (proxy::NodeQueryImpl); tests use test::FakeNodeQuery.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "common/result.h"
#include "resp/value.h"

namespace slotwise::router {

class NodeQuery {
 public:
  using Callback = std::function<void(Result<resp::RespValue>)>;

  virtual ~NodeQuery() = default;

  // Sends `args` as one command to `address` (any HostPort::parse spelling: "host:port",
  // "[v6]:port", "v6:port") and calls `callback` exactly once with the decoded reply (a Redis
  // error reply is a value, not an error) or an error (bad address, connect failure, timeout,
  // closed). The callback may run before query() returns (fakes do that), so callers must have
  // their state ready before calling. The implementation owns `callback` until it has run it.
  virtual void query(const std::string& address, std::vector<std::string> args,
                     Callback callback) = 0;
};

}  // namespace slotwise::router
