// Unit tests of BackendConn in isolation: one real connection on a uv loop owned by the test
// thread, talking to a scripted FakeRedisNode on loopback; no Worker, Dispatcher or BackendPool.
// The fixture plays the pool and the dispatcher: a Recorder implements BackendCallbacks,
// ConnLifecycle and ConnOwner, records every call (with a single ordered event log) and recycles
// every request it is handed. The loop is driven in bounded steps (runUntil); a repeating,
// unreferenced timer caps each uv_run(UV_RUN_ONCE) so a missing event fails a test instead of
// hanging it. Teardown closes what is still open, runs the loop until every connection has
// deleted itself, and checks that no request or connection gauge leaked.
//
// Requests are tagged with Request::affinity (a field BackendConn never reads) so callbacks can be
// matched to enqueues after the request has been recycled.
#include "proxy/datapath/backend_conn.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <functional>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proxy/datapath/request.h"
#include "proxy/stats/metrics.h"
#include "proxy/stats/proxy_metrics.h"
#include "resp/encoder.h"
#include "resp/reply_scanner.h"
#include "tests/support/fake_redis_node.h"
#include "tests/support/quiet_test.h"
#include "tests/support/test_util.h"

namespace slotwise::proxy {
namespace {

using namespace std::chrono_literals;
using resp::ErrorKind;
using test::Args;
using test::FakeRedisNode;
using test::Millis;
using test::ReceivedCommand;
using test::Rule;
namespace replies = test::replies;
using test::sumOfSeries;

constexpr uint64_t kTickMs = 5;  // upper bound of one uv_run(UV_RUN_ONCE) step

struct ReplyRecord {
  uint32_t tag = 0;
  resp::ReplyInfo info;
  std::string bytes;
};

struct FailureRecord {
  uint32_t tag = 0;
  ConnFailure why = ConnFailure::kLost;
  bool sent = false;
  bool conn_usable = false;  // conn.usable() at the time of the call
};

struct PushRecord {
  std::string frame;
  resp::ReplyInfo info;
};

// The dispatcher, the pool and a connection owner in one: records every call in order and takes
// back every request it is handed (recycled at once into the pool).
class Recorder final : public BackendCallbacks, public ConnLifecycle, public ConnOwner {
 public:
  explicit Recorder(RequestPool& pool) : pool_(pool) {}

  // ---- BackendCallbacks ----
  void onReply(BackendConn&, Request* req, const resp::ReplyInfo& info,
               std::string_view bytes) override {
    replies.push_back({req->affinity, info, std::string(bytes)});
    events.push_back("reply " + std::to_string(req->affinity));
    pool_.recycle(req);
  }
  void onRequestFailed(BackendConn& conn, Request* req, ConnFailure why, bool sent) override {
    failures.push_back({req->affinity, why, sent, conn.usable()});
    events.push_back("failed " + std::to_string(req->affinity));
    pool_.recycle(req);
  }
  void onNodeFailure(BackendConn&) override {
    ++node_failures;
    events.push_back("node failure");
  }

  // ---- ConnLifecycle ----
  void onWritePending(BackendConn& conn) override {
    if (std::find(dirty_.begin(), dirty_.end(), &conn) == dirty_.end()) dirty_.push_back(&conn);
  }
  void onClosing(BackendConn& conn, bool connect_failed) override {
    closings.push_back(connect_failed);
    events.push_back("closing");
    std::erase(dirty_, &conn);
    std::erase(open, &conn);
  }
  void onIdle(BackendConn&) override {
    ++idles;
    events.push_back("idle");
  }

  // ---- ConnOwner ----
  void onPush(BackendConn&, std::string_view frame, const resp::ReplyInfo& info) override {
    pushes.push_back({std::string(frame), info});
    events.push_back("push");
  }
  void onOwnedConnClosed(BackendConn&) override {
    ++owner_closed;
    events.push_back("owner closed");
  }

  // The pool's end-of-turn flush of every connection that reported onWritePending. Outside
  // uv_run no connection is deleted, so a connection closed by an earlier flush is still valid.
  void flushDirty() {
    std::vector<BackendConn*> batch;
    batch.swap(dirty_);
    for (BackendConn* c : batch) c->flush();
  }

  std::vector<ReplyRecord> replies;
  std::vector<FailureRecord> failures;
  std::vector<PushRecord> pushes;
  std::vector<bool> closings;  // connect_failed of each onClosing
  std::vector<std::string> events;
  int node_failures = 0;
  int idles = 0;
  int owner_closed = 0;
  std::vector<BackendConn*> open;  // connections created and not closing yet

 private:
  RequestPool& pool_;
  std::vector<BackendConn*> dirty_;
};


std::vector<uint32_t> tagsOf(const std::vector<ReplyRecord>& records) {
  std::vector<uint32_t> tags;
  for (const ReplyRecord& r : records) tags.push_back(r.tag);
  return tags;
}

std::vector<Args> argsOf(const std::vector<ReceivedCommand>& commands) {
  std::vector<Args> out;
  for (const ReceivedCommand& c : commands) out.push_back(c.args);
  return out;
}

Handshake handshake(uint8_t proto, std::string username, std::string password, bool readonly) {
  Handshake h;
  h.proto = proto;
  h.username = std::move(username);
  h.password = std::move(password);
  h.readonly = readonly;
  return h;
}

std::string encode(const Args& args) {
  std::vector<std::string_view> views(args.begin(), args.end());
  std::string out;
  resp::appendCommand(out, std::span<const std::string_view>(views));
  return out;
}

class BackendConnTest : public test::QuietTest {
 protected:
  void SetUp() override {
    ASSERT_EQ(uv_loop_init(&loop_), 0);
    loop_ready_ = true;
    uv_timer_init(&loop_, &tick_);
    uv_timer_start(&tick_, [](uv_timer_t*) {}, kTickMs, kTickMs);
    uv_unref(reinterpret_cast<uv_handle_t*>(&tick_));  // bounds poll, keeps nothing alive
    context_.loop = &loop_;
    context_.callbacks = &rec_;
    context_.lifecycle = &rec_;
    context_.requests = &pool_;
    context_.stats = &stats_;
    ASSERT_TRUE(node_.start()) << node_.error();
  }

  void TearDown() override {
    if (refusing_fd_ >= 0) ::close(refusing_fd_);
    if (!loop_ready_) return;
    for (BackendConn* c : std::vector<BackendConn*>(rec_.open)) c->close(false);
    // Closing handles keep the loop alive; the unreferenced tick does not. Once the loop is no
    // longer alive every connection's close callback has run and it has deleted itself.
    if (!runUntil([&] { return !uv_loop_alive(&loop_); })) {
      ADD_FAILURE() << "a backend connection did not finish closing; leaking the loop";
      return;
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&tick_), nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);  // only the tick's close is left
    EXPECT_EQ(uv_loop_close(&loop_), 0);
    EXPECT_EQ(pool_.live(), 0) << "requests leaked";
    const std::string text = metrics::renderText({&registry_});
    EXPECT_EQ(sumOfSeries(text, "slotwise_backend_connections"), 0);
    EXPECT_EQ(sumOfSeries(text, "slotwise_backend_dedicated_connections_in_use"), 0);
  }

  // Runs the loop in bounded steps until `pred()` holds or `timeout` passes; flushes the
  // connections that asked for it before each step (the pool's end-of-turn flush).
  bool runUntil(const std::function<bool()>& pred, Millis timeout = 2000ms) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      rec_.flushDirty();
      if (pred()) return true;
      if (std::chrono::steady_clock::now() >= deadline) return false;
      uv_run(&loop_, UV_RUN_ONCE);
    }
  }

  // A new connection to 127.0.0.1:`port`, connect() called (libuv reports connect results,
  // refusals included, from the loop: the connection is still connecting on return).
  BackendConn* connectTo(uint16_t port, Handshake handshake = {}) {
    auto* conn = new BackendConn(context_, "127.0.0.1", port, "127.0.0.1:" + std::to_string(port),
                                 std::move(handshake));
    rec_.open.push_back(conn);
    conn->connect();
    return conn;
  }
  BackendConn* connectToNode(Handshake handshake = {}) {
    return connectTo(node_.port(), std::move(handshake));
  }

  // A request for `args` from the pool, tagged with the next tag (1, 2, ...).
  Request* newRequest(const Args& args, bool asking = false) {
    Request* req = pool_.acquire();
    req->payload = encode(args);
    req->affinity = ++last_tag_;
    req->asking = asking;
    return req;
  }
  // Enqueues a new request for `args` on `conn`. @return its tag.
  uint32_t send(BackendConn* conn, const Args& args, bool asking = false) {
    Request* req = newRequest(args, asking);
    conn->enqueue(req);
    return req->affinity;
  }

  // Sends PING and waits for its reply: the connection is established afterwards.
  void establish(BackendConn* conn) {
    const size_t before = rec_.replies.size();
    send(conn, {"PING"});
    ASSERT_TRUE(runUntil([&] { return rec_.replies.size() == before + 1; }));
    ASSERT_EQ(rec_.replies.back().bytes, "+PONG\r\n");
  }

  // A loopback port that refuses connections: bound but never listening (kept bound until
  // teardown, so nothing else can take it meanwhile).
  uint16_t refusingPort() {
    refusing_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    EXPECT_EQ(::bind(refusing_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(::getsockname(refusing_fd_, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    return ntohs(addr.sin_port);
  }

  metrics::ShardedCollector registry_;
  ProxyMetricFamilies families_ = ProxyMetricFamilies::registerAll(registry_);
  WorkerStats stats_{registry_.addShard("worker-0"), families_};
  RequestPool pool_;
  Recorder rec_{pool_};
  uv_loop_t loop_{};
  uv_timer_t tick_{};
  bool loop_ready_ = false;
  BackendContext context_;
  FakeRedisNode node_;
  uint32_t last_tag_ = 0;
  int refusing_fd_ = -1;
};

// Pins: replies are matched to requests strictly in FIFO order and handed on as the node's raw
// bytes; 50 requests queued while connecting go out pipelined on one connection, in order.
TEST_F(BackendConnTest, PipelinedRepliesComeBackInFifoOrderAsRawBytes) {
  BackendConn* conn = connectToNode();
  std::vector<uint32_t> tags;
  std::vector<std::string> expected;
  std::vector<Args> expected_commands;
  for (int i = 0; i < 25; ++i) {
    const std::string key = "key:" + std::to_string(i);
    const std::string value = "value-" + std::string(static_cast<size_t>(i), 'x');
    tags.push_back(send(conn, {"SET", key, value}));
    expected.push_back("+OK\r\n");
    tags.push_back(send(conn, {"GET", key}));
    expected.push_back(replies::bulk(value));
    expected_commands.push_back({"SET", key, value});
    expected_commands.push_back({"GET", key});
  }
  EXPECT_EQ(conn->inflight(), 50u);
  ASSERT_TRUE(runUntil([&] { return rec_.replies.size() == 50; }));
  EXPECT_EQ(tagsOf(rec_.replies), tags);
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(rec_.replies[i].bytes, expected[i]) << "reply " << i;
    EXPECT_EQ(rec_.replies[i].info.frame_len, expected[i].size()) << "reply " << i;
    EXPECT_EQ(rec_.replies[i].info.error, ErrorKind::kNone) << "reply " << i;
  }
  EXPECT_EQ(conn->inflight(), 0u);
  EXPECT_EQ(argsOf(node_.commandsOn(1)), expected_commands);
  EXPECT_EQ(node_.connectionsAccepted(), 1u);
  EXPECT_TRUE(rec_.failures.empty());
  EXPECT_TRUE(rec_.closings.empty());
}

// Pins: cluster error replies are not this class's business: MOVED, ASK, TRYAGAIN and
// CLUSTERDOWN reach onReply byte for byte with ReplyInfo.error classified; nothing is resent and
// the connection stays open and usable.
TEST_F(BackendConnTest, ClusterErrorRepliesAreHandedOnUnchangedAndClassified) {
  const std::string moved = replies::moved(866, "127.0.0.1:7001");
  const std::string ask = replies::ask(866, "127.0.0.1:7002");
  node_.add(Rule::command("GET", {"m"}).reply(moved));
  node_.add(Rule::command("GET", {"a"}).reply(ask));
  node_.add(Rule::command("GET", {"t"}).reply(replies::tryAgain()));
  node_.add(Rule::command("GET", {"c"}).reply(replies::clusterDown()));
  node_.set("ok", "fine");
  BackendConn* conn = connectToNode();
  for (const char* key : {"m", "a", "t", "c", "ok"}) send(conn, {"GET", key});
  ASSERT_TRUE(runUntil([&] { return rec_.replies.size() == 5; }));
  EXPECT_EQ(tagsOf(rec_.replies), (std::vector<uint32_t>{1, 2, 3, 4, 5}));
  const std::vector<std::string> bytes = {moved, ask, replies::tryAgain(), replies::clusterDown(),
                                          replies::bulk("fine")};
  const std::vector<ErrorKind> kinds = {ErrorKind::kMoved, ErrorKind::kAsk, ErrorKind::kTryAgain,
                                        ErrorKind::kClusterDown, ErrorKind::kNone};
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(rec_.replies[i].bytes, bytes[i]) << "reply " << i;
    EXPECT_EQ(rec_.replies[i].info.error, kinds[i]) << "reply " << i;
    EXPECT_EQ(rec_.replies[i].info.type, i < 4 ? '-' : '$') << "reply " << i;
  }
  // A few more loop turns: nothing is retried and nothing closes.
  runUntil([] { return false; }, 30ms);
  EXPECT_EQ(node_.count("GET"), 5u);
  EXPECT_EQ(node_.commands().size(), 5u);
  EXPECT_EQ(rec_.replies.size(), 5u);
  EXPECT_TRUE(rec_.failures.empty());
  EXPECT_TRUE(rec_.closings.empty());
  EXPECT_EQ(rec_.node_failures, 0);
  EXPECT_TRUE(conn->usable());
  EXPECT_EQ(conn->inflight(), 0u);
  establish(conn);  // still works
  EXPECT_EQ(node_.connectionsAccepted(), 1u);
}

// Pins: a request with `asking` goes out as ASKING immediately followed by the command on the
// same connection; the ASKING reply is dropped (internal), only the command's reply reaches
// onReply, and FIFO matching of the requests around it is unaffected.
TEST_F(BackendConnTest, AskingRequestIsPrecededByAskingAndOnlyItsReplyIsReported) {
  node_.set("k1", "v1");
  node_.set("k2", "v2");
  node_.set("k3", "v3");
  BackendConn* conn = connectToNode();
  const uint32_t t1 = send(conn, {"GET", "k1"});
  const uint32_t t2 = send(conn, {"GET", "k2"}, /*asking=*/true);
  const uint32_t t3 = send(conn, {"GET", "k3"});
  EXPECT_EQ(conn->inflight(), 4u);  // the ASKING is in the FIFO too
  ASSERT_TRUE(runUntil([&] { return rec_.replies.size() == 3; }));
  EXPECT_EQ(tagsOf(rec_.replies), (std::vector<uint32_t>{t1, t2, t3}));
  EXPECT_EQ(rec_.replies[0].bytes, replies::bulk("v1"));
  EXPECT_EQ(rec_.replies[1].bytes, replies::bulk("v2"));
  EXPECT_EQ(rec_.replies[2].bytes, replies::bulk("v3"));
  const std::vector<ReceivedCommand> log = node_.commands();
  ASSERT_EQ(log.size(), 4u);
  EXPECT_EQ(argsOf(log), (std::vector<Args>{{"GET", "k1"}, {"ASKING"}, {"GET", "k2"},
                                            {"GET", "k3"}}));
  EXPECT_EQ(log[1].conn, log[2].conn);
  EXPECT_EQ(log[1].index + 1, log[2].index);
  EXPECT_EQ(conn->inflight(), 0u);
  EXPECT_EQ(pool_.live(), 0);  // the internal ASKING request went back to the pool
}

// Pins the handshake: AUTH / HELLO 3 [AUTH user pass] / READONLY go out first, ahead of the
// requests queued while connecting, in that order; their replies (even a failed AUTH) never
// reach onReply and do not close the connection.
TEST_F(BackendConnTest, HandshakeGoesFirstAndItsRepliesAreNotReported) {
  struct Case {
    Handshake handshake;
    std::vector<Args> preamble;
  };
  const std::vector<Case> cases = {
      {handshake(2, "", "s3cret", false), {{"AUTH", "s3cret"}}},
      {handshake(2, "app", "pw", true),
       {{"AUTH", "app", "pw"}, {"READONLY"}}},
      {handshake(2, "", "", true), {{"READONLY"}}},
      {handshake(3, "app", "pw", false),
       {{"HELLO", "3", "AUTH", "app", "pw"}}},
      {handshake(3, "", "pw", false), {{"HELLO", "3", "AUTH", "default", "pw"}}},
      {handshake(3, "", "", true), {{"HELLO", "3"}, {"READONLY"}}},
      {handshake(2, "", "", false), {}},
  };
  node_.set("k", "v");
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE("case " + std::to_string(i));
    rec_.replies.clear();
    BackendConn* conn = connectToNode(cases[i].handshake);
    const uint32_t t1 = send(conn, {"GET", "k"});
    const uint32_t t2 = send(conn, {"ECHO", "case-" + std::to_string(i)});
    ASSERT_TRUE(runUntil([&] { return rec_.replies.size() == 2; }));
    EXPECT_EQ(tagsOf(rec_.replies), (std::vector<uint32_t>{t1, t2}));
    EXPECT_EQ(rec_.replies[0].bytes, replies::bulk("v"));
    EXPECT_EQ(rec_.replies[1].bytes, replies::bulk("case-" + std::to_string(i)));
    std::vector<Args> expected = cases[i].preamble;
    expected.push_back({"GET", "k"});
    expected.push_back({"ECHO", "case-" + std::to_string(i)});
    EXPECT_EQ(argsOf(node_.commandsOn(i + 1)), expected);
    EXPECT_EQ(conn->inflight(), 0u);
    conn->close(false);
  }
  // A refused AUTH is logged only: the error is not reported and the connection stays up.
  node_.add(Rule::command("AUTH").reply(replies::error("WRONGPASS invalid username-password")));
  rec_.replies.clear();
  BackendConn* conn = connectToNode(handshake(2, "", "wrong", false));
  const uint32_t t = send(conn, {"GET", "k"});
  ASSERT_TRUE(runUntil([&] { return rec_.replies.size() == 1; }));
  EXPECT_EQ(rec_.replies[0].tag, t);
  EXPECT_EQ(rec_.replies[0].bytes, replies::bulk("v"));
  EXPECT_TRUE(conn->usable());
  EXPECT_EQ(rec_.closings.size(), cases.size());  // only the ones closed above
  EXPECT_TRUE(rec_.failures.empty());
  EXPECT_EQ(rec_.node_failures, 0);
}

// Pins: a reply that arrives one byte at a time, with gaps (many reads), is framed across reads
// and delivered once, intact.
TEST_F(BackendConnTest, ReplySplitIntoOneBytePiecesArrivesIntact) {
  const std::string value = "hello, split world";
  node_.set("big", value);
  node_.add(Rule::command("GET").split(1, 1ms));
  BackendConn* conn = connectToNode();
  const uint32_t t = send(conn, {"GET", "big"});
  ASSERT_TRUE(runUntil([&] { return !rec_.replies.empty(); }));
  // Let anything else that might be (wrongly) framed from the tail show up.
  runUntil([] { return false; }, 20ms);
  ASSERT_EQ(rec_.replies.size(), 1u);
  EXPECT_EQ(rec_.replies[0].tag, t);
  EXPECT_EQ(rec_.replies[0].bytes, replies::bulk(value));
  EXPECT_EQ(rec_.replies[0].info.type, '$');
  EXPECT_TRUE(rec_.closings.empty());
  EXPECT_EQ(conn->inflight(), 0u);
}

// Pins: when the node resets the connection after answering the 1st of 3 pipelined requests,
// the answered one is reported normally and the two written to the socket fail with
// sent=true, kLost; onClosing (connect_failed=false) comes once and before the failures, and the
// node failure is reported once.
TEST_F(BackendConnTest, ResetByNodeFailsWrittenRequestsAsSentAndLost) {
  node_.set("k", "v");
  node_.add(Rule::anyCommand().skip(1).once().reset());  // the 2nd command resets
  BackendConn* conn = connectToNode();
  const uint32_t t1 = send(conn, {"GET", "k"});
  const uint32_t t2 = send(conn, {"GET", "k"});
  const uint32_t t3 = send(conn, {"GET", "k"});
  ASSERT_TRUE(runUntil([&] { return !rec_.closings.empty(); }));
  ASSERT_EQ(rec_.replies.size(), 1u);
  EXPECT_EQ(rec_.replies[0].tag, t1);
  EXPECT_EQ(rec_.replies[0].bytes, replies::bulk("v"));
  ASSERT_EQ(rec_.failures.size(), 2u);
  EXPECT_EQ(rec_.failures[0].tag, t2);
  EXPECT_EQ(rec_.failures[1].tag, t3);
  for (const FailureRecord& f : rec_.failures) {
    EXPECT_EQ(f.why, ConnFailure::kLost);
    EXPECT_TRUE(f.sent);
    EXPECT_FALSE(f.conn_usable);
  }
  EXPECT_EQ(rec_.closings, (std::vector<bool>{false}));
  EXPECT_EQ(rec_.node_failures, 1);
  EXPECT_EQ(rec_.events, (std::vector<std::string>{"reply " + std::to_string(t1), "closing",
                                                   "failed " + std::to_string(t2),
                                                   "failed " + std::to_string(t3),
                                                   "node failure"}));
  EXPECT_EQ(node_.commands().size(), 2u);
}

// Pins: a request queued while connecting to a port that refuses the connection is failed with
// sent=false, kLost, after onClosing(connect_failed=true); the node failure is reported once.
TEST_F(BackendConnTest, RefusedConnectFailsQueuedRequestAsNotSent) {
  const uint16_t port = refusingPort();
  BackendConn* conn = connectTo(port);
  ASSERT_TRUE(rec_.closings.empty()) << "libuv reports a refused loopback connect from the loop";
  const uint32_t t = send(conn, {"GET", "k"});
  ASSERT_TRUE(runUntil([&] { return !rec_.closings.empty(); }));
  EXPECT_EQ(rec_.closings, (std::vector<bool>{true}));
  ASSERT_EQ(rec_.failures.size(), 1u);
  EXPECT_EQ(rec_.failures[0].tag, t);
  EXPECT_EQ(rec_.failures[0].why, ConnFailure::kLost);
  EXPECT_FALSE(rec_.failures[0].sent);
  EXPECT_EQ(rec_.node_failures, 1);
  EXPECT_TRUE(rec_.replies.empty());
  EXPECT_EQ(rec_.events, (std::vector<std::string>{"closing", "failed " + std::to_string(t),
                                                   "node failure"}));
  EXPECT_EQ(sumOfSeries(metrics::renderText({&registry_}), "slotwise_backend_connect_failures_total"),
            1);
}

// Pins checkTimeouts on an established connection: a stalled node's in-flight requests fail
// with kTimeout, sent=true, once request_timeout_ms has passed without progress (not before, and
// not while the request timeout is disabled); the connection closes and the node failure is
// reported once.
// A script (EVAL, FCALL) at the head of the FIFO may run long on the node:
// backend.script_timeout_ms applies to the connection instead of request_timeout_ms until it is
// answered.
TEST_F(BackendConnTest, ScriptAtTheHeadUsesTheScriptTimeout) {
  BackendConn* conn = connectToNode();
  ASSERT_NO_FATAL_FAILURE(establish(conn));
  node_.stall();
  Request* script = newRequest({"EVAL", "return 1", "0"}, false);
  script->script = true;
  conn->enqueue(script);
  send(conn, {"GET", "a"});
  ASSERT_TRUE(runUntil([&] { return node_.count("GET") == 1; }));
  const uint64_t now = uv_now(&loop_);
  conn->checkTimeouts(now + 1'000, 500, 100, 5'000);  // past request_timeout, within the script's
  EXPECT_TRUE(rec_.failures.empty());
  conn->checkTimeouts(now + 10'000, 500, 100, 5'000);
  EXPECT_EQ(rec_.failures.size(), 2u);
}

TEST_F(BackendConnTest, StalledNodeRequestsTimeOutAsSent) {
  BackendConn* conn = connectToNode();
  ASSERT_NO_FATAL_FAILURE(establish(conn));
  node_.stall();
  const uint32_t t1 = send(conn, {"GET", "a"});
  const uint32_t t2 = send(conn, {"GET", "b"});
  ASSERT_TRUE(runUntil([&] { return node_.count("GET") == 2; }));
  const uint64_t now = uv_now(&loop_);
  conn->checkTimeouts(now + 50, 500, 100, 0);  // not overdue yet
  conn->setRequestTimeout(false);           // blocking commands: never overdue
  conn->checkTimeouts(now + 10'000, 500, 100, 0);
  conn->setRequestTimeout(true);
  conn->checkTimeouts(now, 500, 0, 0);  // 0 = no request timeout
  EXPECT_TRUE(rec_.closings.empty());
  EXPECT_TRUE(rec_.failures.empty());
  conn->checkTimeouts(now + 1'000, 500, 100, 0);
  ASSERT_EQ(rec_.failures.size(), 2u);
  EXPECT_EQ(rec_.failures[0].tag, t1);
  EXPECT_EQ(rec_.failures[1].tag, t2);
  for (const FailureRecord& f : rec_.failures) {
    EXPECT_EQ(f.why, ConnFailure::kTimeout);
    EXPECT_TRUE(f.sent);
  }
  EXPECT_EQ(rec_.closings, (std::vector<bool>{false}));
  EXPECT_EQ(rec_.node_failures, 1);
  EXPECT_EQ(rec_.replies.size(), 1u);  // the PING only
}

// Pins the documented order on a request timeout (ConnLifecycle::onClosing: "called once, before
// its requests are failed"; ConnOwner::onOwnedConnClosed: "its requests fail right after this
// call"), and that the connection is no longer usable while its requests are being failed.
TEST_F(BackendConnTest, TimeoutClosesTheConnectionBeforeFailingItsRequests) {
  BackendConn* conn = connectToNode();
  ASSERT_NO_FATAL_FAILURE(establish(conn));
  conn->setOwner(&rec_);
  node_.stall();
  const uint32_t t = send(conn, {"GET", "a"});
  ASSERT_TRUE(runUntil([&] { return node_.count("GET") == 1; }));
  rec_.events.clear();
  conn->checkTimeouts(uv_now(&loop_) + 1'000, 500, 100, 0);
  ASSERT_EQ(rec_.failures.size(), 1u);
  EXPECT_EQ(rec_.failures[0].why, ConnFailure::kTimeout);
  EXPECT_EQ(rec_.events, (std::vector<std::string>{"owner closed", "closing",
                                                   "failed " + std::to_string(t),
                                                   "node failure"}));
  EXPECT_FALSE(rec_.failures[0].conn_usable);
}

// Pins the connect timeout: a connect still pending when checkTimeouts finds it overdue (here
// before the loop ever ran) closes the connection with onClosing(connect_failed=true); a request
// queued meanwhile fails with sent=false, kLost. Not overdue: nothing happens.
TEST_F(BackendConnTest, OverdueConnectIsClosedAsConnectFailed) {
  BackendConn* conn = connectToNode();
  const uint32_t t = send(conn, {"GET", "k"});
  const uint64_t now = uv_now(&loop_);
  conn->checkTimeouts(now + 500, 500, 100, 0);  // exactly at the limit: not overdue
  EXPECT_TRUE(rec_.closings.empty());
  conn->checkTimeouts(now + 10'000, 500, 100, 0);
  EXPECT_EQ(rec_.closings, (std::vector<bool>{true}));
  ASSERT_EQ(rec_.failures.size(), 1u);
  EXPECT_EQ(rec_.failures[0].tag, t);
  EXPECT_EQ(rec_.failures[0].why, ConnFailure::kLost);
  EXPECT_FALSE(rec_.failures[0].sent);
  EXPECT_EQ(rec_.node_failures, 1);
  EXPECT_EQ(rec_.events, (std::vector<std::string>{"closing", "failed " + std::to_string(t),
                                                   "node failure"}));
  // The cancelled connect must not resurrect the connection.
  runUntil([&] { return !uv_loop_alive(&loop_); });
  EXPECT_TRUE(rec_.replies.empty());
  EXPECT_EQ(rec_.closings.size(), 1u);
  EXPECT_EQ(node_.commands().size(), 0u);
}

// Pins push mode: frames the node sends with no request waiting go to ConnOwner::onPush byte for
// byte (the handshake's AUTH reply still goes to its internal request, not to the owner); when
// the connection closes the owner hears onOwnedConnClosed first, then onClosing, then the
// requests fail.
TEST_F(BackendConnTest, PushModeFramesGoToTheOwnerWhichHearsOfTheCloseFirst) {
  const std::string confirm =
      replies::array({replies::bulk("subscribe"), replies::bulk("ch"), replies::integer(1)});
  const std::string message =
      replies::array({replies::bulk("message"), replies::bulk("ch"), replies::bulk("hello")});
  node_.add(Rule::command("SUBSCRIBE").reply(confirm + message));
  node_.add(Rule::command("PING").noReply());
  BackendConn* conn = connectToNode(handshake(2, "", "pw", false));
  conn->setPushMode();
  conn->setOwner(&rec_);
  conn->sendRaw(encode({"SUBSCRIBE", "ch"}));
  ASSERT_TRUE(runUntil([&] { return rec_.pushes.size() == 2; }));
  EXPECT_EQ(rec_.pushes[0].frame, confirm);
  EXPECT_EQ(rec_.pushes[1].frame, message);
  EXPECT_EQ(rec_.pushes[0].info.type, '*');
  EXPECT_EQ(rec_.pushes[1].info.frame_len, message.size());
  EXPECT_TRUE(rec_.replies.empty());
  EXPECT_EQ(argsOf(node_.commandsOn(1)), (std::vector<Args>{{"AUTH", "pw"}, {"SUBSCRIBE", "ch"}}));
  EXPECT_EQ(sumOfSeries(metrics::renderText({&registry_}),
                        "slotwise_backend_dedicated_connections_in_use"),
            1);

  const uint32_t t = send(conn, {"PING"});
  ASSERT_TRUE(runUntil([&] { return node_.count("PING") == 1; }));
  rec_.events.clear();
  node_.resetConnections();
  ASSERT_TRUE(runUntil([&] { return !rec_.closings.empty(); }));
  EXPECT_EQ(rec_.owner_closed, 1);
  EXPECT_EQ(rec_.events, (std::vector<std::string>{"owner closed", "closing",
                                                   "failed " + std::to_string(t),
                                                   "node failure"}));
  ASSERT_EQ(rec_.failures.size(), 1u);
  EXPECT_TRUE(rec_.failures[0].sent);
  EXPECT_EQ(rec_.failures[0].why, ConnFailure::kLost);
  EXPECT_EQ(rec_.pushes.size(), 2u);
}

// Pins releaseWhenIdle(): onIdle fires exactly once, right after the last in-flight reply has
// been reported, and not again for later traffic.
TEST_F(BackendConnTest, ReleaseWhenIdleReportsIdleOnceAfterTheLastReply) {
  node_.set("k", "v");
  node_.add(Rule::command("GET").delay(5ms));
  BackendConn* conn = connectToNode();
  const uint32_t t1 = send(conn, {"GET", "k"});
  const uint32_t t2 = send(conn, {"GET", "k"});
  const uint32_t t3 = send(conn, {"GET", "k"});
  conn->releaseWhenIdle();
  ASSERT_TRUE(runUntil([&] { return rec_.idles == 1; }));
  EXPECT_EQ(rec_.events, (std::vector<std::string>{"reply " + std::to_string(t1),
                                                   "reply " + std::to_string(t2),
                                                   "reply " + std::to_string(t3), "idle"}));
  const uint32_t t4 = send(conn, {"GET", "k"});
  ASSERT_TRUE(runUntil([&] { return rec_.replies.size() == 4; }));
  runUntil([] { return false; }, 20ms);
  EXPECT_EQ(rec_.idles, 1);
  EXPECT_EQ(rec_.events.back(), "reply " + std::to_string(t4));
  EXPECT_TRUE(rec_.closings.empty());
  EXPECT_TRUE(conn->usable());
}

// Pins: bytes that are not RESP close the connection (the stream cannot be resynchronised): the
// reply framed before them is still reported, the requests behind fail with kLost, sent=true,
// and the node failure is reported once.
TEST_F(BackendConnTest, GarbageReplyClosesTheConnectionAndFailsPendingRequests) {
  node_.set("k", "v");
  node_.add(Rule::anyCommand().skip(1).once().reply("this is not RESP\r\n"));
  BackendConn* conn = connectToNode();
  const uint32_t t1 = send(conn, {"GET", "k"});
  const uint32_t t2 = send(conn, {"GET", "k"});
  const uint32_t t3 = send(conn, {"GET", "k"});
  ASSERT_TRUE(runUntil([&] { return !rec_.closings.empty(); }));
  ASSERT_EQ(rec_.replies.size(), 1u);
  EXPECT_EQ(rec_.replies[0].tag, t1);
  EXPECT_EQ(rec_.replies[0].bytes, replies::bulk("v"));
  ASSERT_EQ(rec_.failures.size(), 2u);
  EXPECT_EQ(rec_.failures[0].tag, t2);
  EXPECT_EQ(rec_.failures[1].tag, t3);
  for (const FailureRecord& f : rec_.failures) {
    EXPECT_EQ(f.why, ConnFailure::kLost);
    EXPECT_TRUE(f.sent);
  }
  EXPECT_EQ(rec_.closings, (std::vector<bool>{false}));
  EXPECT_EQ(rec_.node_failures, 1);
}

}  // namespace
}  // namespace slotwise::proxy
