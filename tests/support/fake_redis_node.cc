#include "tests/support/fake_redis_node.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <deque>
#include <set>

#include "resp/command.h"
#include "resp/request_parser.h"

namespace slotwise::test {
namespace {

using Clock = std::chrono::steady_clock;
constexpr Clock::time_point kNever = Clock::time_point::max();
constexpr int kMaxPollMs = 1000;  // the loop never depends on it: the wake pipe ends every wait
constexpr Millis kRecheck{5};     // waitUntil() re-evaluates at least this often

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string sha1Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha1(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0xf]);
  }
  return out;
}

std::string lowerHex(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool parseInt(std::string_view s, int64_t* out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size() && !s.empty();
}

std::string wrongArity(std::string_view name) {
  std::string lower(name);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return replies::error("ERR wrong number of arguments for '" + lower + "' command");
}

}  // namespace

// ---- ReceivedCommand and reply encoders ------------------------------------------------------

std::string ReceivedCommand::name() const { return args.empty() ? std::string() : upper(args[0]); }

std::string ReceivedCommand::text() const {
  std::string out;
  for (const std::string& a : args) {
    if (!out.empty()) out.push_back(' ');
    out += a;
  }
  return out;
}

namespace replies {
std::string simple(std::string_view s) { return "+" + std::string(s) + "\r\n"; }
std::string error(std::string_view message) { return "-" + std::string(message) + "\r\n"; }
std::string bulk(std::string_view s) {
  return "$" + std::to_string(s.size()) + "\r\n" + std::string(s) + "\r\n";
}
std::string nullBulk() { return "$-1\r\n"; }
std::string integer(int64_t n) { return ":" + std::to_string(n) + "\r\n"; }
std::string array(const std::vector<std::string>& encoded_elements) {
  std::string out = "*" + std::to_string(encoded_elements.size()) + "\r\n";
  for (const std::string& e : encoded_elements) out += e;
  return out;
}
std::string moved(uint16_t slot, std::string_view address) {
  return error("MOVED " + std::to_string(slot) + " " + std::string(address));
}
std::string ask(uint16_t slot, std::string_view address) {
  return error("ASK " + std::to_string(slot) + " " + std::string(address));
}
std::string tryAgain() { return error("TRYAGAIN Multiple keys request during rehashing of slot"); }
std::string clusterDown() { return error("CLUSTERDOWN The cluster is down"); }
std::string busy() {
  return error(
      "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.");
}
std::string noScript() { return error("NOSCRIPT No matching script. Please use EVAL."); }
}  // namespace replies

// ---- Rule -----------------------------------------------------------------------------------

FakeRedisNode::Rule FakeRedisNode::Rule::command(std::string name, Args leading_args) {
  Rule r;
  r.name_ = upper(name);
  r.leading_args_ = std::move(leading_args);
  return r;
}

FakeRedisNode::Rule FakeRedisNode::Rule::anyCommand() { return Rule(); }

FakeRedisNode::Rule FakeRedisNode::Rule::matching(std::function<bool(const Args&)> pred) {
  Rule r;
  r.pred_ = std::move(pred);
  return r;
}

FakeRedisNode::Rule& FakeRedisNode::Rule::onConnection(uint64_t conn) {
  conn_ = conn;
  return *this;
}
FakeRedisNode::Rule& FakeRedisNode::Rule::times(uint64_t n) {
  budget_ = n;
  return *this;
}
FakeRedisNode::Rule& FakeRedisNode::Rule::skip(uint64_t n) {
  skip_ = n;
  return *this;
}
FakeRedisNode::Rule& FakeRedisNode::Rule::reply(std::string bytes) {
  outcome_ = Outcome::kBytes;
  bytes_ = std::move(bytes);
  return *this;
}
FakeRedisNode::Rule& FakeRedisNode::Rule::replyWith(std::function<std::string(const Args&)> fn) {
  outcome_ = Outcome::kFunction;
  fn_ = std::move(fn);
  return *this;
}
FakeRedisNode::Rule& FakeRedisNode::Rule::answerNormally() {
  outcome_ = Outcome::kDefault;
  return *this;
}
FakeRedisNode::Rule& FakeRedisNode::Rule::noReply() {
  outcome_ = Outcome::kNoReply;
  return *this;
}
FakeRedisNode::Rule& FakeRedisNode::Rule::close() {
  outcome_ = Outcome::kClose;
  return *this;
}
FakeRedisNode::Rule& FakeRedisNode::Rule::reset() {
  outcome_ = Outcome::kReset;
  return *this;
}
FakeRedisNode::Rule& FakeRedisNode::Rule::delay(Millis d) {
  delay_ = d;
  return *this;
}
FakeRedisNode::Rule& FakeRedisNode::Rule::split(size_t piece_bytes, Millis gap) {
  piece_ = piece_bytes;
  gap_ = gap;
  return *this;
}
FakeRedisNode::Rule& FakeRedisNode::Rule::thenClose() {
  after_ = After::kClose;
  return *this;
}
FakeRedisNode::Rule& FakeRedisNode::Rule::thenReset() {
  after_ = After::kReset;
  return *this;
}

bool FakeRedisNode::Rule::matches(const Args& args, uint64_t conn) const {
  if (conn_ != 0 && conn_ != conn) return false;
  if (!name_.empty()) {
    if (args.empty() || upper(args[0]) != name_) return false;
    if (args.size() < leading_args_.size() + 1) return false;
    if (!std::equal(leading_args_.begin(), leading_args_.end(), args.begin() + 1)) return false;
  }
  return !pred_ || pred_(args);
}

// ---- connection state (node thread only) ------------------------------------------------------

struct FakeRedisNode::Conn {
  struct Out {
    std::string bytes;
    size_t written = 0;
    size_t piece = 0;  // 0 = everything in one send
    Millis gap{0};
    Clock::time_point due;  // nothing of it leaves before; kNever = held forever
    Rule::After after = Rule::After::kNothing;
    bool is_reply = true;  // counts in repliesSent() once written
  };
  int fd = -1;
  uint64_t id = 0;
  std::string in;
  resp::RequestParser parser;
  resp::Command cmd;
  std::deque<Out> out;
  std::deque<Args> held;    // commands read while the node was stalled
  bool want_write = false;  // the last send hit EAGAIN: wait for POLLOUT
  bool fin_sent = false;    // shutdown(SHUT_WR) done: input is dropped until the peer closes
  bool doomed = false;      // a close or reset is queued: later commands are not executed
  bool dead = false;        // fd closed; removed at the end of the loop turn
};

struct FakeRedisNode::Decision {
  Rule::Outcome outcome = Rule::Outcome::kDefault;
  std::string bytes;
  std::function<std::string(const Args&)> fn;
  Millis delay{0};
  size_t piece = 0;
  Millis gap{0};
  Rule::After after = Rule::After::kNothing;
};

// ---- lifecycle ------------------------------------------------------------------------------

FakeRedisNode::FakeRedisNode() = default;

FakeRedisNode::~FakeRedisNode() { stop(); }

bool FakeRedisNode::start() {
  if (started_) {
    error_ = "already started";
    return false;
  }
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) {
    error_ = std::string("socket: ") + std::strerror(errno);
    return false;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int fds[2];
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(listen_fd_, 128) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
      ::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) {
    error_ = std::string("listen on 127.0.0.1:0: ") + std::strerror(errno);
    ::close(listen_fd_);
    listen_fd_ = -1;
    return false;
  }
  wake_r_ = fds[0];
  wake_w_ = fds[1];
  port_ = ntohs(addr.sin_port);
  started_ = true;
  thread_ = std::thread([this] { run(); });
  return true;
}

void FakeRedisNode::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) {
    wake();
    thread_.join();
  }
  for (int* fd : {&listen_fd_, &wake_r_, &wake_w_}) {
    if (*fd >= 0) ::close(*fd);
    *fd = -1;
  }
}

std::string FakeRedisNode::address() const { return host() + ":" + std::to_string(port_); }

void FakeRedisNode::wake() {
  const char byte = 1;
  ssize_t ignored = ::write(wake_w_, &byte, 1);  // a full pipe already wakes the loop
  (void)ignored;
}

// ---- scripting and knobs --------------------------------------------------------------------

FakeRedisNode::RuleId FakeRedisNode::add(Rule rule) {
  std::lock_guard<std::mutex> lock(mu_);
  rules_.push_back(RuleState{std::move(rule)});
  return rules_.size() - 1;
}

void FakeRedisNode::clearRules() {
  std::lock_guard<std::mutex> lock(mu_);
  for (RuleState& r : rules_) r.active = false;
}

uint64_t FakeRedisNode::hits(RuleId id) const {
  std::lock_guard<std::mutex> lock(mu_);
  return id < rules_.size() ? rules_[id].hits : 0;
}

void FakeRedisNode::stall() {
  std::lock_guard<std::mutex> lock(mu_);
  stalled_ = true;
}

void FakeRedisNode::resume() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stalled_ = false;
  }
  postControl([this] {
    for (auto& c : conns_) {
      while (!c->dead && !c->held.empty()) {
        Args args = std::move(c->held.front());
        c->held.pop_front();
        if (!c->doomed) execute(*c, args);
      }
    }
  });
}

void FakeRedisNode::resetConnections() {
  postControl([this] {
    for (auto& c : conns_) {
      if (!c->dead) closeConn(*c, true);
    }
  });
}

void FakeRedisNode::closeConnections() {
  postControl([this] {
    for (auto& c : conns_) {
      if (c->dead || c->fin_sent) continue;
      c->out.clear();
      c->held.clear();
      c->doomed = true;
      c->fin_sent = true;
      ::shutdown(c->fd, SHUT_WR);
    }
  });
}

void FakeRedisNode::postControl(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    control_.push_back(std::move(task));
  }
  wake();
}

void FakeRedisNode::set(const std::string& key, std::string value) {
  std::lock_guard<std::mutex> lock(mu_);
  store_[key] = std::move(value);
}

std::optional<std::string> FakeRedisNode::get(const std::string& key) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = store_.find(key);
  if (it == store_.end()) return std::nullopt;
  return it->second;
}

void FakeRedisNode::forgetScripts() {
  std::lock_guard<std::mutex> lock(mu_);
  scripts_.clear();
}

void FakeRedisNode::setLayout(std::vector<LayoutRange> layout) {
  std::lock_guard<std::mutex> lock(mu_);
  layout_ = std::move(layout);
}

// ---- observation ----------------------------------------------------------------------------

std::vector<ReceivedCommand> FakeRedisNode::commands() const {
  std::lock_guard<std::mutex> lock(mu_);
  return log_;
}

std::vector<ReceivedCommand> FakeRedisNode::commandsNamed(std::string_view name) const {
  const std::string wanted = upper(name);
  std::vector<ReceivedCommand> out;
  std::lock_guard<std::mutex> lock(mu_);
  for (const ReceivedCommand& c : log_) {
    if (c.name() == wanted) out.push_back(c);
  }
  return out;
}

size_t FakeRedisNode::count(std::string_view name) const { return commandsNamed(name).size(); }

std::vector<ReceivedCommand> FakeRedisNode::commandsOn(uint64_t conn) const {
  std::vector<ReceivedCommand> out;
  std::lock_guard<std::mutex> lock(mu_);
  for (const ReceivedCommand& c : log_) {
    if (c.conn == conn) out.push_back(c);
  }
  return out;
}

uint64_t FakeRedisNode::connectionsAccepted() const {
  std::lock_guard<std::mutex> lock(mu_);
  return accepted_;
}

size_t FakeRedisNode::openConnections() const {
  std::lock_guard<std::mutex> lock(mu_);
  return open_;
}

uint64_t FakeRedisNode::repliesSent() const {
  std::lock_guard<std::mutex> lock(mu_);
  return replies_sent_;
}

bool FakeRedisNode::waitUntil(const std::function<bool()>& cond, Millis timeout) const {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    uint64_t seen = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      seen = changes_;
    }
    if (cond()) return true;
    const auto now = Clock::now();
    if (now >= deadline) return false;
    std::unique_lock<std::mutex> lock(mu_);
    changed_.wait_until(lock, std::min(deadline, now + kRecheck), [&] { return changes_ != seen; });
  }
}

bool FakeRedisNode::waitForCount(std::string_view name, size_t n, Millis timeout) const {
  return waitUntil([&] { return count(name) >= n; }, timeout);
}

bool FakeRedisNode::waitForRepliesSent(uint64_t n, Millis timeout) const {
  return waitUntil([&] { return repliesSent() >= n; }, timeout);
}

void FakeRedisNode::noteChangeLocked() {
  ++changes_;
  changed_.notify_all();
}

// ---- the node thread ------------------------------------------------------------------------

void FakeRedisNode::run() {
  std::vector<pollfd> fds;
  while (true) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) break;
    }
    runControlTasks();
    fds.clear();
    fds.push_back({wake_r_, POLLIN, 0});
    fds.push_back({listen_fd_, POLLIN, 0});
    const size_t polled = conns_.size();
    for (const auto& c : conns_) {
      fds.push_back({c->fd, static_cast<short>(POLLIN | (c->want_write ? POLLOUT : 0)), 0});
    }
    const int n = ::poll(fds.data(), fds.size(), pollTimeoutMs());
    if (n < 0 && errno != EINTR) break;
    if (n > 0) {
      if (fds[0].revents != 0) {
        char buf[64];
        while (::read(wake_r_, buf, sizeof(buf)) > 0) {
        }
      }
      runControlTasks();  // e.g. a reset asked for before this turn's input is read
      if (fds[1].revents & POLLIN) acceptAll();
      for (size_t i = 0; i < polled; ++i) {
        Conn& c = *conns_[i];
        const short ev = fds[2 + i].revents;
        if (c.dead || ev == 0) continue;
        if (ev & POLLOUT) c.want_write = false;
        if (ev & (POLLIN | POLLHUP | POLLERR)) readFrom(c);
      }
    }
    for (auto& c : conns_) {
      if (!c->dead) pump(*c);
    }
    conns_.erase(
        std::remove_if(conns_.begin(), conns_.end(), [](const auto& c) { return c->dead; }),
        conns_.end());
  }
  for (auto& c : conns_) {
    if (!c->dead) closeConn(*c, false);
  }
  conns_.clear();
}

void FakeRedisNode::runControlTasks() {
  std::vector<std::function<void()>> tasks;
  {
    std::lock_guard<std::mutex> lock(mu_);
    tasks.swap(control_);
  }
  for (auto& t : tasks) t();
}

// Milliseconds until the earliest send that is due (rounded up, so the loop never spins before
// it), or -1 when nothing is scheduled; capped at kMaxPollMs.
int FakeRedisNode::pollTimeoutMs() const {
  const auto now = Clock::now();
  int best = -1;
  for (const auto& c : conns_) {
    if (c->dead || c->want_write || c->out.empty() || c->out.front().due == kNever) continue;
    const auto left = c->out.front().due - now;
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(left).count();
    const int ms = us <= 0 ? 0 : static_cast<int>(std::min<int64_t>((us + 999) / 1000, kMaxPollMs));
    if (best < 0 || ms < best) best = ms;
  }
  return best < 0 ? kMaxPollMs : best;
}

void FakeRedisNode::acceptAll() {
  while (true) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN, or an error the next poll reports again
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    auto c = std::make_unique<Conn>();
    c->fd = fd;
    {
      std::lock_guard<std::mutex> lock(mu_);
      c->id = ++accepted_;
      ++open_;
      noteChangeLocked();
    }
    conns_.push_back(std::move(c));
  }
}

// The count drops before the socket is closed, so a peer that saw the close never reads a stale
// openConnections().
void FakeRedisNode::closeConn(Conn& c, bool rst) {
  if (c.dead) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    --open_;
    noteChangeLocked();
  }
  if (rst) {
    const linger lg{1, 0};
    ::setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  }
  ::close(c.fd);
  c.fd = -1;
  c.dead = true;
  c.out.clear();
  c.held.clear();
}

// Reads everything available, then parses and handles every complete command. On EOF or a read
// error the commands that arrived first are still recorded; the connection is then closed.
void FakeRedisNode::readFrom(Conn& c) {
  bool eof = false;
  char buf[16384];
  while (true) {
    const ssize_t n = ::recv(c.fd, buf, sizeof(buf), 0);
    if (n > 0) {
      if (!c.fin_sent && !c.doomed) c.in.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    eof = true;  // 0 = the peer closed; < 0 = reset or another error
    break;
  }
  size_t used = 0;
  while (!c.doomed && used < c.in.size()) {
    const resp::ParseStatus st = c.parser.parse(std::string_view(c.in).substr(used), &c.cmd);
    if (st == resp::ParseStatus::kNeedMore) break;
    if (st == resp::ParseStatus::kError) {
      c.out.push_back({replies::error("ERR " + c.parser.error()), 0, 0, Millis(0), Clock::now(),
                       Rule::After::kClose, true});
      c.doomed = true;
      break;
    }
    used += c.cmd.frame_len;
    Args args;
    for (size_t i = 0; i < c.cmd.argc(); ++i) args.emplace_back(c.cmd.arg(i));
    if (!args.empty()) onCommand(c, std::move(args));
  }
  c.in.erase(0, c.doomed ? c.in.size() : used);
  if (eof) closeConn(c, false);
}

void FakeRedisNode::onCommand(Conn& c, Args args) {
  bool hold = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    log_.push_back(ReceivedCommand{c.id, log_.size(), Clock::now(), args});
    hold = stalled_;
    noteChangeLocked();
  }
  if (hold || !c.held.empty()) {
    c.held.push_back(std::move(args));
    return;
  }
  execute(c, args);
}

// The first active rule that matches and has budget left, else the default handler. Matching
// predicates run on a snapshot without the lock (they may call the node); budgets are then
// charged under the lock, in rule order.
FakeRedisNode::Decision FakeRedisNode::decide(const Args& args, uint64_t conn) {
  std::vector<std::pair<RuleId, Rule>> snapshot;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (RuleId id = 0; id < rules_.size(); ++id) {
      if (rules_[id].active) snapshot.emplace_back(id, rules_[id].rule);
    }
  }
  std::vector<RuleId> matched;
  for (const auto& [id, rule] : snapshot) {
    if (rule.matches(args, conn)) matched.push_back(id);
  }
  Decision d;
  std::lock_guard<std::mutex> lock(mu_);
  for (RuleId id : matched) {
    RuleState& r = rules_[id];
    if (!r.active || r.hits >= r.rule.budget_) continue;
    if (r.seen < r.rule.skip_) {
      ++r.seen;
      continue;
    }
    ++r.hits;
    d.outcome = r.rule.outcome_;
    d.bytes = r.rule.bytes_;
    d.fn = r.rule.fn_;
    d.delay = r.rule.delay_;
    d.piece = r.rule.piece_;
    d.gap = r.rule.gap_;
    d.after = r.rule.after_;
    noteChangeLocked();
    break;
  }
  return d;
}

void FakeRedisNode::execute(Conn& c, const Args& args) {
  Decision d = decide(args, c.id);
  Conn::Out o;
  o.due = Clock::now() + d.delay;
  o.piece = d.piece;
  o.gap = d.gap;
  o.after = d.after;
  switch (d.outcome) {
    case Rule::Outcome::kDefault:
      o.bytes = defaultReply(args, c.id);
      break;
    case Rule::Outcome::kBytes:
      o.bytes = std::move(d.bytes);
      break;
    case Rule::Outcome::kFunction:
      o.bytes = d.fn(args);
      break;
    case Rule::Outcome::kNoReply:
      o.due = kNever;
      o.is_reply = false;
      o.after = Rule::After::kNothing;
      break;
    case Rule::Outcome::kClose:
    case Rule::Outcome::kReset:
      o.is_reply = false;
      o.after = d.outcome == Rule::Outcome::kClose ? Rule::After::kClose : Rule::After::kReset;
      break;
  }
  if (o.after != Rule::After::kNothing) c.doomed = true;
  c.out.push_back(std::move(o));
}

// Sends what is due from the head of the FIFO, piece by piece, then runs its close or reset.
void FakeRedisNode::pump(Conn& c) {
  const auto now = Clock::now();
  while (!c.dead && !c.want_write && !c.out.empty()) {
    Conn::Out& o = c.out.front();
    if (o.due > now) return;
    if (o.written < o.bytes.size()) {
      size_t n = o.bytes.size() - o.written;
      if (o.piece != 0) n = std::min(n, o.piece);
      const ssize_t w = ::send(c.fd, o.bytes.data() + o.written, n, MSG_NOSIGNAL);
      if (w < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          c.want_write = true;
          return;
        }
        closeConn(c, false);
        return;
      }
      o.written += static_cast<size_t>(w);
      if (o.written < o.bytes.size()) {
        if (o.piece != 0 && static_cast<size_t>(w) == n) o.due = now + o.gap;
        continue;
      }
    }
    const Rule::After after = o.after;
    const bool is_reply = o.is_reply;
    c.out.pop_front();
    if (is_reply) {
      std::lock_guard<std::mutex> lock(mu_);
      ++replies_sent_;
      noteChangeLocked();
    }
    if (after == Rule::After::kReset) {
      closeConn(c, true);
      return;
    }
    if (after == Rule::After::kClose) {
      c.out.clear();
      c.held.clear();
      c.fin_sent = true;
      ::shutdown(c.fd, SHUT_WR);
      return;
    }
  }
}

// ---- the default handler ----------------------------------------------------------------------

// A tiny Redis: enough of the command set for data-path tests, with Redis' reply shapes.
//   PING [msg], ECHO, ASKING/READONLY/READWRITE/AUTH/SELECT/CLIENT/QUIT -> +OK (PING: +PONG)
//   HELLO [2|3 ...] -> the server map (RESP3 map for 3, flat array otherwise)
//   GET SET(options ignored) DEL UNLINK EXISTS MGET MSET INCR DECR INCRBY DBSIZE FLUSHALL FLUSHDB
//   SCRIPT LOAD/EXISTS/FLUSH; EVAL/EVAL_RO remember the body and EVALSHA/EVALSHA_RO need it (else
//   -NOSCRIPT); there is no Lua: both answer the script's SHA1 as a bulk string.
//   CLUSTER SLOTS/NODES/INFO/MYID from setLayout(); anything else: -ERR unknown command.
std::string FakeRedisNode::defaultReply(const Args& args, uint64_t conn) {
  const std::string name = upper(args[0]);
  const size_t argc = args.size();
  auto arity = [&](size_t min, size_t max = SIZE_MAX) { return argc >= min && argc <= max; };
  if (name == "PING") return argc > 1 ? replies::bulk(args[1]) : replies::simple("PONG");
  if (name == "ECHO") return arity(2, 2) ? replies::bulk(args[1]) : wrongArity(name);
  if (name == "ASKING" || name == "READONLY" || name == "READWRITE" || name == "AUTH" ||
      name == "SELECT" || name == "CLIENT" || name == "QUIT") {
    return replies::simple("OK");
  }
  if (name == "HELLO") {
    const bool resp3 = argc > 1 && args[1] == "3";
    std::string body = replies::bulk("server") + replies::bulk("redis") + replies::bulk("version") +
                       replies::bulk("7.0.15") + replies::bulk("proto") +
                       replies::integer(resp3 ? 3 : 2) + replies::bulk("id") +
                       replies::integer(static_cast<int64_t>(conn)) + replies::bulk("mode") +
                       replies::bulk("cluster") + replies::bulk("role") + replies::bulk("master") +
                       replies::bulk("modules") + "*0\r\n";
    return (resp3 ? std::string("%7\r\n") : std::string("*14\r\n")) + body;
  }
  if (name == "CLUSTER") return clusterReply(args);
  if (name == "EVAL" || name == "EVAL_RO") {
    if (!arity(3)) return wrongArity(name);
    const std::string sha = sha1Hex(args[1]);
    std::lock_guard<std::mutex> lock(mu_);
    scripts_[sha] = args[1];
    return replies::bulk(sha);
  }
  if (name == "EVALSHA" || name == "EVALSHA_RO") {
    if (!arity(3)) return wrongArity(name);
    const std::string sha = lowerHex(args[1]);
    std::lock_guard<std::mutex> lock(mu_);
    return scripts_.count(sha) != 0 ? replies::bulk(sha) : replies::noScript();
  }
  if (name == "SCRIPT") {
    const std::string sub = argc > 1 ? upper(args[1]) : std::string();
    std::lock_guard<std::mutex> lock(mu_);
    if (sub == "LOAD" && argc == 3) {
      const std::string sha = sha1Hex(args[2]);
      scripts_[sha] = args[2];
      return replies::bulk(sha);
    }
    if (sub == "FLUSH") {
      scripts_.clear();
      return replies::simple("OK");
    }
    if (sub == "EXISTS" && argc > 2) {
      std::vector<std::string> out;
      for (size_t i = 2; i < argc; ++i) {
        out.push_back(replies::integer(static_cast<int64_t>(scripts_.count(lowerHex(args[i])))));
      }
      return replies::array(out);
    }
    return replies::error("ERR unknown subcommand or wrong number of arguments for 'script'");
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (name == "GET") {
    if (!arity(2, 2)) return wrongArity(name);
    auto it = store_.find(args[1]);
    return it == store_.end() ? replies::nullBulk() : replies::bulk(it->second);
  }
  if (name == "SET") {
    if (!arity(3)) return wrongArity(name);
    store_[args[1]] = args[2];
    return replies::simple("OK");
  }
  if (name == "MSET") {
    if (argc < 3 || argc % 2 == 0) return wrongArity(name);
    for (size_t i = 1; i + 1 < argc; i += 2) store_[args[i]] = args[i + 1];
    return replies::simple("OK");
  }
  if (name == "MGET") {
    if (!arity(2)) return wrongArity(name);
    std::vector<std::string> out;
    for (size_t i = 1; i < argc; ++i) {
      auto it = store_.find(args[i]);
      out.push_back(it == store_.end() ? replies::nullBulk() : replies::bulk(it->second));
    }
    return replies::array(out);
  }
  if (name == "DEL" || name == "UNLINK" || name == "EXISTS") {
    if (!arity(2)) return wrongArity(name);
    int64_t n = 0;
    for (size_t i = 1; i < argc; ++i) {
      n += name == "EXISTS" ? static_cast<int64_t>(store_.count(args[i]))
                            : static_cast<int64_t>(store_.erase(args[i]));
    }
    return replies::integer(n);
  }
  if (name == "INCR" || name == "DECR" || name == "INCRBY") {
    if (!arity(name == "INCRBY" ? 3 : 2, name == "INCRBY" ? 3 : 2)) return wrongArity(name);
    int64_t by = name == "DECR" ? -1 : 1;
    int64_t value = 0;
    if (name == "INCRBY" && !parseInt(args[2], &by)) {
      return replies::error("ERR value is not an integer or out of range");
    }
    auto it = store_.find(args[1]);
    if (it != store_.end() && !parseInt(it->second, &value)) {
      return replies::error("ERR value is not an integer or out of range");
    }
    value += by;
    store_[args[1]] = std::to_string(value);
    return replies::integer(value);
  }
  if (name == "DBSIZE") return replies::integer(static_cast<int64_t>(store_.size()));
  if (name == "FLUSHALL" || name == "FLUSHDB") {
    store_.clear();
    return replies::simple("OK");
  }
  std::string message = "ERR unknown command '" + args[0] + "', with args beginning with: ";
  for (size_t i = 1; i < argc; ++i) message += "'" + args[i] + "' ";
  return replies::error(message);
}

std::string FakeRedisNode::clusterReply(const Args& args) {
  const std::string sub = args.size() > 1 ? upper(args[1]) : std::string();
  std::lock_guard<std::mutex> lock(mu_);
  auto idOf = [](const LayoutRange& r) {
    return r.id.empty() ? sha1Hex(r.host + ":" + std::to_string(r.port)) : r.id;
  };
  if (sub == "SLOTS") {
    std::vector<std::string> ranges;
    for (const LayoutRange& r : layout_) {
      const std::string node =
          replies::array({replies::bulk(r.host), replies::integer(r.port), replies::bulk(idOf(r))});
      ranges.push_back(replies::array({replies::integer(r.first), replies::integer(r.last), node}));
    }
    return replies::array(ranges);
  }
  if (sub == "NODES") {
    // One line per master, in first-seen order: id addr@cport flags master ping pong epoch
    // link-state slots...
    std::vector<std::string> order;
    std::map<std::string, std::string> lines;
    int epoch = 0;
    for (const LayoutRange& r : layout_) {
      const std::string addr = r.host + ":" + std::to_string(r.port);
      auto [it, fresh] = lines.try_emplace(addr);
      if (fresh) {
        order.push_back(addr);
        const bool me = r.port == port_ && r.host == host();
        it->second = idOf(r) + " " + addr + "@" + std::to_string(r.port + 10000) +
                     (me ? " myself,master" : " master") + " - 0 0 " + std::to_string(++epoch) +
                     " connected";
      }
      it->second += " " + std::to_string(r.first);
      if (r.last != r.first) it->second += "-" + std::to_string(r.last);
    }
    std::string text;
    for (const std::string& addr : order) text += lines[addr] + "\n";
    return replies::bulk(text);
  }
  if (sub == "INFO") {
    size_t assigned = 0;
    std::set<std::string> nodes;
    for (const LayoutRange& r : layout_) {
      assigned += static_cast<size_t>(r.last - r.first) + 1;
      nodes.insert(r.host + ":" + std::to_string(r.port));
    }
    return replies::bulk(
        "cluster_enabled:1\r\ncluster_state:" + std::string(assigned == 16384 ? "ok" : "fail") +
        "\r\ncluster_slots_assigned:" + std::to_string(assigned) +
        "\r\ncluster_known_nodes:" + std::to_string(nodes.size()) + "\r\n");
  }
  if (sub == "MYID") return replies::bulk(sha1Hex(address()));
  return replies::error("ERR unknown subcommand '" + (args.size() > 1 ? args[1] : "") +
                        "'. Try CLUSTER HELP.");
}

}  // namespace slotwise::test
