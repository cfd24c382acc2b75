// FakeRedisNode: a scripted RESP server on 127.0.0.1 (kernel-picked port) for unit tests of the
// data path: the deterministic "cluster node" of ARCHITECTURE.md (Envoy's FakeUpstream idea).
//
//   test thread                               node thread (one poll(2) loop, plain sockets)
//   -----------                               ------------------------------------------------
//   add(Rule) ----------mutex----> rules_ <-- every parsed command: record it in log_, then the
//   set()/get() -------mutex----> store_      first live matching Rule decides, else the default
//   commands()/waitUntil() <-mutex- log_      handler (a tiny Redis: GET/SET/MGET/EVAL/CLUSTER..)
//   stall()/resume()/resetConnections() --wake pipe--> control tasks run on the node thread
//                                             per connection: out FIFO of timed sends
//                                               (delay, split into pieces, then FIN or RST)
//
// Replies on one connection leave in command order, as Redis sends them: a delayed or stalled
// reply holds back every later reply of that connection. Nothing here sleeps: the loop waits in
// poll(2) for a socket, the wake pipe or the earliest due send.
//
// The default handler (no rule matched) is a tiny Redis with one key space per node:
//   PING [msg], ECHO; ASKING READONLY READWRITE AUTH SELECT CLIENT QUIT -> +OK;
//   HELLO [2|3] -> the server map; GET SET MSET MGET DEL UNLINK EXISTS INCR DECR INCRBY DBSIZE
//   FLUSHALL FLUSHDB on the key space (also reachable through set()/get());
//   EVAL/EVAL_RO remember the script and EVALSHA/EVALSHA_RO need it (else -NOSCRIPT); no Lua
//   runs: both answer the script's SHA1 as a bulk string. SCRIPT LOAD/EXISTS/FLUSH;
//   CLUSTER SLOTS/NODES/INFO/MYID from setLayout(); anything else: -ERR unknown command.
//
// Hermetic and deterministic: loopback only, port 0, no redis-server, no fixed timings except
// the ones a test scripts. Thread-safety: every public method may be called from any thread
// while the node runs; callbacks given to a Rule (replyWith, matching) run on the node thread
// without the node's lock held (they may call the node's accessors).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

namespace slotwise::test {

using Args = std::vector<std::string>;
using Millis = std::chrono::milliseconds;

// One command as the node received it.
struct ReceivedCommand {
  uint64_t conn = 0;   // id of the connection it came on; the first accepted connection is 1
  uint64_t index = 0;  // position in the node's whole log, from 0
  std::chrono::steady_clock::time_point at;  // when it was parsed
  Args args;                                 // as sent (argument 0 keeps the client's case)

  // args[0] upper-cased, or "" for a command without arguments.
  std::string name() const;
  // The arguments joined by single spaces (for failure messages).
  std::string text() const;
};

// Encoders for scripted replies (exact RESP2 bytes). Error messages are given without the
// leading '-' and the CRLF.
namespace replies {
std::string simple(std::string_view s);                               // +s
std::string error(std::string_view message);                          // -message
std::string bulk(std::string_view s);                                 // $n s
std::string nullBulk();                                               // $-1
std::string integer(int64_t n);                                       // :n
std::string array(const std::vector<std::string>& encoded_elements);  // *n + elements as given
// Redis' own wording for the cluster errors (cluster.c, script.c).
std::string moved(uint16_t slot, std::string_view address);  // -MOVED <slot> <host:port>
std::string ask(uint16_t slot, std::string_view address);    // -ASK <slot> <host:port>
std::string tryAgain();     // -TRYAGAIN Multiple keys request during rehashing of slot
std::string clusterDown();  // -CLUSTERDOWN The cluster is down
std::string busy();         // -BUSY Redis is busy running a script. ...
std::string noScript();     // -NOSCRIPT No matching script. Please use EVAL.
}  // namespace replies

// One slot range of a scripted cluster layout (CLUSTER SLOTS / CLUSTER NODES answers).
struct LayoutRange {
  uint16_t first = 0;
  uint16_t last = 0;  // inclusive
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  std::string id;  // 40 characters; "" = derived from host:port
};

class FakeRedisNode {
 public:
  // A scripted reaction to the commands it matches. Build it with the static factories and the
  // chained setters, then hand it to FakeRedisNode::add(). A Rule is a plain value: changing it
  // after add() does not affect the node.
  //
  // Matching: rules are tried in the order they were added; the first one that matches the
  // command and has budget left handles it. A rule skipped by skip(n) or out of budget lets
  // the command fall through to later rules and then to the default handler.
  // Outcome (the last setter called wins): reply(bytes), replyWith(fn), answerNormally() (the
  // default handler's reply; the default outcome), noReply(), close(), reset().
  // Delivery (applies to whatever reply the outcome produces): delay(), split(), thenClose(),
  // thenReset().
  class Rule {
   public:
    enum class Outcome : uint8_t { kDefault, kBytes, kFunction, kNoReply, kClose, kReset };
    enum class After : uint8_t { kNothing, kClose, kReset };

    // Commands named `name` (case-insensitive) whose arguments after the name begin with
    // `leading_args` (exact, case-sensitive). Example: command("GET", {"foo"}).
    static Rule command(std::string name, Args leading_args = {});
    // Every command.
    static Rule anyCommand();
    // Commands for which `pred(args)` is true (runs on the node thread).
    static Rule matching(std::function<bool(const Args&)> pred);

    // Only commands that arrive on connection `conn` (see ReceivedCommand::conn).
    Rule& onConnection(uint64_t conn);
    // Handles at most `n` commands, then is skipped (default: no limit).
    Rule& times(uint64_t n);
    Rule& once() { return times(1); }
    // The first `n` commands it matches pass through untouched (to later rules / the default
    // handler) and do not use its budget. Example: anyCommand().skip(3).once().reset() resets
    // the connection on the 4th command.
    Rule& skip(uint64_t n);

    // Answers with exactly `bytes` (any RESP, or even garbage).
    Rule& reply(std::string bytes);
    // Answers with fn(args) (runs on the node thread).
    Rule& replyWith(std::function<std::string(const Args&)> fn);
    // Answers what the default handler answers (with this rule's delivery knobs).
    Rule& answerNormally();
    // Never answers: this reply and every later reply on the connection are held until the
    // connection closes (a hung node).
    Rule& noReply();
    // No reply; after the replies already owed on the connection, closes it with a FIN.
    // Commands behind this one on that connection are neither recorded nor answered.
    Rule& close();
    // No reply; after the replies already owed on the connection, resets it (RST, SO_LINGER 0).
    // Commands behind this one on that connection are neither recorded nor answered.
    Rule& reset();

    // The reply leaves `d` after the command was parsed (later replies wait behind it).
    Rule& delay(Millis d);
    // The reply leaves in pieces of `piece_bytes` bytes, `gap` apart (TCP_NODELAY is on, so on
    // loopback each piece is its own segment).
    Rule& split(size_t piece_bytes, Millis gap);
    // After the reply is written, closes the connection with a FIN / resets it (RST).
    Rule& thenClose();
    Rule& thenReset();

   private:
    friend class FakeRedisNode;
    Rule() = default;
    bool matches(const Args& args, uint64_t conn) const;

    std::string name_;  // upper-case; "" = any
    Args leading_args_;
    std::function<bool(const Args&)> pred_;
    uint64_t conn_ = 0;  // 0 = any connection
    uint64_t budget_ = UINT64_MAX;
    uint64_t skip_ = 0;
    Outcome outcome_ = Outcome::kDefault;
    std::string bytes_;
    std::function<std::string(const Args&)> fn_;
    Millis delay_{0};
    size_t piece_ = 0;  // 0 = the whole reply in one write
    Millis gap_{0};
    After after_ = After::kNothing;
  };
  using RuleId = size_t;

  FakeRedisNode();
  // Stops the node (see stop()).
  ~FakeRedisNode();
  FakeRedisNode(const FakeRedisNode&) = delete;
  FakeRedisNode& operator=(const FakeRedisNode&) = delete;

  // Binds 127.0.0.1:0, listens and starts the node thread. @return false (reason in error())
  // if a socket call failed or the node was already started.
  bool start();
  // Stops the thread and closes the listener and every connection (plain close, no reply owed
  // is sent); the port then refuses connections. Idempotent; the recorded log and store stay
  // readable. A stopped node cannot be started again.
  void stop();
  const std::string& error() const { return error_; }

  // The bound port (0 before start()), and "127.0.0.1:<port>" as Redis writes it in MOVED/ASK.
  uint16_t port() const { return port_; }
  std::string host() const { return "127.0.0.1"; }
  std::string address() const;

  // ---- scripting ----
  // Adds `rule` after the existing ones; it applies to every command processed after this
  // returns. @return its id, for hits().
  RuleId add(Rule rule);
  // Deactivates every rule; commands get the default handler again. hits() of a deactivated
  // rule keeps its last value.
  void clearRules();
  // Commands the rule handled so far (passed-through ones excluded); 0 for an unknown id.
  uint64_t hits(RuleId id) const;

  // Node-level failure knobs. stall(): from its return on, commands are still read and recorded
  // but neither matched nor answered until resume(), which answers the held ones in order (on
  // connections still open). A stalled node is a hung node, not a dead one.
  void stall();
  void resume();
  // Resets (RST) / closes (FIN) every open connection, dropping replies still owed. Runs on
  // the node thread's next turn (asynchronous); wait for openConnections() if it matters. After
  // a FIN the node reads and drops input until the peer closes too (then the socket is closed,
  // so no RST replaces the FIN).
  void resetConnections();
  void closeConnections();

  // ---- default handler state ----
  // The key space of the default handler (GET/SET/MGET/MSET/DEL/EXISTS/INCR...).
  void set(const std::string& key, std::string value);
  std::optional<std::string> get(const std::string& key) const;
  // Forgets every script (as after a restart or SCRIPT FLUSH): EVALSHA then answers NOSCRIPT.
  void forgetScripts();
  // The layout CLUSTER SLOTS, CLUSTER NODES and CLUSTER INFO describe. Ranges of one host:port
  // form one master (no replicas); this node is the "myself" of CLUSTER NODES. Without a
  // layout CLUSTER SLOTS answers an empty array.
  void setLayout(std::vector<LayoutRange> layout);

  // ---- observation (thread-safe snapshots) ----
  std::vector<ReceivedCommand> commands() const;
  // Commands named `name` (case-insensitive), oldest first.
  std::vector<ReceivedCommand> commandsNamed(std::string_view name) const;
  size_t count(std::string_view name) const;
  // Commands of one connection, oldest first.
  std::vector<ReceivedCommand> commandsOn(uint64_t conn) const;
  // Connections accepted so far, and those not closed yet. A connection counts from the node's
  // accept (a client's connect() may return earlier: wait for the count) until the node closes
  // its socket (the count drops first; after a FIN, only once the peer closed too).
  uint64_t connectionsAccepted() const;
  size_t openConnections() const;
  // Replies (scripted or default) written completely to their socket so far.
  uint64_t repliesSent() const;

  // Waits until `cond()` is true or `timeout` passes; @return the last value of cond(). cond
  // runs on the calling thread without the node's lock (it may call any accessor, of this node
  // or another); it is re-checked whenever this node records something and at least every 5 ms.
  bool waitUntil(const std::function<bool()>& cond, Millis timeout = Millis(2000)) const;
  // Shorthands: at least `n` commands named `name`; at least `n` replies sent.
  bool waitForCount(std::string_view name, size_t n, Millis timeout = Millis(2000)) const;
  bool waitForRepliesSent(uint64_t n, Millis timeout = Millis(2000)) const;

 private:
  struct Conn;
  struct Decision;
  struct RuleState {
    Rule rule;
    uint64_t hits = 0;
    uint64_t seen = 0;  // matches passed through by skip()
    bool active = true;
  };

  void run();
  void wake();
  void acceptAll();
  void readFrom(Conn& c);
  void onCommand(Conn& c, Args args);
  void execute(Conn& c, const Args& args);
  Decision decide(const Args& args, uint64_t conn);
  void pump(Conn& c);
  void runControlTasks();
  void postControl(std::function<void()> task);
  void closeConn(Conn& c, bool rst);
  // REQUIRES: mu_ held. Wakes waitUntil() callers.
  void noteChangeLocked();
  int pollTimeoutMs() const;
  // The default handler (a tiny Redis). Takes mu_ for the store.
  std::string defaultReply(const Args& args, uint64_t conn);
  std::string clusterReply(const Args& args);

  int listen_fd_ = -1;
  int wake_r_ = -1;
  int wake_w_ = -1;
  uint16_t port_ = 0;
  std::string error_;
  std::thread thread_;
  bool started_ = false;

  // Node thread only.
  std::vector<std::unique_ptr<Conn>> conns_;

  mutable std::mutex mu_;
  mutable std::condition_variable changed_;
  uint64_t changes_ = 0;                                // GUARDED_BY(mu_)
  bool stopping_ = false;                               // GUARDED_BY(mu_)
  bool stalled_ = false;                                // GUARDED_BY(mu_)
  std::vector<std::function<void()>> control_;          // GUARDED_BY(mu_)
  std::vector<RuleState> rules_;                        // GUARDED_BY(mu_), index = RuleId
  std::vector<ReceivedCommand> log_;                    // GUARDED_BY(mu_)
  std::unordered_map<std::string, std::string> store_;  // GUARDED_BY(mu_)
  std::map<std::string, std::string> scripts_;          // GUARDED_BY(mu_), sha1 -> body
  std::vector<LayoutRange> layout_;                     // GUARDED_BY(mu_)
  uint64_t accepted_ = 0;                               // GUARDED_BY(mu_)
  size_t open_ = 0;                                     // GUARDED_BY(mu_)
  uint64_t replies_sent_ = 0;                           // GUARDED_BY(mu_)
};

using Rule = FakeRedisNode::Rule;

}  // namespace slotwise::test
