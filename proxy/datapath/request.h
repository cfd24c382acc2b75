// Request: one client command on its way through the proxy.
//
// A Request is linked into its client's pending FIFO (`next`) from dispatch until its reply has been
// handed to the client, and at the same time into at most one "network side" list
// (`next_out`): a backend connection's in-flight FIFO or the Dispatcher's parked (retry) list.
// Ownership: the client owns a Request while it is alive; when the client goes away, requests still
// on the network side become orphans (client == nullptr) and whoever completes them recycles them.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace slotwise::router {
struct CommandInfo;
}  // namespace slotwise::router
namespace slotwise::proxy {

class BackendConn;
class ConnOwner;
struct Request;

// Who waits for a client-visible request: the client session (implemented by ClientSession).
// The dispatcher reports through this interface, so it never includes the session's header.
// Every call runs on the worker's loop thread.
class RequestOwner {
 public:
  virtual ~RequestOwner() = default;
  // The reply of `req` (raw RESP bytes, valid for the call only). The owner takes `req` back.
  virtual void onReply(Request* req, std::string_view bytes) = 0;
  // A pinned transaction request got MOVED/ASK: the transaction must abort (it never moves).
  virtual void onTransactionRedirect() = 0;
  // The owner's blocking command now waits on `conn` (first send, or after a redirect).
  virtual void useBlockingConn(BackendConn* conn) = 0;
  // The same client as the owner of its dedicated connections.
  virtual ConnOwner* connOwner() = 0;
};

// State of a client-visible request that was split into parts (multi-key split, whole-cluster
// fan-out, SCAN cursor translation). Parts are Requests whose `parent` points here; each part's
// reply is stored in `parts` and the merged reply is built when the last one arrives.
struct FanOut {
  enum class Merge : uint8_t {
    kMget,          // array: each key's value from the part that held it, in the client's key order
    kAllOk,         // +OK if every part said +OK, else the first other reply
    kSum,           // integer sum (DEL, EXISTS, DBSIZE, ...)
    kConcat,        // concatenated arrays (KEYS)
    kConcatUnique,  // concatenated arrays without repeats (PUBSUB CHANNELS)
    kSumPairs,      // [name, n, ...] with n added up per name (PUBSUB NUMSUB)
    kAllEqual,      // every part must give the same reply (SCRIPT LOAD): that reply, else an error
    kAndArrays,     // element-wise AND of integer arrays (SCRIPT EXISTS)
    kAnyOk,         // +OK if any part said +OK, else the first reply (SCRIPT KILL)
    kMin,           // smallest integer (LASTSAVE)
    kRandomKey,     // RANDOMKEY: the key of a master drawn by its DBSIZE (parts: RANDOMKEY, DBSIZE)
    kScan,          // a page per node (scan-ahead); the nodes' cursors into a cluster-wide one
    kInfo,          // INFO: `text` (the proxy's own sections) plus the masters' keyspaces summed
  };
  Merge merge = Merge::kAllOk;
  uint32_t outstanding = 0;
  std::vector<std::string> parts;   // raw reply of each part
  std::vector<uint32_t> key_part;   // kMget: part that holds the i-th key
  std::vector<uint32_t> key_index;  // kMget: position of the i-th key inside its part
  uint64_t scan_fingerprint = 0;    // kScan: topology fingerprint of the pass
  std::vector<uint16_t> scan_slots;  // kScan: a slot of each scanned node, in pass order
  bool scan_tainted = false;        // kScan: a node of this pass was migrating a slot
  std::string text;                 // kInfo: the proxy's INFO sections before # Keyspace
  // kAllOk CONFIG SET of settings allowed by default (notify-keyspace-events): (name, value)
  // pairs the control thread keeps applying to nodes that lack them once every node said +OK.
  std::vector<std::pair<std::string, std::string>> node_settings;

  void reset() {
    outstanding = 0;
    text.clear();
    parts.clear();
    key_part.clear();
    key_index.clear();
    node_settings.clear();
  }
};

struct Request {
  enum class Target : uint8_t { kSlot, kAnyMaster, kAddress };

  Request* next = nullptr;      // client pending FIFO
  Request* next_out = nullptr;  // backend in-flight FIFO or worker parked list
  RequestOwner* client = nullptr;  // null once the client left (orphan) and for parts
  Request* parent = nullptr;  // set on a fan-out part: its reply goes to parent->fanout
  uint32_t part = 0;          // index of this part in parent->fanout->parts
  std::unique_ptr<FanOut> fanout;  // kept across reuse; `is_fanout` says whether it is in use
  std::string payload;  // RESP bytes sent to the cluster; kept for redirects and retries
  std::string reply;    // reply bytes, when completed before the requests ahead of it
  std::string address;  // Target::kAddress: node named by MOVED/ASK
  const router::CommandInfo* info = nullptr;  // for per-command metrics; nullptr for parts
  uint64_t start_ns = 0;      // uv_hrtime() when parsed (latency metric)
  uint64_t deadline_ms = 0;   // parked requests fail after this (uv_now); 0 = not set yet
  uint64_t not_before_ms = 0; // TRYAGAIN backoff
  uint32_t affinity = 0;      // picks one of connections_per_node, stable per client (ordering)
  uint16_t identity = 0;      // backend credentials (BackendPool::identityFor); 0 = backend.username
  int32_t slot = -1;
  uint8_t proto = 2;  // RESP version of the client: picks RESP2 or RESP3 backend connections
  Target target = Target::kSlot;
  uint8_t redirects = 0;
  uint8_t tryagains = 0;
  bool asking = false;    // send ASKING first (ASK redirect)
  bool internal = false;  // proxy-generated (ASKING, AUTH): reply is dropped
  bool auth = false;      // the AUTH of a new connection: an error reply is logged
  bool client_id = false;  // internal CLIENT ID: the reply is the connection's node-side id
  bool done = false;      // reply stored in `reply`
  bool is_fanout = false;  // this request waits for parts (fanout is set)
  bool pinned = false;     // must run on its client's dedicated connection (transaction, blocking)
  bool blocking = false;   // a blocking command (BLPOP, XREAD BLOCK, ...): may wait indefinitely
  bool replica_ok = false; // read-only: may go to a replica of the slot's master (read_from)
  bool prefer_replica = false;  // the client sent READONLY: a replica_ok request prefers a
                                // replica whatever backend.read_from says
  bool move = false;       // a migration move (MigrationGate): never rerouted; failures and
                           // error replies go to its owner as they are
  bool script = false;     // EVAL/EVALSHA/FCALL...: backend.script_timeout_ms applies to it
  bool out_of_band = false;  // SCRIPT KILL / FUNCTION KILL part: its own connection per node,
                             // so it is not queued behind the script it must stop
  bool silent = false;       // CLIENT REPLY OFF / SKIP: the command runs, its reply is dropped

  // Nobody waits for this request's reply any more.
  bool orphan() const { return client == nullptr && parent == nullptr; }

  void resetForReuse() {
    next = next_out = nullptr;
    client = nullptr;
    parent = nullptr;
    part = 0;
    if (fanout) fanout->reset();
    is_fanout = pinned = blocking = replica_ok = prefer_replica = move = script = out_of_band =
        silent = false;
    payload.clear();
    reply.clear();
    address.clear();
    info = nullptr;
    start_ns = 0;
    deadline_ms = not_before_ms = 0;
    affinity = 0;
    identity = 0;
    slot = -1;
    proto = 2;
    target = Target::kSlot;
    redirects = tryagains = 0;
    asking = internal = auth = client_id = done = false;
  }
};

// Per-worker free list. Recycled requests keep their string capacity, so the steady state of the
// request path allocates nothing. Strings that grew past kKeepBytes are released on recycle.
class RequestPool {
 public:
  static constexpr size_t kKeepBytes = 4096;
  static constexpr size_t kMaxFree = 4096;
  ~RequestPool() {
    for (Request* r : free_) delete r;
  }
  Request* acquire() {
    ++live_;
    if (free_.empty()) return new Request();
    Request* r = free_.back();
    free_.pop_back();
    return r;
  }
  void recycle(Request* r) {
    --live_;
    if (free_.size() >= kMaxFree) {
      delete r;
      return;
    }
    r->resetForReuse();
    if (r->payload.capacity() > kKeepBytes) std::string().swap(r->payload);
    if (r->reply.capacity() > kKeepBytes) std::string().swap(r->reply);
    free_.push_back(r);
  }
  // Requests acquired and not yet recycled: 0 once a worker has shut down (leak check in tests).
  int64_t live() const { return live_; }

 private:
  std::vector<Request*> free_;
  int64_t live_ = 0;
};

// Intrusive FIFO over one of Request's link fields.
template <Request* Request::*Link>
class RequestQueue {
 public:
  bool empty() const { return head_ == nullptr; }
  Request* front() const { return head_; }
  size_t size() const { return size_; }
  void push(Request* r) {
    r->*Link = nullptr;
    if (tail_) tail_->*Link = r; else head_ = r;
    tail_ = r;
    ++size_;
  }
  void pushFront(Request* r) {
    r->*Link = head_;
    head_ = r;
    if (!tail_) tail_ = r;
    ++size_;
  }
  Request* pop() {
    Request* r = head_;
    head_ = r->*Link;
    if (!head_) tail_ = nullptr;
    r->*Link = nullptr;
    --size_;
    return r;
  }
  // Detaches the whole list (the caller walks it with the Link field).
  Request* takeAll() {
    Request* r = head_;
    head_ = tail_ = nullptr;
    size_ = 0;
    return r;
  }

 private:
  Request* head_ = nullptr;
  Request* tail_ = nullptr;
  size_t size_ = 0;
};

using PendingQueue = RequestQueue<&Request::next>;
using OutQueue = RequestQueue<&Request::next_out>;

}  // namespace slotwise::proxy
