// Small socket helpers shared by backend connections, control-plane queries and listeners.
#pragma once

#include <sys/socket.h>
#include <uv.h>

#include <functional>
#include <string>

namespace slotwise::proxy {

// Parses a numeric IPv4/IPv6 address into `out`. Returns false for host names.
bool parseNumericAddress(const std::string& host, uint16_t port, sockaddr_storage* out);

// Starts a TCP connect of the initialised `handle` to host:port, resolving host names with
// uv_getaddrinfo first. `done(status)` runs exactly once on the loop thread (status 0 or a negative
// libuv error). The caller keeps `handle` alive and open until `done` has run.
void connectTcp(uv_loop_t* loop, uv_tcp_t* handle, const std::string& host, uint16_t port,
                std::function<void(int)> done);

// Creates a non-blocking listening socket bound to host:port (numeric address or resolvable
// name), with SO_REUSEADDR and, if `reuseport`, SO_REUSEPORT. Returns the fd or a negative errno.
int createListenSocket(const std::string& host, uint16_t port, int backlog, bool reuseport);

}  // namespace slotwise::proxy
