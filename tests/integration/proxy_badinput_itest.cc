// Limits and bad input (issue 4, point 5), end to end against the real binary and a real cluster.
//
// Every test abuses the proxy through one or more connections and then checks three things:
//  (a) the abusive client gets the documented RESP error and/or is disconnected, and only it;
//  (b) a well-behaved client still gets correct SET/GET answers afterwards;
//  (c) the proxy's RSS stays under a stated bound while and after the abuse happens.
// Abusive clients use RawConn (non-blocking writes, small receive buffers, RST on demand), so a
// test never blocks on a proxy that, correctly, stops reading.
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <random>
#include <span>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "resp/encoder.h"
#include "resp/value_decoder.h"
#include "support/proxy_fixture.h"

namespace slotwise::test {
namespace {

using resp::RespValue;
using Clock = std::chrono::steady_clock;
using Ms = std::chrono::milliseconds;

constexpr long kMiB = 1024;  // in KiB, the unit of ProxyProcess::rssKiB()

// RSS allowed above the proxy's RSS right after start-up, for abuse whose cost must not grow
// with the attacker's input: a few 64 KiB read buffers and 16 KiB input blocks per worker and
// session, glibc arena growth on two workers, spdlog buffers. Every test that uses it pushes
// (or declares) far more than this, so buffering the abuse would break the bound.
constexpr long kFlatSlackKiB = 24 * kMiB;

#if defined(__SANITIZE_ADDRESS__)
// Under ASan (tests/run_sanitized.sh) freed blocks sit in a quarantine and every allocation gets
// redzones and shadow memory. The proxies these tests start get a 16 MiB quarantine (see
// ProxyBadInputTest::SetUp) and this extra allowance; the plain build checks the tight bounds.
constexpr long kSanitizerExtraKiB = 96 * kMiB;
#else
constexpr long kSanitizerExtraKiB = 0;
#endif

// Socket receive buffer of non-reading abusive clients. Small and fixed (it also turns off
// autotuning), so the kernel cannot absorb megabytes of replies that would otherwise hide
// whether the proxy itself buffers them.
constexpr int kSmallRcvBuf = 64 * 1024;

// One raw TCP connection for abusive clients. Writes never block past their budget; replies are
// decoded incrementally. Not thread-safe.
class RawConn {
 public:
  RawConn() = default;
  ~RawConn() { close(); }
  RawConn(const RawConn&) = delete;
  RawConn& operator=(const RawConn&) = delete;

  // Connects to 127.0.0.1:port. rcvbuf > 0 sets SO_RCVBUF first. @return false on failure.
  bool connect(uint16_t port, int rcvbuf = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return false;
    if (rcvbuf > 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      close();
      return false;
    }
    ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
    return true;
  }

  // Writes as much of `data` as the peer accepts within `budget`. @return bytes written.
  size_t sendFor(std::string_view data, Ms budget) {
    const auto deadline = Clock::now() + budget;
    size_t done = 0;
    while (fd_ >= 0 && done < data.size()) {
      ssize_t n = ::send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
      if (n > 0) {
        done += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno != EAGAIN && errno != EINTR) break;
      if (!waitFor(POLLOUT, deadline)) break;
    }
    return done;
  }
  bool sendAll(std::string_view data, Ms budget = Ms(3000)) {
    return sendFor(data, budget) == data.size();
  }

  // Reads one reply within `timeout`. @return nullopt on timeout, close or malformed reply.
  std::optional<RespValue> readReply(Ms timeout = Ms(3000)) {
    const auto deadline = Clock::now() + timeout;
    while (true) {
      RespValue v;
      size_t used = 0;
      const auto st = decoder_.decode(rbuf_, &v, &used);
      if (st == resp::ScanStatus::kOk) {
        rbuf_.erase(0, used);
        return v;
      }
      if (st == resp::ScanStatus::kError || fill(deadline) <= 0) return std::nullopt;
    }
  }

  // Waits up to `wait` for EOF or RST, buffering what arrives. @return true if closed.
  bool waitClosed(Ms wait) {
    const auto deadline = Clock::now() + wait;
    while (true) {
      const int r = fill(deadline);
      if (r == 0) return true;
      if (r < 0) return false;
    }
  }

  // Closes with SO_LINGER {on, 0}: the peer sees an RST, never a FIN.
  void abortWithReset() {
    linger lg{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close();
  }

  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  uint16_t localPort() const {
    sockaddr_in addr{};
    socklen_t len = sizeof(addr);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    return ntohs(addr.sin_port);
  }

 private:
  bool waitFor(short events, Clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<Ms>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd_, events, 0};
    return ::poll(&p, 1, static_cast<int>(left)) > 0;
  }

  // @return 1 when bytes arrived, 0 on EOF/RST (or not connected), -1 on timeout.
  int fill(Clock::time_point deadline) {
    char buf[64 * 1024];
    while (fd_ >= 0) {
      ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n > 0) {
        rbuf_.append(buf, static_cast<size_t>(n));
        return 1;
      }
      if (n == 0 || (errno != EAGAIN && errno != EINTR)) return 0;
      if (!waitFor(POLLIN, deadline)) return -1;
    }
    return 0;
  }

  int fd_ = -1;
  std::string rbuf_;
  resp::ValueDecoder decoder_;
};

std::string encode(const std::vector<std::string>& args) {
  std::vector<std::string_view> views(args.begin(), args.end());
  std::string out;
  resp::appendCommand(out, std::span<const std::string_view>(views));
  return out;
}

class ProxyBadInputTest : public ProxyClusterTest {
 protected:
  // Under ASan, the proxy child inherits a small quarantine, which keeps its RSS meaningful;
  // TearDown puts the test process's own ASAN_OPTIONS back.
  void SetUp() override {
    ProxyClusterTest::SetUp();
#if defined(__SANITIZE_ADDRESS__)
    const char* opts = std::getenv("ASAN_OPTIONS");
    saved_asan_options_ = opts ? std::optional<std::string>(opts) : std::nullopt;
    const std::string merged = saved_asan_options_.value_or("") + ":quarantine_size_mb=16";
    ::setenv("ASAN_OPTIONS", merged.c_str(), 1);
#endif
  }
  void TearDown() override {
#if defined(__SANITIZE_ADDRESS__)
    if (saved_asan_options_) ::setenv("ASAN_OPTIONS", saved_asan_options_->c_str(), 1);
    else ::unsetenv("ASAN_OPTIONS");
#endif
    ProxyClusterTest::TearDown();
  }

  // Starts cluster and proxy with `limits` (lines under `limits:`) and records the baseline.
  void start(std::string limits) {
    limits_yaml = std::move(limits);
    startAll();
    baseline_rss_kib_ = proxy.rssKiB();
    ASSERT_GT(baseline_rss_kib_, 0);
    // No client of the test is connected: wait until the start-up probes are gone too (a loaded
    // machine may still count one for a moment), so that later counts compare with 0.
    long seen = -1;
    ASSERT_TRUE(cluster.waitFor([&] { return (seen = connectedClients()) == 0; }, Ms(5000)))
        << "clients still counted after start-up: " << seen;
    baseline_clients_ = 0;
  }

  // Client sessions the proxy counts, not counting the fresh connection used to ask (it sends
  // INFO clients, then QUIT, and waits for the close so it is gone before the next question).
  long connectedClients() {
    SyncRedisClient c;
    if (!c.connect("127.0.0.1", proxy_port)) return -1;
    const std::string info = str(c.command({"INFO", "clients"}));
    c.command({"QUIT"});
    c.isClosedByPeer(Ms(2000));
    const size_t at = info.find("connected_clients:");
    if (at == std::string::npos) return -1;
    return std::stol(info.substr(at + 18)) - 1;
  }

  // Waits (bounded) until the proxy counts exactly `expected` client sessions again.
  void expectClientsBackTo(long expected, const std::string& what) {
    long seen = -1;
    const bool ok = cluster.waitFor([&] { return (seen = connectedClients()) == expected; },
                                    Ms(3000));
    EXPECT_TRUE(ok) << what << ": connected_clients stayed at " << seen << ", expected "
                    << expected;
  }

  // (b): a fresh, well-behaved client still gets correct SET/GET answers.
  void expectServesOthers(const std::string& what) {
    SyncRedisClient c;
    ASSERT_TRUE(c.connect("127.0.0.1", proxy_port)) << what << ": " << c.lastError();
    const std::string key = "badin:survivor:" + std::to_string(++probes_);
    const std::string value = "value-" + std::to_string(probes_) + "-" + what;
    EXPECT_EQ(str(c.command({"SET", key, value})), "OK") << what;
    EXPECT_EQ(str(c.command({"GET", key})), value) << what;
    EXPECT_EQ(str(ownerOf(key).command({"GET", key})), value) << what << " (read directly)";
  }

  // (c): the proxy's RSS is under baseline + slack_kib.
  void expectRssUnder(long slack_kib, const std::string& what) {
    const long rss = proxy.rssKiB();
    ASSERT_GT(rss, 0) << what << ": proxy is not running\n" << proxy.log();
    EXPECT_LT(rss, baseline_rss_kib_ + slack_kib + kSanitizerExtraKiB)
        << what << ": RSS " << rss / 1024 << " MiB, start-up RSS " << baseline_rss_kib_ / 1024
        << " MiB, allowed growth " << slack_kib / 1024 << " MiB";
  }

  // Sends `bytes` on a fresh connection and expects exactly the error `expected` (without the
  // leading '-'), then a close by the proxy, then (b) and (c).
  void expectRejected(const std::string& bytes, const std::string& expected,
                      long slack_kib = kFlatSlackKiB) {
    const std::string what = testing::PrintToString(bytes.substr(0, 40));
    RawConn bad;
    ASSERT_TRUE(bad.connect(proxy_port));
    ASSERT_TRUE(bad.sendAll(bytes)) << what;
    auto reply = bad.readReply();
    ASSERT_TRUE(reply.has_value()) << what << ": no reply";
    EXPECT_EQ(str(*reply), expected) << what;
    EXPECT_TRUE(bad.waitClosed(Ms(2000))) << what << ": connection left open";
    expectServesOthers(what);
    expectRssUnder(slack_kib, what);
  }

  std::optional<std::string> saved_asan_options_;
  long baseline_rss_kib_ = 0;
  long baseline_clients_ = 0;
  int probes_ = 0;
};

// ---- max clients ----------------------------------------------------------------------------

// Both accept paths: hand-off (control loop accepts) and reuseport (each worker accepts).
class ProxyAcceptModeTest : public ProxyBadInputTest,
                            public testing::WithParamInterface<const char*> {
 protected:
  void SetUp() override {
    ProxyBadInputTest::SetUp();
    extra_yaml = std::string("accept_mode: ") + GetParam() + "\n";
  }
};

TEST_P(ProxyAcceptModeTest, ClientOverMaxClientsGetsErrorAndIsClosedOthersKeepWorking) {
  start("  max_clients: 4\n");
  ASSERT_EQ(baseline_clients_, 0);
  std::vector<std::unique_ptr<SyncRedisClient>> in;  // the 4 allowed clients
  for (int i = 0; i < 4; ++i) {
    in.push_back(std::make_unique<SyncRedisClient>());
    ASSERT_TRUE(in.back()->connect("127.0.0.1", proxy_port));
    ASSERT_EQ(str(in.back()->command({"PING"})), "PONG") << "client " << i;
  }
  ASSERT_EQ(str(in[0]->command({"SET", "badin:mc", "1"})), "OK");
  for (int round = 0; round < 3; ++round) {  // repeated refusals must not leak places
    RawConn extra;
    ASSERT_TRUE(extra.connect(proxy_port));
    auto r = extra.readReply();
    ASSERT_TRUE(r.has_value()) << "round " << round << ": no reply";
    EXPECT_EQ(str(*r), "ERR max number of clients reached");
    EXPECT_TRUE(extra.waitClosed(Ms(2000))) << "round " << round;
  }
  // (b): the clients already in are unaffected.
  for (size_t i = 0; i < in.size(); ++i) {
    EXPECT_EQ(str(in[i]->command({"INCR", "badin:mc"})), std::to_string(i + 2));
  }
  // One leaves (QUIT: the proxy forgets it before the close is visible here), so exactly one
  // new client fits again.
  in.back()->command({"QUIT"});
  ASSERT_TRUE(in.back()->isClosedByPeer(Ms(2000)));
  in.pop_back();
  SyncRedisClient again;
  ASSERT_TRUE(again.connect("127.0.0.1", proxy_port));
  EXPECT_EQ(str(again.command({"GET", "badin:mc"})), "5");
  RawConn refused;
  ASSERT_TRUE(refused.connect(proxy_port));
  auto r = refused.readReply();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(str(*r), "ERR max number of clients reached");
  again.close();
  in.clear();
  expectClientsBackTo(0, "after every client left");
  expectServesOthers("after max clients");
  expectRssUnder(kFlatSlackKiB, "after max clients");
}

// ---- client idle timeout ----------------------------------------------------------------------

TEST_F(ProxyBadInputTest, IdleClientIsClosedAfterTimeoutActiveClientIsNot) {
  constexpr Ms kIdleTimeout(600);
  start("  client_idle_timeout_ms: " + std::to_string(kIdleTimeout.count()) + "\n");
  RawConn idle;
  ASSERT_TRUE(idle.connect(proxy_port));
  ASSERT_TRUE(idle.sendAll(encode({"PING"})));
  ASSERT_TRUE(idle.readReply().has_value());
  const auto idle_since = Clock::now();
  SyncRedisClient active;
  ASSERT_TRUE(active.connect("127.0.0.1", proxy_port));
  // The active client talks every 100 ms for three timeouts; the idle one says nothing.
  std::optional<Ms> closed_after;
  for (int i = 0; i < 18; ++i) {
    const std::string key = "badin:idle:" + std::to_string(i);
    ASSERT_EQ(str(active.command({"SET", key, "v"})), "OK") << "active client cut at " << i;
    if (!closed_after && idle.waitClosed(Ms(100))) {
      closed_after = std::chrono::duration_cast<Ms>(Clock::now() - idle_since);
    }
  }
  ASSERT_TRUE(closed_after.has_value()) << "idle client still open after 3 timeouts";
  EXPECT_GE(*closed_after, kIdleTimeout - Ms(50)) << "closed before the timeout";
  EXPECT_LE(*closed_after, kIdleTimeout + Ms(800)) << "closed long after the timeout";
  EXPECT_EQ(str(active.command({"GET", "badin:idle:17"})), "v");
  // A client that connects and never sends anything, and one that sends half a frame and
  // falls silent, are closed the same way.
  RawConn never_sends;
  ASSERT_TRUE(never_sends.connect(proxy_port));
  RawConn partial;
  ASSERT_TRUE(partial.connect(proxy_port));
  ASSERT_TRUE(partial.sendAll("*3\r\n$3\r\nSET\r\n$10\r\nbadin:half\r\n$5\r\nab"));
  EXPECT_TRUE(never_sends.waitClosed(kIdleTimeout + Ms(1500)));
  EXPECT_TRUE(partial.waitClosed(Ms(500)));
  EXPECT_EQ(str(ownerOf("badin:half").command({"EXISTS", "badin:half"})), "0");
  active.close();
  expectClientsBackTo(baseline_clients_, "after idle clients");
  expectServesOthers("after idle timeout");
  expectRssUnder(kFlatSlackKiB, "after idle timeout");
}

// ---- huge declared lengths and counts ---------------------------------------------------------

TEST_F(ProxyBadInputTest, HugeDeclaredLengthsAreRejectedOnTheHeaderAlone) {
  // A frame may declare at most 1 MiB in total (max_request_bytes), and one argument at most
  // 1 MiB (max_bulk_length, which the config keeps <= max_request_bytes).
  start("  max_bulk_length: 1048576\n  max_request_bytes: 1048576\n");
  // Only headers are sent: every error must come without any payload byte.
  expectRejected("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000000000\r\n",
                 "ERR Protocol error: invalid bulk length");
  expectRejected("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1048577\r\n",
                 "ERR Protocol error: invalid bulk length");  // 1 byte over max_bulk_length
  expectRejected("*2\r\n$3\r\nGET\r\n$99999999999999999999\r\n",
                 "ERR Protocol error: invalid bulk length");
  expectRejected("*3000000000\r\n", "ERR Protocol error: invalid multibulk length");
  // Each argument allowed, but the frame they announce cannot fit in max_request_bytes:
  // 1M arguments of at least 6 bytes each, or one 1,000,000-byte argument plus 99,999 more.
  expectRejected("*1000000\r\n", "ERR Protocol error: request too large");
  expectRejected("*100000\r\n$1000000\r\n", "ERR Protocol error: request too large");
  // Just under the limits is still fine.
  SyncRedisClient ok;
  ASSERT_TRUE(ok.connect("127.0.0.1", proxy_port));
  const std::string big(1000000, 'x');
  EXPECT_EQ(str(ok.command({"SET", "badin:almost", big})), "OK");
  EXPECT_EQ(str(ok.command({"GET", "badin:almost"})), big);
  ok.close();
  expectClientsBackTo(baseline_clients_, "after huge lengths");
}

// ---- max args, multibulk and inline ------------------------------------------------------------

TEST_F(ProxyBadInputTest, MaxArgsAppliesToMultibulkAndInlineCommands) {
  start("  max_args: 8\n");
  SyncRedisClient ok;
  ASSERT_TRUE(ok.connect("127.0.0.1", proxy_port));
  ASSERT_TRUE(ok.sendRaw("DEL {t}a {t}b {t}c {t}d {t}e {t}f {t}g\r\n"));  // 8 words: allowed
  auto r = ok.readReply();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->type, resp::ValueType::kInteger) << str(*r);
  expectRejected("DEL {t}a {t}b {t}c {t}d {t}e {t}f {t}g {t}h\r\n",
                 "ERR Protocol error: too many arguments in inline request");
  expectRejected(encode({"DEL", "{t}a", "{t}b", "{t}c", "{t}d", "{t}e", "{t}f", "{t}g", "{t}h"}),
                 "ERR Protocol error: invalid multibulk length");
  // 20,000 words in a line that is within max_inline_length (64 KiB).
  std::string words = "EXISTS";
  for (int i = 0; i < 20000; ++i) words += " k";
  expectRejected(words + "\r\n", "ERR Protocol error: too many arguments in inline request");
  EXPECT_EQ(str(ok.command({"PING"})), "PONG");
}

// ---- max pipelined bytes ------------------------------------------------------------------------

TEST_F(ProxyBadInputTest, InputPipelinedBehindABlockedCommandIsCappedByMaxPipelinedBytes) {
  // The config keeps max_request_bytes <= max_pipelined_bytes, so unparsed input only piles up
  // while parsing is held, e.g. behind a blocking command: the proxy keeps reading then (to see
  // the client leave) and must cut the client at max_pipelined_bytes.
  constexpr size_t kMaxPipelined = 256 * 1024;
  start("  max_bulk_length: 65536\n  max_request_bytes: 65536\n  max_pipelined_bytes: " +
        std::to_string(kMaxPipelined) + "\n");
  RawConn bad;
  ASSERT_TRUE(bad.connect(proxy_port));
  ASSERT_TRUE(bad.sendAll(encode({"BLPOP", "badin:nolist", "0"})));
  std::this_thread::sleep_for(Ms(200));  // the BLPOP is blocked on its node now
  std::string flood;
  while (flood.size() <= kMaxPipelined + 16 * 1024) flood += encode({"SET", "badin:flood", "x"});
  const size_t sent = bad.sendFor(flood, Ms(2000));
  EXPECT_GT(sent, kMaxPipelined) << "the proxy stopped reading before the limit";
  // Redis closes a client over client-query-buffer-limit; so does the proxy. Any reply that
  // makes it out first is the pipelined-input error (the BLPOP itself never completes).
  std::vector<std::string> replies;
  while (auto r = bad.readReply(Ms(2000))) replies.push_back(str(*r));
  EXPECT_TRUE(bad.waitClosed(Ms(100))) << "client over max_pipelined_bytes left open";
  for (const std::string& r : replies) {
    EXPECT_EQ(r, "ERR Protocol error: unparsed pipelined input exceeds limits.max_pipelined_bytes");
  }
  EXPECT_EQ(str(ownerOf("badin:flood").command({"EXISTS", "badin:flood"})), "0")
      << "a command queued behind the cut was run";
  bad.close();  // even once the client is gone, its session (and blocked BLPOP) must go
  expectServesOthers("after max pipelined bytes");
  expectRssUnder(kFlatSlackKiB, "after max pipelined bytes");
  expectClientsBackTo(baseline_clients_, "after max pipelined bytes");
}

// ---- pending replies: a client pipelining without reading ------------------------------------

TEST_F(ProxyBadInputTest, PipeliningClientThatDoesNotReadIsPausedAndGetsEveryReplyLater) {
  constexpr size_t kValueLen = 16 * 1024;
  constexpr int kKeys = 64;
  constexpr int kGets = 4000;  // 4000 x 16 KiB = 62.5 MiB of replies
  constexpr uint64_t kMaxOutput = 1 << 20;
  // Paused at 32 pending requests or 1 MiB of unsent replies: the proxy holds at most
  // max_output_bytes + max_pending_requests x one reply = 1.5 MiB for this client.
  constexpr long kBoundKiB = kFlatSlackKiB;
  start("  max_pending_requests: 32\n  max_output_bytes: " + std::to_string(kMaxOutput) + "\n");
  SyncRedisClient setup;
  ASSERT_TRUE(setup.connect("127.0.0.1", proxy_port));
  auto value = [](int k) {
    return std::to_string(k) + ":" + std::string(kValueLen, static_cast<char>('a' + k % 26));
  };
  for (int k = 0; k < kKeys; ++k) {
    ASSERT_EQ(str(setup.command({"SET", "badin:p:" + std::to_string(k), value(k)})), "OK");
  }
  std::string wire;
  for (int i = 0; i < kGets; ++i) wire += encode({"GET", "badin:p:" + std::to_string(i % kKeys)});
  RawConn slow;
  ASSERT_TRUE(slow.connect(proxy_port, kSmallRcvBuf));
  size_t sent = slow.sendFor(wire, Ms(1500));  // the proxy must stop reading at some point
  expectRssUnder(kBoundKiB, "while the client does not read");
  expectServesOthers("while a client does not read");
  // Now it reads: every reply, in order, while the rest of the pipeline goes out.
  for (int i = 0; i < kGets; ++i) {
    if (sent < wire.size()) sent += slow.sendFor(std::string_view(wire).substr(sent), Ms(1));
    auto r = slow.readReply(Ms(5000));
    ASSERT_TRUE(r.has_value()) << "reply " << i << " missing";
    ASSERT_EQ(r->str, value(i % kKeys)) << "reply " << i;
  }
  EXPECT_EQ(sent, wire.size());
  expectRssUnder(kBoundKiB, "after the client read everything");
}

// ---- max output bytes: a slow reader of big values ---------------------------------------------

TEST_F(ProxyBadInputTest, SlowReaderOfBigValuesKeepsProxyMemoryBounded) {
  constexpr size_t kValueLen = 1 << 20;
  constexpr int kGets = 128;  // 128 MiB of replies
  constexpr uint64_t kMaxOutput = 4 << 20;
  // Expected: about max_output_bytes of replies held for the slow client, plus a few 1 MiB
  // replies in flight, plus the flat slack. Holding all 128 MiB of replies would break it.
  constexpr long kBoundKiB = static_cast<long>(kMaxOutput / 1024) + 8 * kMiB + kFlatSlackKiB;
  start("  max_output_bytes: " + std::to_string(kMaxOutput) + "\n");
  SyncRedisClient setup;
  ASSERT_TRUE(setup.connect("127.0.0.1", proxy_port));
  const std::string big(kValueLen, 'B');
  ASSERT_EQ(str(setup.command({"SET", "badin:big1m", big})), "OK");
  std::string wire;
  for (int i = 0; i < kGets; ++i) wire += encode({"GET", "badin:big1m"});
  RawConn slow;
  ASSERT_TRUE(slow.connect(proxy_port, kSmallRcvBuf));
  ASSERT_TRUE(slow.sendAll(wire));  // 3 KiB of requests: always accepted by the kernel
  // Give the proxy time to fetch what it will fetch, sampling RSS meanwhile.
  long peak = 0;
  for (int i = 0; i < 15; ++i) {
    std::this_thread::sleep_for(Ms(100));
    peak = std::max(peak, proxy.rssKiB());
  }
  EXPECT_LT(peak, baseline_rss_kib_ + kBoundKiB + kSanitizerExtraKiB)
      << "peak RSS " << peak / 1024 << " MiB while a client did not read " << kGets
      << " x 1 MiB replies; start-up RSS " << baseline_rss_kib_ / 1024 << " MiB";
  expectServesOthers("while a slow reader holds big replies");
  // It may be disconnected, but whatever it reads must be the right value, in order.
  int received = 0;
  while (received < kGets) {
    auto r = slow.readReply(Ms(3000));
    if (!r.has_value()) break;
    ASSERT_EQ(r->str.size(), kValueLen) << "reply " << received << ": " << str(*r).substr(0, 80);
    ++received;
  }
  if (received < kGets) {
    EXPECT_TRUE(slow.waitClosed(Ms(100))) << "stalled at reply " << received;
  }
  expectRssUnder(kBoundKiB, "after the slow reader");
}

// ---- malformed frames -----------------------------------------------------------------------

TEST_F(ProxyBadInputTest, MalformedFramesGetProtocolErrorsAndOnlyThatClientIsClosed) {
  start("");
  SyncRedisClient good;
  ASSERT_TRUE(good.connect("127.0.0.1", proxy_port));
  ASSERT_EQ(str(good.command({"SET", "badin:good", "1"})), "OK");
  expectRejected("*1\r\n$-5\r\n", "ERR Protocol error: invalid bulk length");
  expectRejected("*2\r\n$3\r\nGET\r\n$-1\r\n", "ERR Protocol error: invalid bulk length");
  expectRejected("*2\r\n$3\r\nGET\r\n$abc\r\n", "ERR Protocol error: invalid bulk length");
  expectRejected("*x1\r\n", "ERR Protocol error: invalid multibulk length");
  expectRejected("*2\r\n*1\r\n$3\r\nGET\r\n", "ERR Protocol error: expected '$', got '*'");
  expectRejected("*1\r\n$3\r\nGETXY", "ERR Protocol error: invalid bulk terminator");
  // A long inline line without '\n' is refused once it passes max_inline_length (64 KiB).
  expectRejected(std::string(100 * 1024, 'x'), "ERR Protocol error: too big inline request");
  // "*-5", like "*-1" and "*0", is ignored by Redis: nothing is answered and the client goes on.
  RawConn neg;
  ASSERT_TRUE(neg.connect(proxy_port));
  ASSERT_TRUE(neg.sendAll("*-5\r\n" + encode({"GET", "badin:good"})));
  auto r = neg.readReply();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(str(*r), "1");
  EXPECT_EQ(str(good.command({"INCR", "badin:good"})), "2");
  neg.close();
  good.close();
  expectClientsBackTo(baseline_clients_, "after malformed frames");
}

TEST_F(ProxyBadInputTest, RandomBinaryGarbageEndsInProtocolErrorAndClose) {
  start("");
  for (uint32_t seed = 1; seed <= 8; ++seed) {
    std::mt19937 rng(seed);
    std::string garbage(16 * 1024, '\0');
    for (char& c : garbage) c = static_cast<char>(rng() & 0xff);
    const std::string what = "seed " + std::to_string(seed);
    RawConn bad;
    ASSERT_TRUE(bad.connect(proxy_port));
    ASSERT_TRUE(bad.sendAll(garbage)) << what;
    // Any number of error replies (unknown commands), the last one a protocol error.
    std::vector<std::string> replies;
    while (auto reply = bad.readReply(Ms(2000))) {
      ASSERT_TRUE(reply->isError()) << what << ": " << str(*reply);
      replies.push_back(reply->str);
    }
    EXPECT_TRUE(bad.waitClosed(Ms(100))) << what << ": connection left open";
    ASSERT_FALSE(replies.empty()) << what;
    EXPECT_EQ(replies.back().rfind("ERR Protocol error:", 0), 0u) << what << ": " << replies.back();
  }
  // 16 MiB of garbage as fast as the proxy takes it: it must close, not buffer. (The kernel
  // buffers of both ends hold at most about 10 MiB.)
  std::mt19937 rng(99);
  std::string burst(16u << 20, '\0');
  for (char& c : burst) c = static_cast<char>(rng() & 0xff);
  RawConn flood;
  ASSERT_TRUE(flood.connect(proxy_port, kSmallRcvBuf));
  const size_t taken = flood.sendFor(burst, Ms(3000));
  EXPECT_LT(taken, burst.size()) << "the proxy kept reading garbage";
  EXPECT_TRUE(flood.waitClosed(Ms(2000)));
  expectServesOthers("after garbage");
  expectRssUnder(kFlatSlackKiB, "after garbage");
  expectClientsBackTo(baseline_clients_, "after garbage");
}

// ---- unterminated frames and half-open connections ---------------------------------------------

TEST_F(ProxyBadInputTest, UnterminatedFramesAndResetClientsAreNotLeaked) {
  // No idle timeout here: every session must go because its client went, not because of a timer.
  start("");
  // A partial frame, then a clean close (FIN).
  {
    RawConn c;
    ASSERT_TRUE(c.connect(proxy_port));
    ASSERT_TRUE(c.sendAll("*3\r\n$3\r\nSET\r\n"));
  }
  // A partial frame, then an RST mid-request (SO_LINGER 0): without and with replies pending.
  for (int variant = 0; variant < 2; ++variant) {
    RawConn c;
    ASSERT_TRUE(c.connect(proxy_port, kSmallRcvBuf));
    std::string wire;
    if (variant == 1) {
      for (int i = 0; i < 50; ++i) wire += encode({"GET", "badin:half"});
    }
    wire += "*3\r\n$3\r\nSET\r\n$10\r\nbadin:half\r\n$100\r\nabc";
    ASSERT_TRUE(c.sendAll(wire));
    std::this_thread::sleep_for(Ms(50));  // let the proxy read it: the RST comes mid-request
    c.abortWithReset();
  }
  expectClientsBackTo(baseline_clients_, "after FIN and RST mid-request");
  EXPECT_EQ(str(ownerOf("badin:half").command({"EXISTS", "badin:half"})), "0");
  expectServesOthers("after vanished clients");
  expectRssUnder(kFlatSlackKiB, "after vanished clients");
}

// /proc/net/tcp "tr" field of the proxy's end of the connection from local port `client_port`:
// 2 means a keepalive timer is armed. Sets *when_ticks to its expiry (USER_HZ ticks).
int proxySideTimer(uint16_t proxy_port, uint16_t client_port, long* when_ticks) {
  char local[32];
  char remote[32];
  std::snprintf(local, sizeof(local), "0100007F:%04X", proxy_port);
  std::snprintf(remote, sizeof(remote), "0100007F:%04X", client_port);
  std::ifstream in("/proc/net/tcp");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string sl, loc, rem, st, queues, timer;
    fields >> sl >> loc >> rem >> st >> queues >> timer;
    if (loc != local || rem != remote || st != "01") continue;
    *when_ticks = std::stol(timer.substr(3), nullptr, 16);
    return std::stoi(timer.substr(0, 2), nullptr, 16);
  }
  return -1;
}

TEST_P(ProxyAcceptModeTest, ClientSocketsHaveTcpKeepalive) {
  // A peer that vanishes without FIN or RST is only found by keepalive probes; the proxy arms
  // them on every client socket (60 s idle, 10 s interval, 3 probes).
  start("");
  RawConn c;
  ASSERT_TRUE(c.connect(proxy_port));
  ASSERT_TRUE(c.sendAll(encode({"PING"})));
  ASSERT_TRUE(c.readReply().has_value());
  long when = 0;
  const int timer = proxySideTimer(proxy_port, c.localPort(), &when);
  ASSERT_EQ(timer, 2) << "no keepalive timer on the proxy's end of a client connection";
  EXPECT_GT(when, 0);
  EXPECT_LE(when, 60 * sysconf(_SC_CLK_TCK)) << "first probe later than 60 s";
  expectServesOthers("keepalive");
}

INSTANTIATE_TEST_SUITE_P(AcceptModes, ProxyAcceptModeTest, testing::Values("handoff", "reuseport"));

}  // namespace
}  // namespace slotwise::test
