// Deterministic data-path tests: one real Worker (its own thread and uv loop) in front of
// scripted FakeRedisNodes on loopback; no redis-server. Each test scripts the nodes, talks RESP
// to the worker over a loopback TCP connection the worker adopted, and checks what the client
// got and what each node received. Teardown stops the worker and checks that no request, client
// or backend connection leaked.
//
// Only Worker's public API is used (constructor, start, setSlotMap, adoptClient, post, stop,
// join, requests()): the data-path internals are being reworked. Worker construction lives in
// DataPathTest::makeWorker() alone.
//
// Layout: node a_ owns slots 0..8191, node b_ owns 8192..16383, node c_ owns nothing (only
// redirects name it). "foo" hashes to 12182 (b_), "bar" to 5061 (a_).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <mutex>
#include <sstream>
#include <thread>

#include "config/proxy_config.h"
#include "proxy/datapath/errors.h"
#include "proxy/datapath/script_cache.h"
#include "proxy/datapath/worker.h"
#include "proxy/stats/metrics.h"
#include "proxy/stats/proxy_metrics.h"
#include "router/hash_slot.h"
#include "router/slot_map.h"
#include "tests/support/fake_redis_node.h"
#include "tests/support/loopback_client.h"
#include "tests/support/quiet_test.h"
#include "tests/support/test_util.h"

namespace slotwise::proxy {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using resp::RespValue;
using test::Args;
using test::FakeRedisNode;
using test::LoopbackClient;
using test::ReceivedCommand;
using test::Rule;
namespace replies = test::replies;
using test::sumOfSeries;

constexpr uint16_t kFooSlot = 12182;   // keyHashSlot("foo"), owned by b_
constexpr uint16_t kBarSlot = 5061;    // keyHashSlot("bar"), owned by a_
constexpr uint16_t kSplitSlot = 8192;  // first slot of b_

// Records what the worker reports to the control thread. Thread-safe.
class RecordingControlSink final : public ControlSink {
 public:
  void onRedirectSeen() override { redirects_.fetch_add(1); }
  void onBackendFailure(const std::string& address) override {
    std::lock_guard<std::mutex> lock(mu_);
    failures_.push_back(address);
  }
  int redirects() const { return redirects_.load(); }
  std::vector<std::string> failures() const {
    std::lock_guard<std::mutex> lock(mu_);
    return failures_;
  }
  bool sawFailureOf(const std::string& address) const {
    const std::vector<std::string> all = failures();
    return std::find(all.begin(), all.end(), address) != all.end();
  }

 private:
  std::atomic<int> redirects_{0};
  mutable std::mutex mu_;
  std::vector<std::string> failures_;  // GUARDED_BY(mu_)
};

class DataPathTest : public test::QuietTest {
 protected:
  DataPathTest() {
    // Defaults, with timeouts small enough for sub-second tests.
    config_.workers = 1;
    config_.backend.connect_timeout = 500ms;
    config_.backend.request_timeout = 1000ms;
    config_.backend.retry_deadline = 1000ms;
    config_.backend.tryagain_backoff = 10ms;
  }

  void SetUp() override {
    for (FakeRedisNode* n : {&a_, &b_, &c_}) ASSERT_TRUE(n->start()) << n->error();
    ASSERT_EQ(router::keyHashSlot("foo"), kFooSlot);
    ASSERT_EQ(router::keyHashSlot("bar"), kBarSlot);
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    ASSERT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    ASSERT_EQ(::listen(listen_fd_, 16), 0);
    ASSERT_EQ(::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    listen_port_ = ntohs(addr.sin_port);
  }

  void TearDown() override {
    stopWorkerAndCheckLeaks();
    if (listen_fd_ >= 0) ::close(listen_fd_);
  }

  // The one place that knows Worker's constructor (keep it that way: the data path is being
  // refactored, and a signature change should be a one-line fix here).
  std::unique_ptr<Worker> makeWorker(std::shared_ptr<const config::ProxyConfig> config) {
    metrics::Shard& shard = registry_.addShard("worker-0");
    return std::make_unique<Worker>(0, std::move(config), sink_, total_clients_, shard, families_);
  }

  // Starts a worker with config_ (tests adjust config_ first), installs the a_/b_ map and
  // connects client_.
  void startProxy() {
    worker_ = makeWorker(std::make_shared<const config::ProxyConfig>(config_));
    ASSERT_TRUE(worker_->start());
    worker_started_ = true;
    worker_->setSlotMap(twoNodeMap());
    client_ = connectClient();
    ASSERT_NE(client_, nullptr);
  }

  router::SlotMapPtr twoNodeMap() const {
    router::SlotMapBuilder b;
    const uint16_t ia = b.addMaster(a_.host(), a_.port()).value();
    const uint16_t ib = b.addMaster(b_.host(), b_.port()).value();
    EXPECT_TRUE(b.assignRange(0, kSplitSlot - 1, ia).isOk());
    EXPECT_TRUE(b.assignRange(kSplitSlot, router::kHashSlotCount - 1, ib).isOk());
    return b.build(1);
  }

  // A new client connection adopted by the worker, counted first in total_clients as the
  // acceptor does. nullptr (with a test failure) if the loopback connection failed.
  std::unique_ptr<LoopbackClient> connectClient() {
    auto client = std::make_unique<LoopbackClient>();
    if (!client->connect(listen_port_)) {
      ADD_FAILURE() << client->lastError();
      return nullptr;
    }
    pollfd pfd{listen_fd_, POLLIN, 0};
    if (::poll(&pfd, 1, 2000) != 1) {
      ADD_FAILURE() << "no connection to accept";
      return nullptr;
    }
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      ADD_FAILURE() << "accept failed";
      return nullptr;
    }
    total_clients_.fetch_add(1, std::memory_order_relaxed);
    worker_->adoptClient(fd);
    return client;
  }

  RespValue command(const Args& args) { return client_->command(args, 3000ms); }

  // RequestPool::live(), read on the worker's own thread (post() is the thread-safe way in).
  // -1 if the worker did not answer within a second.
  int64_t liveRequestsNow() {
    auto done = std::make_shared<std::promise<int64_t>>();
    std::future<int64_t> live = done->get_future();
    Worker* w = worker_.get();
    worker_->post([w, done] { done->set_value(w->requests().live()); });
    return live.wait_for(1s) == std::future_status::ready ? live.get() : -1;
  }

  double gauge(const std::string& name) const {
    return sumOfSeries(metrics::renderText({&registry_}), name);
  }

  // Drains and stops the worker, then: no live request, no counted client, and the client and
  // backend connection gauges back to 0.
  void stopWorkerAndCheckLeaks() {
    if (!worker_started_) return;
    worker_started_ = false;
    worker_->stop(200);
    // A worker that does not finish would hang the whole binary: give it 5 s, then abort.
    Worker* w = worker_.get();
    std::future<void> joined = std::async(std::launch::async, [w] { w->join(); });
    if (joined.wait_for(5s) != std::future_status::ready) {
      std::fprintf(stderr, "FATAL: the worker did not stop within 5 s of stop(200)\n");
      std::abort();
    }
    EXPECT_EQ(worker_->requests().live(), 0) << "requests leaked";
    EXPECT_EQ(total_clients_.load(), 0) << "total_clients not given back";
    EXPECT_EQ(gauge("slotwise_client_connections"), 0);
    EXPECT_EQ(gauge("slotwise_backend_connections"), 0);
    EXPECT_EQ(gauge("slotwise_backend_dedicated_connections_in_use"), 0);
  }

  config::ProxyConfig config_;
  FakeRedisNode a_;  // slots 0..8191
  FakeRedisNode b_;  // slots 8192..16383
  FakeRedisNode c_;  // no slots: a redirect target
  metrics::ShardedCollector registry_;
  ProxyMetricFamilies families_ = ProxyMetricFamilies::registerAll(registry_);
  RecordingControlSink sink_;
  std::atomic<int> total_clients_{0};
  std::unique_ptr<Worker> worker_;
  bool worker_started_ = false;
  std::unique_ptr<LoopbackClient> client_;
  int listen_fd_ = -1;
  uint16_t listen_port_ = 0;
};

TEST_F(DataPathTest, GetAndSetReachTheNodeThatOwnsTheKeysSlot) {
  ASSERT_NO_FATAL_FAILURE(startProxy());
  EXPECT_EQ(command({"SET", "foo", "v1"}), RespValue::simple("OK"));
  EXPECT_EQ(command({"SET", "bar", "v2"}), RespValue::simple("OK"));
  EXPECT_EQ(b_.get("foo"), "v1");
  EXPECT_EQ(a_.get("bar"), "v2");
  EXPECT_FALSE(a_.get("foo").has_value());
  EXPECT_EQ(command({"GET", "foo"}), RespValue::bulk("v1"));
  EXPECT_EQ(command({"GET", "bar"}), RespValue::bulk("v2"));
  EXPECT_EQ(command({"GET", "nokey"}), RespValue::null());
  EXPECT_EQ(b_.count("GET"), 2u);  // foo and nokey (slot 11187)
  EXPECT_EQ(a_.count("GET"), 1u);
  EXPECT_EQ(c_.commands().size(), 0u);
  // What teardown expects back at 0 is visible while the client and both nodes are connected.
  EXPECT_EQ(gauge("slotwise_client_connections"), 1);
  EXPECT_EQ(gauge("slotwise_backend_connections"), 2);
}

TEST_F(DataPathTest, PipelinedCommandsAcrossTwoNodesComeBackInRequestOrder) {
  constexpr int kCount = 100;
  std::string pipeline;
  for (int i = 0; i < kCount; ++i) {
    const std::string key = "key:" + std::to_string(i);
    (router::keyHashSlot(key) < kSplitSlot ? a_ : b_).set(key, "value-" + std::to_string(i));
    pipeline += "*2\r\n$3\r\nGET\r\n$" + std::to_string(key.size()) + "\r\n" + key + "\r\n";
  }
  // a_ answers late, so b_'s replies reach the worker first and must wait for their turn.
  a_.add(Rule::command("GET").delay(20ms));
  ASSERT_NO_FATAL_FAILURE(startProxy());
  ASSERT_TRUE(client_->send(pipeline));
  for (int i = 0; i < kCount; ++i) {
    std::optional<RespValue> reply = client_->readReply(3000ms);
    ASSERT_TRUE(reply.has_value()) << "reply " << i << ": " << client_->lastError();
    EXPECT_EQ(*reply, RespValue::bulk("value-" + std::to_string(i))) << "reply " << i;
  }
  EXPECT_GT(a_.count("GET"), 0u);
  EXPECT_GT(b_.count("GET"), 0u);
  EXPECT_EQ(a_.count("GET") + b_.count("GET"), static_cast<size_t>(kCount));
}

TEST_F(DataPathTest, MovedIsResentToTheNamedNodeAndReportedToControl) {
  c_.set("foo", "from-c");
  b_.add(Rule::command("GET", {"foo"}).once().reply(replies::moved(kFooSlot, c_.address())));
  ASSERT_NO_FATAL_FAILURE(startProxy());
  EXPECT_EQ(command({"GET", "foo"}), RespValue::bulk("from-c"));
  EXPECT_EQ(b_.count("GET"), 1u);
  ASSERT_EQ(c_.commands().size(), 1u);  // no ASKING before a MOVED resend
  EXPECT_EQ(c_.commands()[0].args, (Args{"GET", "foo"}));
  EXPECT_EQ(sink_.redirects(), 1);
}

TEST_F(DataPathTest, AskSendsAskingThenTheCommandToTheImportingNodeAndKeepsTheMap) {
  b_.set("foo", "from-b");
  c_.set("foo", "from-c");
  b_.add(Rule::command("GET", {"foo"}).once().reply(replies::ask(kFooSlot, c_.address())));
  ASSERT_NO_FATAL_FAILURE(startProxy());
  EXPECT_EQ(command({"GET", "foo"}), RespValue::bulk("from-c"));
  const std::vector<ReceivedCommand> on_c = c_.commands();
  ASSERT_EQ(on_c.size(), 2u);
  EXPECT_EQ(on_c[0].args, (Args{"ASKING"}));
  EXPECT_EQ(on_c[1].args, (Args{"GET", "foo"}));
  EXPECT_EQ(on_c[0].conn, on_c[1].conn);
  EXPECT_EQ(on_c[0].index + 1, on_c[1].index);  // back to back on that connection
  // ASK redirects one request only: the slot still belongs to b_.
  EXPECT_EQ(command({"GET", "foo"}), RespValue::bulk("from-b"));
  EXPECT_EQ(b_.count("GET"), 2u);
  EXPECT_EQ(c_.count("GET"), 1u);
  EXPECT_EQ(sink_.redirects(), 0);  // an ASK is no reason to refresh the map
}

TEST_F(DataPathTest, RedirectLoopBeyondMaxRedirectsReturnsTheNodesOwnMovedError) {
  config_.backend.max_redirects = 3;
  b_.add(Rule::command("GET", {"foo"}).reply(replies::moved(kFooSlot, c_.address())));
  c_.add(Rule::command("GET", {"foo"}).reply(replies::moved(kFooSlot, b_.address())));
  ASSERT_NO_FATAL_FAILURE(startProxy());
  ASSERT_TRUE(client_->sendCommand({"GET", "foo"}));
  // Sends alternate b_, c_, b_, c_: the 4th (max_redirects + 1) reply is c_'s, naming b_.
  EXPECT_EQ(client_->readReplyBytes(3000ms), replies::moved(kFooSlot, b_.address()));
  EXPECT_EQ(b_.count("GET"), 2u);
  EXPECT_EQ(c_.count("GET"), 2u);
}

TEST_F(DataPathTest, TryAgainIsRetriedWithBackoffUntilItSucceeds) {
  b_.set("foo", "bar");
  b_.add(Rule::command("GET", {"foo"}).times(2).reply(replies::tryAgain()));
  ASSERT_NO_FATAL_FAILURE(startProxy());
  EXPECT_EQ(command({"GET", "foo"}), RespValue::bulk("bar"));
  const std::vector<ReceivedCommand> gets = b_.commandsNamed("GET");
  ASSERT_EQ(gets.size(), 3u);
  // Backoff tryagain_backoff (10 ms), doubling. Lower bounds only (1 ms for uv_now rounding).
  EXPECT_GE(gets[1].at - gets[0].at, 9ms);
  EXPECT_GE(gets[2].at - gets[1].at, 19ms);
}

TEST_F(DataPathTest, TryAgainBeyondTheRetryBudgetPassesTheErrorThrough) {
  config_.backend.tryagain_retries = 2;
  config_.backend.tryagain_backoff = 5ms;
  b_.add(Rule::command("GET", {"foo"}).reply(replies::tryAgain()));
  ASSERT_NO_FATAL_FAILURE(startProxy());
  ASSERT_TRUE(client_->sendCommand({"GET", "foo"}));
  EXPECT_EQ(client_->readReplyBytes(3000ms), replies::tryAgain());
  EXPECT_EQ(b_.count("GET"), 3u);  // the first send and 2 retries
}

TEST_F(DataPathTest, BusyIsPassedThroughUnchangedAndNotRetried) {
  b_.set("foo", "bar");
  b_.add(Rule::command("GET", {"foo"}).once().reply(replies::busy()));
  ASSERT_NO_FATAL_FAILURE(startProxy());
  ASSERT_TRUE(client_->sendCommand({"GET", "foo"}));
  EXPECT_EQ(client_->readReplyBytes(3000ms), replies::busy());
  EXPECT_EQ(b_.count("GET"), 1u);
  EXPECT_EQ(command({"GET", "foo"}), RespValue::bulk("bar"));
}

TEST_F(DataPathTest, ClusterDownIsRetriedUntilTheNodeAnswers) {
  b_.set("foo", "bar");
  b_.add(Rule::command("GET", {"foo"}).times(2).reply(replies::clusterDown()));
  ASSERT_NO_FATAL_FAILURE(startProxy());
  EXPECT_EQ(command({"GET", "foo"}), RespValue::bulk("bar"));
  EXPECT_EQ(b_.count("GET"), 3u);
  EXPECT_TRUE(sink_.sawFailureOf(b_.address()));
}

TEST_F(DataPathTest, ClusterDownUntilTheRetryDeadlinePassesTheErrorThrough) {
  config_.backend.retry_deadline = 300ms;
  b_.add(Rule::command("GET", {"foo"}).reply(replies::clusterDown()));
  ASSERT_NO_FATAL_FAILURE(startProxy());
  const auto start = Clock::now();
  ASSERT_TRUE(client_->sendCommand({"GET", "foo"}));
  EXPECT_EQ(client_->readReplyBytes(3000ms), replies::clusterDown());
  EXPECT_GE(Clock::now() - start, 290ms);  // retried until the deadline, not given up earlier
  EXPECT_GE(b_.count("GET"), 3u);
  EXPECT_LE(b_.count("GET"), 5u);  // every ~100 ms, not a busy loop
}

TEST_F(DataPathTest, ReplySplitIntoOneBytePiecesIsDeliveredIntact) {
  const std::string value = "line one\r\n$5\r\n*3\r\nnot a frame:-ERR x\r\n";
  b_.set("foo", value);
  b_.set("{foo}a", "A");
  b_.add(Rule::command("GET").split(1, 1ms));
  b_.add(Rule::command("MGET").split(1, 1ms));
  ASSERT_NO_FATAL_FAILURE(startProxy());
  ASSERT_TRUE(
      client_->send("*2\r\n$3\r\nGET\r\n$3\r\nfoo\r\n"
                    "*3\r\n$4\r\nMGET\r\n$6\r\n{foo}a\r\n$6\r\n{foo}b\r\n"
                    "*1\r\n$4\r\nPING\r\n"));
  EXPECT_EQ(client_->readReplyBytes(3000ms), replies::bulk(value));
  EXPECT_EQ(client_->readReplyBytes(3000ms), "*2\r\n$1\r\nA\r\n$-1\r\n");
  EXPECT_EQ(client_->readReplyBytes(3000ms), "+PONG\r\n");
}

TEST_F(DataPathTest, ConnectionLostAfterAWriteWasSentFailsItWithConnectionLost) {
  b_.add(Rule::command("SET", {"foo"}).once().reset());
  ASSERT_NO_FATAL_FAILURE(startProxy());
  EXPECT_EQ(command({"SET", "foo", "v1"}), RespValue::error(std::string(errors::kConnectionLost)));
  EXPECT_EQ(b_.count("SET"), 1u);  // never re-sent: it may have run
  EXPECT_TRUE(sink_.sawFailureOf(b_.address()));
  EXPECT_EQ(command({"SET", "foo", "v2"}), RespValue::simple("OK"));  // a new connection
  EXPECT_EQ(b_.connectionsAccepted(), 2u);
}

TEST_F(DataPathTest, ConnectionLostAfterAReadIsRetriedTransparently) {
  b_.set("foo", "bar");
  b_.add(Rule::command("GET", {"foo"}).once().reset());
  ASSERT_NO_FATAL_FAILURE(startProxy());
  EXPECT_EQ(command({"GET", "foo"}), RespValue::bulk("bar"));
  const std::vector<ReceivedCommand> gets = b_.commandsNamed("GET");
  ASSERT_EQ(gets.size(), 2u);
  EXPECT_NE(gets[0].conn, gets[1].conn);
}

TEST_F(DataPathTest, StalledNodeTimesOutAndLaterRequestsWorkAfterItRecovers) {
  config_.backend.request_timeout = 200ms;
  b_.set("foo", "bar");
  ASSERT_NO_FATAL_FAILURE(startProxy());
  b_.stall();
  const auto start = Clock::now();
  EXPECT_EQ(command({"GET", "foo"}), RespValue::error(std::string(errors::kTimeout)));
  EXPECT_GE(Clock::now() - start, 200ms);
  b_.resume();
  EXPECT_EQ(command({"GET", "foo"}), RespValue::bulk("bar"));
  EXPECT_EQ(b_.connectionsAccepted(), 2u);  // the hung connection was given up
}

TEST_F(DataPathTest, NoScriptOnEvalShaLoadsTheScriptAndRunsEvalShaAgain) {
  const std::string script = "return redis.call('GET', KEYS[1]) -- datapath_test";
  const std::string sha = ScriptCache::sha1Hex(script);
  ASSERT_NO_FATAL_FAILURE(startProxy());
  EXPECT_EQ(command({"EVAL", script, "1", "foo"}), RespValue::bulk(sha));
  b_.forgetScripts();  // e.g. the node restarted: its script cache is empty
  EXPECT_EQ(command({"EVALSHA", sha, "1", "foo"}), RespValue::bulk(sha));
  const std::vector<ReceivedCommand> on_b = b_.commands();
  ASSERT_EQ(on_b.size(), 4u);
  EXPECT_EQ(on_b[1].args, (Args{"EVALSHA", sha, "1", "foo"}));
  EXPECT_EQ(on_b[2].args, (Args{"SCRIPT", "LOAD", script}));
  EXPECT_EQ(on_b[3].args, (Args{"EVALSHA", sha, "1", "foo"}));
  EXPECT_EQ(on_b[2].conn, on_b[1].conn);
  EXPECT_EQ(on_b[3].conn, on_b[1].conn);
}

TEST_F(DataPathTest, MgetAcrossTwoNodesMergesInKeyOrder) {
  b_.set("foo", "1");
  a_.set("bar", "2");
  a_.set("{bar}x", "4");
  ASSERT_NO_FATAL_FAILURE(startProxy());
  EXPECT_EQ(command({"MGET", "foo", "bar", "nokey", "{bar}x"}),
            RespValue::array({RespValue::bulk("1"), RespValue::bulk("2"), RespValue::null(),
                              RespValue::bulk("4")}));
  for (FakeRedisNode* node : {&a_, &b_}) {
    for (const ReceivedCommand& c : node->commandsNamed("MGET")) {
      for (size_t i = 1; i < c.args.size(); ++i) {
        EXPECT_EQ(router::keyHashSlot(c.args[i]) < kSplitSlot, node == &a_) << c.text();
      }
    }
  }
  EXPECT_GE(a_.count("MGET"), 1u);
  EXPECT_GE(b_.count("MGET"), 1u);
}

TEST_F(DataPathTest, CrossSlotMsetReturnsOkOnlyWhenEveryPartSucceeds) {
  ASSERT_NO_FATAL_FAILURE(startProxy());
  EXPECT_EQ(command({"MSET", "foo", "1", "bar", "2"}), RespValue::simple("OK"));
  EXPECT_EQ(b_.get("foo"), "1");
  EXPECT_EQ(a_.get("bar"), "2");
  const std::string oom = "OOM command not allowed when used memory > 'maxmemory'.";
  a_.add(Rule::command("MSET").once().reply(replies::error(oom)));
  EXPECT_EQ(command({"MSET", "foo", "3", "bar", "4"}), RespValue::error(oom));
  EXPECT_EQ(b_.get("foo"), "3");  // the other part did run: MSET across slots is not atomic
  EXPECT_EQ(a_.get("bar"), "2");
}

// An abrupt disconnect (RST) closes the session at once: its requests in flight become orphans
// that the backend side must recycle when their replies arrive.
TEST_F(DataPathTest, ClientResetWithRequestsInFlightLeavesNoLiveRequestsOnceRepliesArrive) {
  a_.add(Rule::anyCommand().delay(100ms));
  b_.add(Rule::anyCommand().delay(100ms));
  ASSERT_NO_FATAL_FAILURE(startProxy());
  ASSERT_TRUE(
      client_->send("*2\r\n$3\r\nGET\r\n$3\r\nfoo\r\n"
                    "*3\r\n$3\r\nSET\r\n$3\r\nfoo\r\n$1\r\nx\r\n"
                    "*3\r\n$4\r\nMGET\r\n$3\r\nfoo\r\n$3\r\nbar\r\n"
                    "*2\r\n$3\r\nGET\r\n$3\r\nbar\r\n"));
  ASSERT_TRUE(b_.waitUntil([&] { return b_.commands().size() == 3; }));  // GET, SET, MGET part
  ASSERT_TRUE(a_.waitUntil([&] { return a_.commands().size() == 2; }));  // MGET part, GET
  client_->resetClose();
  ASSERT_TRUE(b_.waitForRepliesSent(3));
  ASSERT_TRUE(a_.waitForRepliesSent(2));
  EXPECT_TRUE(a_.waitUntil([&] { return liveRequestsNow() == 0; }))
      << "live requests: " << liveRequestsNow();
  EXPECT_TRUE(a_.waitUntil([&] { return gauge("slotwise_client_connections") == 0; }));
}

// An orderly close (FIN) keeps the session until the replies owed were written.
TEST_F(DataPathTest, ClientCloseWithRequestsInFlightLeavesNoLiveRequestsOnceRepliesArrive) {
  b_.add(Rule::anyCommand().delay(100ms));
  ASSERT_NO_FATAL_FAILURE(startProxy());
  ASSERT_TRUE(
      client_->send("*2\r\n$3\r\nGET\r\n$3\r\nfoo\r\n"
                    "*3\r\n$4\r\nMGET\r\n$3\r\nfoo\r\n$3\r\nbar\r\n"));
  ASSERT_TRUE(b_.waitUntil([&] { return b_.commands().size() == 2; }));
  client_->close();
  ASSERT_TRUE(b_.waitForRepliesSent(2));
  EXPECT_TRUE(b_.waitUntil([&] { return liveRequestsNow() == 0; }))
      << "live requests: " << liveRequestsNow();
  EXPECT_TRUE(b_.waitUntil([&] { return gauge("slotwise_client_connections") == 0; }));
}

// ---- beyond the basic cases: combinations the data path must also get right ---------------------

TEST_F(DataPathTest, MovedPartOfAMgetIsRedirectedOnItsOwn) {
  b_.set("foo", "stale");
  c_.set("foo", "from-c");
  a_.set("bar", "from-a");
  b_.add(Rule::command("MGET").once().reply(replies::moved(kFooSlot, c_.address())));
  ASSERT_NO_FATAL_FAILURE(startProxy());
  EXPECT_EQ(command({"MGET", "foo", "bar"}),
            RespValue::array({RespValue::bulk("from-c"), RespValue::bulk("from-a")}));
  EXPECT_EQ(a_.count("MGET"), 1u);
  ASSERT_EQ(c_.count("MGET"), 1u);
  EXPECT_EQ(c_.commandsNamed("MGET")[0].args, (Args{"MGET", "foo"}));
}

TEST_F(DataPathTest, MovedWithoutAHostMeansTheHostOfTheNodeThatSentIt) {
  c_.set("foo", "from-c");
  b_.add(Rule::command("GET").once().reply(
      replies::error("MOVED " + std::to_string(kFooSlot) + " :" + std::to_string(c_.port()))));
  ASSERT_NO_FATAL_FAILURE(startProxy());
  EXPECT_EQ(command({"GET", "foo"}), RespValue::bulk("from-c"));
}

TEST_F(DataPathTest, TryAgainAfterAskKeepsAskingTheImportingNode) {
  c_.set("foo", "from-c");
  b_.add(Rule::command("GET").once().reply(replies::ask(kFooSlot, c_.address())));
  c_.add(Rule::command("GET").once().reply(replies::tryAgain()));
  ASSERT_NO_FATAL_FAILURE(startProxy());
  EXPECT_EQ(command({"GET", "foo"}), RespValue::bulk("from-c"));
  std::vector<std::string> names;
  for (const ReceivedCommand& c : c_.commands()) names.push_back(c.name());
  EXPECT_EQ(names, (std::vector<std::string>{"ASKING", "GET", "ASKING", "GET"}));
  EXPECT_EQ(b_.count("GET"), 1u);
}

// Node b_ resets its connection on the first of three pipelined commands: the reads were sent
// and are re-sent, the write in between may have run and fails; replies keep request order.
TEST_F(DataPathTest, ConnectionLostMidPipelineResendsReadsAndFailsTheWrite) {
  b_.set("foo", "bar");
  b_.add(Rule::command("GET").once().reset());
  ASSERT_NO_FATAL_FAILURE(startProxy());
  ASSERT_TRUE(
      client_->send("*2\r\n$3\r\nGET\r\n$3\r\nfoo\r\n"
                    "*3\r\n$3\r\nSET\r\n$5\r\nother\r\n$1\r\nx\r\n"
                    "*2\r\n$3\r\nGET\r\n$3\r\nfoo\r\n"));
  EXPECT_EQ(client_->readReply(3000ms), RespValue::bulk("bar"));
  EXPECT_EQ(client_->readReply(3000ms), RespValue::error(std::string(errors::kConnectionLost)));
  EXPECT_EQ(client_->readReply(3000ms), RespValue::bulk("bar"));
  EXPECT_FALSE(b_.get("other").has_value());  // the fake never ran it; the proxy did not re-send
}

TEST_F(DataPathTest, NodeClosingTheConnectionAfterAWriteFailsItWithConnectionLost) {
  b_.add(Rule::command("SET").once().close());
  ASSERT_NO_FATAL_FAILURE(startProxy());
  EXPECT_EQ(command({"SET", "foo", "v"}), RespValue::error(std::string(errors::kConnectionLost)));
  EXPECT_EQ(b_.count("SET"), 1u);
  EXPECT_EQ(command({"SET", "foo", "v"}), RespValue::simple("OK"));
}

TEST_F(DataPathTest, MsetPartWhoseConnectionIsLostFailsTheWholeMset) {
  b_.add(Rule::command("MSET").once().reset());
  ASSERT_NO_FATAL_FAILURE(startProxy());
  EXPECT_EQ(command({"MSET", "foo", "1", "bar", "2"}),
            RespValue::error(std::string(errors::kConnectionLost)));
  EXPECT_EQ(a_.get("bar"), "2");
}

TEST_F(DataPathTest, UnreachableNodeFailsAfterTheRetryDeadline) {
  config_.backend.retry_deadline = 300ms;
  b_.stop();  // its port now refuses connections
  ASSERT_NO_FATAL_FAILURE(startProxy());
  const auto start = Clock::now();
  EXPECT_EQ(command({"GET", "foo"}), RespValue::error(std::string(errors::kBackendUnreachable)));
  EXPECT_GE(Clock::now() - start, 290ms);
  EXPECT_TRUE(sink_.sawFailureOf(b_.address()));
  EXPECT_EQ(command({"GET", "bar"}), RespValue::null());  // a_ is fine
}

TEST_F(DataPathTest, ClientResetWhileItsRequestIsParkedLeavesNoLiveRequests) {
  config_.backend.retry_deadline = 2000ms;
  b_.stop();
  ASSERT_NO_FATAL_FAILURE(startProxy());
  ASSERT_TRUE(client_->sendCommand({"GET", "foo"}));
  ASSERT_TRUE(a_.waitUntil([&] { return sink_.sawFailureOf(b_.address()); }));
  client_->resetClose();
  EXPECT_TRUE(a_.waitUntil([&] { return liveRequestsNow() == 0; }, 1000ms))
      << "live requests: " << liveRequestsNow();
}

TEST_F(DataPathTest, StalledNodeFailsEveryPipelinedRequestInOrder) {
  config_.backend.request_timeout = 200ms;
  b_.set("foo", "bar");
  ASSERT_NO_FATAL_FAILURE(startProxy());
  b_.stall();
  ASSERT_TRUE(
      client_->send("*2\r\n$3\r\nGET\r\n$3\r\nfoo\r\n"
                    "*2\r\n$3\r\nGET\r\n$3\r\nbar\r\n"
                    "*3\r\n$3\r\nSET\r\n$3\r\nfoo\r\n$1\r\nx\r\n"));
  const RespValue timeout = RespValue::error(std::string(errors::kTimeout));
  EXPECT_EQ(client_->readReply(3000ms), timeout);
  EXPECT_EQ(client_->readReply(3000ms), RespValue::null());  // a_ answered; delivered in order
  EXPECT_EQ(client_->readReply(3000ms), timeout);
  b_.resume();
}

TEST_F(DataPathTest, BackpressureWithASmallPendingLimitKeepsEveryReplyInOrder) {
  config_.limits.max_pending_requests = 4;
  constexpr int kCount = 300;
  std::string pipeline;
  for (int i = 0; i < kCount; ++i) {
    const std::string key = "key:" + std::to_string(i);
    (router::keyHashSlot(key) < kSplitSlot ? a_ : b_).set(key, std::to_string(i));
    pipeline += "*2\r\n$3\r\nGET\r\n$" + std::to_string(key.size()) + "\r\n" + key + "\r\n";
  }
  b_.add(Rule::command("GET").delay(1ms));
  ASSERT_NO_FATAL_FAILURE(startProxy());
  ASSERT_TRUE(client_->send(pipeline));
  for (int i = 0; i < kCount; ++i) {
    std::optional<RespValue> reply = client_->readReply(3000ms);
    ASSERT_TRUE(reply.has_value()) << "reply " << i << ": " << client_->lastError();
    ASSERT_EQ(*reply, RespValue::bulk(std::to_string(i))) << "reply " << i;
  }
}

TEST_F(DataPathTest, RequestArrivingInPiecesIsParsedAndAnswered) {
  b_.set("foo", "bar");
  ASSERT_NO_FATAL_FAILURE(startProxy());
  const std::string request = "*2\r\n$3\r\nGET\r\n$3\r\nfoo\r\n*1\r\n$4\r\nPING\r\n";
  // Pieces of 3 bytes; the pause only makes separate reads likely, correctness never needs it.
  for (size_t i = 0; i < request.size(); i += 3) {
    ASSERT_TRUE(client_->send(request.substr(i, 3)));
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ(client_->readReply(3000ms), RespValue::bulk("bar"));
  EXPECT_EQ(client_->readReply(3000ms), RespValue::simple("PONG"));
}

TEST_F(DataPathTest, NoScriptForAScriptTheProxyNeverSawIsPassedThrough) {
  const std::string sha = ScriptCache::sha1Hex("return 'never sent through the proxy'");
  ASSERT_NO_FATAL_FAILURE(startProxy());
  ASSERT_TRUE(client_->sendCommand({"EVALSHA", sha, "1", "foo"}));
  EXPECT_EQ(client_->readReplyBytes(3000ms), replies::noScript());
  EXPECT_EQ(b_.count("SCRIPT"), 0u);
}

TEST_F(DataPathTest, NoScriptThatPersistsIsPassedThroughAfterTheRedirectBudget) {
  config_.backend.max_redirects = 2;
  const std::string script = "return 'reload me' -- datapath_test";
  const std::string sha = ScriptCache::sha1Hex(script);
  b_.add(Rule::command("EVALSHA").reply(replies::noScript()));  // SCRIPT LOAD never helps
  ASSERT_NO_FATAL_FAILURE(startProxy());
  EXPECT_EQ(command({"EVAL", script, "1", "foo"}), RespValue::bulk(sha));
  ASSERT_TRUE(client_->sendCommand({"EVALSHA", sha, "1", "foo"}));
  EXPECT_EQ(client_->readReplyBytes(3000ms), replies::noScript());
  EXPECT_EQ(b_.count("SCRIPT"), 2u);  // one reload per redirect of the budget
  EXPECT_EQ(b_.count("EVALSHA"), 3u);
}

TEST_F(DataPathTest, NodeSendingGarbageIsDisconnectedAndReadsAreResent) {
  b_.set("foo", "bar");
  b_.add(Rule::command("GET").once().reply("?this is not RESP\r\n"));
  ASSERT_NO_FATAL_FAILURE(startProxy());
  EXPECT_EQ(command({"GET", "foo"}), RespValue::bulk("bar"));
  EXPECT_EQ(b_.connectionsAccepted(), 2u);
}

// 768 KiB: many times the worker's 64 KiB read buffer and past its 256 KiB input-keep limit.
TEST_F(DataPathTest, LargeValuesCrossManyReadsBothWays) {
  config_.backend.request_timeout = 3000ms;  // a loaded 2-core machine copies slowly
  std::string big(768 << 10, 'x');
  for (size_t i = 0; i < big.size(); i += 4093) big[i] = static_cast<char>('a' + i % 26);
  b_.add(Rule::command("GET").split(50000, 0ms));  // many writes, no delay
  ASSERT_NO_FATAL_FAILURE(startProxy());
  EXPECT_EQ(command({"SET", "foo", big}), RespValue::simple("OK"));
  EXPECT_TRUE(b_.get("foo") == big);
  ASSERT_TRUE(client_->sendCommand({"GET", "foo"}));
  std::optional<std::string> reply = client_->readReplyBytes(3000ms);
  ASSERT_TRUE(reply.has_value()) << client_->lastError();
  EXPECT_TRUE(*reply == replies::bulk(big));
}

// A worker shutting down while a part of a multi-key command waits for its node (parked): the
// part and its parent must both go back to the pool.
// (Dispatcher::close completes parked requests, so a parked part reaches its parent.)
TEST_F(DataPathTest, ShutdownWithAFanOutPartParkedLeavesNoLiveRequests) {
  config_.backend.retry_deadline = 5000ms;
  a_.set("bar", "from-a");
  b_.stop();  // the "foo" part cannot be sent: it waits for b_ in the parked list
  ASSERT_NO_FATAL_FAILURE(startProxy());
  ASSERT_TRUE(client_->sendCommand({"MGET", "foo", "bar"}));
  ASSERT_TRUE(a_.waitForRepliesSent(1));
  ASSERT_TRUE(a_.waitUntil([&] { return sink_.sawFailureOf(b_.address()); }));
  EXPECT_EQ(liveRequestsNow(), 2);  // the MGET and its parked part ("bar" part done)
  stopWorkerAndCheckLeaks();
}

// Same leak through the other door: an MGET part in flight on a hung node when the drain
// deadline passes is re-parked by failAll (read-only: resendable) and then dropped.
TEST_F(DataPathTest, ShutdownWithAReadOnlyFanOutPartInFlightLeavesNoLiveRequests) {
  a_.set("bar", "from-a");
  ASSERT_NO_FATAL_FAILURE(startProxy());
  b_.stall();
  ASSERT_TRUE(client_->sendCommand({"MGET", "foo", "bar"}));
  ASSERT_TRUE(b_.waitForCount("MGET", 1));
  ASSERT_TRUE(a_.waitForRepliesSent(1));
  stopWorkerAndCheckLeaks();  // drain (200 ms) ends before request_timeout (1 s)
}

TEST_F(DataPathTest, BackendConnectionsAuthenticateBeforeAnythingElse) {
  config_.backend.password = "secret";
  c_.set("foo", "from-c");
  b_.add(Rule::command("GET").once().reply(replies::ask(kFooSlot, c_.address())));
  ASSERT_NO_FATAL_FAILURE(startProxy());
  EXPECT_EQ(command({"GET", "foo"}), RespValue::bulk("from-c"));
  ASSERT_GE(b_.commands().size(), 1u);
  EXPECT_EQ(b_.commands()[0].args, (Args{"AUTH", "secret"}));
  std::vector<std::string> on_c;
  for (const ReceivedCommand& c : c_.commands()) on_c.push_back(c.text());
  EXPECT_EQ(on_c, (std::vector<std::string>{"AUTH secret", "ASKING", "GET foo"}));
}

}  // namespace
}  // namespace slotwise::proxy
