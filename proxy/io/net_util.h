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

// TCP keepalive applied to every accepted client connection, so that a client that vanished
// without FIN or RST (power loss, a dropped NAT entry) is closed after about
// idle + interval * probes = 90 s instead of holding a session and a max_clients place forever.
inline constexpr int kClientKeepAliveIdleSec = 60;
inline constexpr int kClientKeepAliveIntervalSec = 10;
inline constexpr int kClientKeepAliveProbes = 3;

// Turns on SO_KEEPALIVE on `fd` with the given first-probe delay, probe interval and probe count
// (all > 0). Does not take ownership of `fd`. @return 0 or a negative errno.
int setTcpKeepAlive(int fd, int idle_sec, int interval_sec, int probes);

// Creates a non-blocking listening socket bound to host:port (numeric address or resolvable
// name), with SO_REUSEADDR and, if `reuseport`, SO_REUSEPORT. Returns the fd or a negative errno.
// The socket also carries the kClientKeepAlive* settings: Linux copies SO_KEEPALIVE and the
// TCP_KEEP* values to every socket accepted from it, which covers both accept paths (hand-off
// accept4() and per-worker uv_accept()) without a call per connection.
int createListenSocket(const std::string& host, uint16_t port, int backlog, bool reuseport);

}  // namespace slotwise::proxy
