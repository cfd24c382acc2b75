// NodeQueryImpl: router::NodeQuery over short-lived TCP connections on the control loop. Control
// queries are rare (topology refreshes), so each one opens its own connection, which keeps the
// code free of pooling state and never shares a socket with the data path. With backend.tls each
// connection speaks TLS (the handshake precedes the query).
#pragma once

#include <uv.h>

#include <chrono>
#include <string>
#include <vector>

#include "proxy/io/tls.h"
#include "router/node_query.h"

namespace slotwise::proxy {

class NodeQueryImpl : public router::NodeQuery {
 public:
  // `auth_args`: the AUTH command sent before each query (empty = none). `tls` (outlives this):
  // the settings each new connection takes, or null for plain TCP.
  NodeQueryImpl(uv_loop_t* loop, std::chrono::milliseconds timeout,
                std::vector<std::string> auth_args = {}, const TlsContextSlot* tls = nullptr)
      : loop_(loop), timeout_(timeout), auth_args_(std::move(auth_args)), tls_(tls) {}
  // See router::NodeQuery. The callback runs on the loop thread; it runs inside query() only when
  // `address` cannot be parsed.
  void query(const std::string& address, std::vector<std::string> args, Callback callback) override;

 private:
  uv_loop_t* loop_;
  std::chrono::milliseconds timeout_;
  std::vector<std::string> auth_args_;
  const TlsContextSlot* tls_;
};

}  // namespace slotwise::proxy
