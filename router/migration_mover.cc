#include "router/migration_mover.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iterator>
#include <limits>
#include <optional>
#include <utility>

#include "common/host_port.h"
#include "common/str_cat.h"
#include "router/redirect.h"

namespace slotwise::router {
namespace {

using resp::RespValue;
using resp::ValueType;
using std::chrono::milliseconds;

constexpr milliseconds kBackoffMin{100};
constexpr milliseconds kBackoffMax{2000};
// DBSIZE is O(1): asked this often while moving (keys_left) and once finished (re-check).
constexpr milliseconds kDbsizeInterval{1000};
// A key without a target, or one that kept being redirected, is tried again this much later.
constexpr milliseconds kRerouteDelay{100};
// Minimum time between two on_refresh() calls.
constexpr milliseconds kRefreshSpacing{100};
// Redirects followed in a row for one key before it goes back to target_of() (with a delay).
constexpr uint32_t kMaxRedirects = 3;

// MIGRATE relays the target's refusal as "ERR Target instance replied with error: <error>".
constexpr std::string_view kTargetErrorPrefix = "ERR Target instance replied with error: ";

std::string describe(const Result<RespValue>& reply) {
  if (!reply) return reply.error();
  if (reply->isError()) return reply->str;
  if (reply->isString()) return strCat("unexpected reply '", reply->str, "'");
  return strCat("unexpected reply of type ", static_cast<int>(reply->type));
}

}  // namespace

// Outcomes: kOk (+OK), kNoKey (+NOKEY), kIoError (transport failure or -IOERR), kBusyKey (the
// target's BUSYKEY relayed by MIGRATE), kMoved/kAsk (a parsable redirect, relayed or direct),
// kError (everything else, including unexpected non-error replies).
MigrateVerdict classifyMigrateReply(const Result<RespValue>& reply, std::string_view target_host) {
  if (!reply) return {MigrateVerdict::kIoError, "", reply.error()};
  const RespValue& value = *reply;
  if (value.isString() && value.str == "OK") return {MigrateVerdict::kOk, "", ""};
  if (value.isString() && value.str == "NOKEY") return {MigrateVerdict::kNoKey, "", ""};
  if (!value.isError()) return {MigrateVerdict::kError, "", describe(reply)};
  std::string_view text = value.str;
  if (text.starts_with("IOERR")) return {MigrateVerdict::kIoError, "", value.str};
  const bool relayed = text.starts_with(kTargetErrorPrefix);
  if (relayed) text.remove_prefix(kTargetErrorPrefix.size());
  if (relayed && text.starts_with("BUSYKEY")) return {MigrateVerdict::kBusyKey, "", value.str};
  if (std::optional<Redirect> redirect = parseRedirect(text, target_host)) {
    const MigrateVerdict::Kind kind =
        redirect->kind == Redirect::kAsk ? MigrateVerdict::kAsk : MigrateVerdict::kMoved;
    return {kind, std::move(redirect->address), value.str};
  }
  return {MigrateVerdict::kError, "", value.str};
}

Result<ScanPage> parseScanReply(const RespValue& reply) {
  using R = Result<ScanPage>;
  if (reply.isError()) return R::error(reply.str);
  if (reply.type != ValueType::kArray || reply.elements.size() != 2 ||
      !reply.elements[0].isString() || reply.elements[1].type != ValueType::kArray) {
    return R::error("malformed SCAN reply");
  }
  ScanPage page;
  page.cursor = reply.elements[0].str;
  if (page.cursor.empty()) return R::error("malformed SCAN reply (empty cursor)");
  page.keys.reserve(reply.elements[1].elements.size());
  for (const RespValue& key : reply.elements[1].elements) {
    if (!key.isString()) return R::error("malformed SCAN reply (key is not a string)");
    page.keys.push_back(key.str);
  }
  return page;
}

MigrationMover::MigrationMover(NodeQuery& query, const Clock& clock, MoverOptions options,
                               TargetOf target_of, std::function<void()> on_refresh)
    : query_(query),
      clock_(clock),
      options_(std::move(options)),
      target_of_(std::move(target_of)),
      on_refresh_(std::move(on_refresh)) {
  options_.batch_keys = std::max<uint32_t>(options_.batch_keys, 1);
  sources_.resize(options_.sources.size());
  for (size_t i = 0; i < sources_.size(); ++i) {
    sources_[i].address = options_.sources[i];
    sources_[i].batch = options_.batch_keys;
  }
}

MigrationMover::~MigrationMover() = default;  // alive_ goes: late callbacks see it expired

void MigrationMover::tick() {
  const TimePoint now = clock_.now();
  refill(now);
  updateRate(now);
  pump();
}

void MigrationMover::setRate(uint32_t keys_per_s) {
  refill(clock_.now());  // tokens earned at the old rate
  const bool was_unlimited = options_.rate_keys_per_s == 0;
  options_.rate_keys_per_s = keys_per_s;
  tokens_ = was_unlimited ? bucketCapacity() : std::min(tokens_, bucketCapacity());
}

void MigrationMover::setOnProgress(ProgressCallback callback) {
  on_progress_ = std::move(callback);
}

uint64_t MigrationMover::etaSeconds() const {
  if (stats_.keys_left == 0 || !(stats_.rate_keys_per_s > 0)) return 0;
  return static_cast<uint64_t>(
      std::ceil(static_cast<double>(stats_.keys_left) / stats_.rate_keys_per_s));
}

// Sends each source's next queries until every source waits for a reply, a delay or tokens,
// or has used its kMaxStepsPerPump. A reply that arrives synchronously (inside query()) only
// asks for another round, so the state changes never nest.
void MigrationMover::pump() {
  if (pumping_) {
    repump_ = true;
    return;
  }
  pumping_ = true;
  std::vector<uint32_t> steps(sources_.size(), 0);
  do {
    repump_ = false;
    for (size_t i = 0; i < sources_.size(); ++i) {
      while (steps[i] < kMaxStepsPerPump && step(i, clock_.now())) ++steps[i];
    }
  } while (repump_);
  pumping_ = false;
  updateStats();
  reportProgress();
}

// Sends source `index`'s next query, if it has none in flight and is not backing off.
// @return whether a query was sent.
bool MigrationMover::step(size_t index, TimePoint now) {
  Source& source = sources_[index];
  if (source.sent != Sent::kNone || now < source.ready_at) return false;
  switch (source.phase) {
    case Phase::kCounting:
    case Phase::kClosing: sendDbsize(index, now); return true;
    case Phase::kFinished:
      if (now - source.dbsize_at < kDbsizeInterval) return false;
      sendDbsize(index, now);
      return true;
    case Phase::kMoving: break;
  }
  if (now - source.dbsize_at >= kDbsizeInterval) {
    sendDbsize(index, now);
    return true;
  }
  if (!source.work.empty()) return sendWork(index, now);
  if (!source.scan_complete) {
    sendScan(index, now);
    return true;
  }
  ++source.passes;
  source.phase = Phase::kClosing;
  sendDbsize(index, now);
  return true;
}

// Picks the next query from the work queue: a DEL owed after BUSYKEY first, else one MIGRATE
// of the first ready key plus the following ready keys with the same target (keys that must
// go alone are sent alone), up to the batch size and the tokens available.
bool MigrationMover::sendWork(size_t index, TimePoint now) {
  Source& source = sources_[index];
  std::deque<Item>& work = source.work;
  for (auto it = work.begin(); it != work.end(); ++it) {
    if (!it->del || it->not_before > now) continue;
    Item item = std::move(*it);
    work.erase(it);
    sendDel(index, now, std::move(item));
    return true;
  }

  refill(now);
  double limit = source.batch;
  if (options_.rate_keys_per_s > 0) limit = std::min(limit, std::floor(tokens_));
  if (limit < 1) return false;

  std::vector<size_t> picked;
  std::string target;
  bool unrouted = false;
  for (size_t i = 0; i < work.size() && static_cast<double>(picked.size()) < limit; ++i) {
    Item& item = work[i];
    if (item.not_before > now) continue;
    const bool alone = item.single || !item.redirect.empty();
    if (!picked.empty() && alone) continue;
    std::string where = item.redirect.empty() ? target_of_(item.key) : item.redirect;
    if (where.empty()) {
      unrouted = true;
      item.not_before = now + kRerouteDelay;
      continue;
    }
    if (picked.empty()) {
      target = std::move(where);
      picked.push_back(i);
      if (alone) break;
    } else if (where == target) {
      picked.push_back(i);
    }
  }
  if (unrouted) requestRefresh(now);
  if (picked.empty()) return false;

  std::vector<Item> items;
  items.reserve(picked.size());
  std::deque<Item> rest;
  size_t next_pick = 0;
  for (size_t i = 0; i < work.size(); ++i) {
    if (next_pick < picked.size() && picked[next_pick] == i) {
      items.push_back(std::move(work[i]));
      ++next_pick;
    } else {
      rest.push_back(std::move(work[i]));
    }
  }
  work = std::move(rest);
  if (options_.rate_keys_per_s > 0) tokens_ -= static_cast<double>(items.size());
  sendMigrate(index, now, std::move(items), std::move(target));
  return true;
}

void MigrationMover::sendDbsize(size_t index, TimePoint now) {
  send(index, Sent::kDbsize, {"DBSIZE"}, now);
}

void MigrationMover::sendScan(size_t index, TimePoint now) {
  Source& source = sources_[index];
  send(index, Sent::kScan, {"SCAN", source.cursor, "COUNT", std::to_string(options_.batch_keys)},
       now);
}

void MigrationMover::sendMigrate(size_t index, TimePoint now, std::vector<Item> items,
                                 std::string target) {
  Source& source = sources_[index];
  std::vector<std::string> args = migrateArgs(target, items);
  if (args.empty()) {  // target_of() or a redirect gave an unusable address
    for (Item& item : items) {
      item.redirect.clear();
      item.not_before = now + kRerouteDelay;
    }
    requeue(source, std::move(items));
    fail(source, Lane::kMove, "MIGRATE", strCat("bad target address '", target, "'"), now);
    requestRefresh(now);
    return;
  }
  source.sending = std::move(items);
  source.sending_target = std::move(target);
  send(index, Sent::kMigrate, std::move(args), now);
}

void MigrationMover::sendDel(size_t index, TimePoint now, Item item) {
  Source& source = sources_[index];
  std::vector<std::string> args = {"DEL", item.key};
  source.sending.clear();
  source.sending.push_back(std::move(item));
  send(index, Sent::kDel, std::move(args), now);
}

// MIGRATE host port "" 0 timeout [AUTH pw | AUTH2 user pw] KEYS k1 ... kn; empty if `target`
// is not a "host:port".
std::vector<std::string> MigrationMover::migrateArgs(const std::string& target,
                                                     const std::vector<Item>& items) const {
  const std::optional<HostPort> endpoint = HostPort::parse(target);
  if (!endpoint || endpoint->host.empty()) return {};
  std::vector<std::string> args = {"MIGRATE",
                                   endpoint->host,
                                   std::to_string(endpoint->port),
                                   "",
                                   "0",
                                   std::to_string(options_.migrate_timeout_ms)};
  if (!options_.target_password.empty()) {
    if (options_.target_username.empty()) {
      args.insert(args.end(), {"AUTH", options_.target_password});
    } else {
      args.insert(args.end(), {"AUTH2", options_.target_username, options_.target_password});
    }
  }
  args.emplace_back("KEYS");
  for (const Item& item : items) args.push_back(item.key);
  return args;
}

// The source's state (sent, sending) is complete before query() is called: the callback may
// run inside it.
void MigrationMover::send(size_t index, Sent kind, std::vector<std::string> args, TimePoint now) {
  Source& source = sources_[index];
  source.sent = kind;
  source.sent_at = now;
  std::weak_ptr<bool> alive = alive_;
  query_.query(source.address, std::move(args),
               [this, alive, index](const Result<RespValue>& reply) {
                 if (alive.expired()) return;
                 onReply(index, reply);
               });
}

void MigrationMover::onReply(size_t index, const Result<RespValue>& reply) {
  Source& source = sources_[index];
  const Sent kind = source.sent;
  source.sent = Sent::kNone;  // first: the handlers below may decide the next query
  const TimePoint now = clock_.now();
  switch (kind) {
    case Sent::kNone: return;  // can't happen: one query in flight per source
    case Sent::kDbsize: onDbsize(source, reply, now); break;
    case Sent::kScan: onScan(source, reply, now); break;
    case Sent::kMigrate: onMigrate(source, reply, now); break;
    case Sent::kDel: onDel(source, reply, now); break;
  }
  pump();
}

void MigrationMover::onDbsize(Source& source, const Result<RespValue>& reply, TimePoint now) {
  if (!reply || reply->type != ValueType::kInteger || reply->integer < 0) {
    fail(source, Lane::kSource, "DBSIZE", describe(reply), now);
    return;
  }
  succeed(source, Lane::kSource);
  source.dbsize = static_cast<uint64_t>(reply->integer);
  source.cleared = 0;
  source.dbsize_at = now;
  switch (source.phase) {
    case Phase::kCounting:
      source.counted = true;
      source.initial = source.dbsize;
      source.phase = Phase::kMoving;
      break;
    case Phase::kMoving: break;
    case Phase::kClosing:
    case Phase::kFinished:
      if (source.dbsize == 0) {
        source.phase = Phase::kFinished;
        break;
      }
      source.phase = Phase::kMoving;  // keys are left (or came back): another pass
      source.cursor = "0";
      source.scan_complete = false;
      break;
  }
}

void MigrationMover::onScan(Source& source, const Result<RespValue>& reply, TimePoint now) {
  if (!reply) {
    fail(source, Lane::kSource, "SCAN", reply.error(), now);
    return;
  }
  Result<ScanPage> page = parseScanReply(*reply);
  if (!page) {
    fail(source, Lane::kSource, "SCAN", page.error(), now);
    return;
  }
  succeed(source, Lane::kSource);
  source.cursor = std::move(page->cursor);
  if (source.cursor == "0") source.scan_complete = true;
  for (std::string& key : page->keys) {
    Item item;
    item.key = std::move(key);
    source.work.push_back(std::move(item));
  }
}

void MigrationMover::onMigrate(Source& source, const Result<RespValue>& reply, TimePoint now) {
  std::vector<Item> items = std::move(source.sending);
  source.sending.clear();
  const std::string target = std::move(source.sending_target);
  source.sending_target.clear();
  const std::optional<HostPort> endpoint = HostPort::parse(target);
  const MigrateVerdict verdict = classifyMigrateReply(reply, endpoint ? endpoint->host : "");
  const uint64_t count = items.size();
  adaptBatch(source, items.size(),
             verdict.kind == MigrateVerdict::kIoError
                 ? Duration::max()  // maybe too big for the timeout
                 : now - source.sent_at);
  switch (verdict.kind) {
    case MigrateVerdict::kOk:
      stats_.moved += count;
      cleared(source, count);
      succeed(source, Lane::kMove);
      return;
    case MigrateVerdict::kNoKey:
      stats_.already_gone += count;
      cleared(source, count);
      succeed(source, Lane::kMove);
      return;
    case MigrateVerdict::kIoError:  // the keys are still on the source: same batch later
      for (Item& item : items) item.redirect.clear();
      requeue(source, std::move(items));
      fail(source, Lane::kMove, "MIGRATE to " + target, verdict.message, now);
      return;
    default: break;
  }
  if (items.size() > 1) {
    // The error names one key only (the others may have moved): learn each key's own outcome.
    for (Item& item : items) item.single = true;
    requeue(source, std::move(items));
    return;
  }
  settleAlone(source, std::move(items.front()), target, verdict, now);
}

// The outcome of a MIGRATE of `item` alone that did not succeed.
void MigrationMover::settleAlone(Source& source, Item item, std::string_view target,
                                 const MigrateVerdict& verdict, TimePoint now) {
  switch (verdict.kind) {
    case MigrateVerdict::kBusyKey:  // the target's copy is newer: the source's goes
      item.del = true;
      item.not_before = TimePoint{};
      requeue(source, {std::move(item)});
      succeed(source, Lane::kMove);
      return;
    case MigrateVerdict::kMoved:
    case MigrateVerdict::kAsk:
      requestRefresh(now);
      if (++item.hops <= kMaxRedirects) {
        item.redirect = verdict.redirect;
      } else {
        item.redirect.clear();
        item.hops = 0;
        item.not_before = now + kRerouteDelay;
      }
      requeue(source, {std::move(item)});
      succeed(source, Lane::kMove);
      return;
    default:
      item.redirect.clear();
      item.hops = 0;
      requeue(source, {std::move(item)});
      fail(source, Lane::kMove, strCat("MIGRATE to ", target), verdict.message, now);
      return;
  }
}

void MigrationMover::onDel(Source& source, const Result<RespValue>& reply, TimePoint now) {
  Item item = std::move(source.sending.front());
  source.sending.clear();
  if (reply && reply->type == ValueType::kInteger) {
    if (reply->integer > 0) {
      ++stats_.busy_resolved;
    } else {
      ++stats_.already_gone;
    }
    cleared(source, 1);
    succeed(source, Lane::kMove);
    return;
  }
  // Not known whether the DEL happened: MIGRATE the key again, so that only a fresh BUSYKEY
  // leads to another DEL.
  item.del = false;
  requeue(source, {std::move(item)});
  fail(source, Lane::kMove, "DEL", describe(reply), now);
}

// Halved when a MIGRATE took longer than max_block_ms (or failed with IOERR: `took` is then
// Duration::max()), grown by a quarter when a full batch took less than half of it.
void MigrationMover::adaptBatch(Source& source, size_t sent_keys, Duration took) {
  if (options_.max_block_ms == 0) return;
  const milliseconds max_block(options_.max_block_ms);
  if (took > max_block) {
    source.batch = std::max<uint32_t>(1, source.batch / 2);
  } else if (sent_keys >= source.batch && took * 2 < max_block) {
    source.batch =
        std::min(options_.batch_keys, source.batch + std::max<uint32_t>(1, source.batch / 4));
  }
}

void MigrationMover::requeue(Source& source, std::vector<Item> items) {
  source.work.insert(source.work.begin(), std::make_move_iterator(items.begin()),
                     std::make_move_iterator(items.end()));
}

// Backs the source off for 100 ms, doubled after each failure in a row of the same lane up to
// 2 s. Each lane has its own back-off, so that a working source (DBSIZE answers) does not reset
// the back-off of MIGRATEs its target keeps refusing.
void MigrationMover::fail(Source& source, Lane lane, std::string_view what, std::string_view why,
                          TimePoint now) {
  ++stats_.errors;
  stats_.last_error = strCat(source.address, ": ", what, ": ", why);
  Duration& backoff = source.backoff[static_cast<size_t>(lane)];
  backoff = backoff == Duration::zero() ? Duration(kBackoffMin)
                                        : std::min(Duration(kBackoffMax), backoff * 2);
  source.ready_at = now + backoff;
}

void MigrationMover::succeed(Source& source, Lane lane) {
  source.backoff[static_cast<size_t>(lane)] = Duration::zero();
}

void MigrationMover::cleared(Source& source, uint64_t keys) { source.cleared += keys; }

void MigrationMover::requestRefresh(TimePoint now) {
  if (refresh_requested_ && now - refresh_requested_at_ < kRefreshSpacing) return;
  refresh_requested_ = true;
  refresh_requested_at_ = now;
  if (on_refresh_) on_refresh_();
}

double MigrationMover::bucketCapacity() const {
  return std::clamp(options_.rate_keys_per_s / 10.0, 1.0, static_cast<double>(options_.batch_keys));
}

void MigrationMover::refill(TimePoint now) {
  if (!have_refill_time_) {
    have_refill_time_ = true;
    refilled_at_ = now;
    tokens_ = bucketCapacity();
    return;
  }
  if (options_.rate_keys_per_s > 0) {
    const double seconds = std::chrono::duration<double>(now - refilled_at_).count();
    tokens_ = std::min(bucketCapacity(), tokens_ + seconds * options_.rate_keys_per_s);
  }
  refilled_at_ = now;
}

// Keys cleared per second over windows of at least a second, smoothed (each new window
// weighs half).
void MigrationMover::updateRate(TimePoint now) {
  const uint64_t total = stats_.moved + stats_.busy_resolved;
  if (!rate_window_started_) {
    rate_window_started_ = true;
    rate_window_start_ = now;
    rate_window_cleared_ = total;
    return;
  }
  const Duration elapsed = now - rate_window_start_;
  if (elapsed < std::chrono::seconds(1)) return;
  const double sample = static_cast<double>(total - rate_window_cleared_) /
                        std::chrono::duration<double>(elapsed).count();
  stats_.rate_keys_per_s = rate_known_ ? (stats_.rate_keys_per_s + sample) / 2 : sample;
  rate_known_ = true;
  rate_window_start_ = now;
  rate_window_cleared_ = total;
}

void MigrationMover::updateStats() {
  uint64_t left = 0;
  uint64_t initial = 0;
  bool all_counted = true;
  bool all_finished = true;
  uint64_t passes = sources_.empty() ? 0 : std::numeric_limits<uint64_t>::max();
  for (const Source& source : sources_) {
    if (source.dbsize > source.cleared) left += source.dbsize - source.cleared;
    initial += source.initial;
    all_counted = all_counted && source.counted;
    all_finished = all_finished && source.phase == Phase::kFinished;
    passes = std::min(passes, source.passes);
  }
  stats_.keys_left = left;
  if (all_counted) stats_.initial_keys = initial;
  stats_.passes = passes;
  stats_.done = all_finished;
}

void MigrationMover::reportProgress() {
  bool report = false;
  if (stats_.initial_keys > 0) {
    const uint64_t gone = stats_.initial_keys - std::min(stats_.initial_keys, stats_.keys_left);
    const auto tenths = static_cast<uint32_t>(gone * 10 / stats_.initial_keys);
    if (tenths > reported_tenths_) {
      reported_tenths_ = tenths;
      report = true;
    }
  }
  if (stats_.done && !reported_done_) report = true;
  reported_done_ = stats_.done;
  if (!report || !on_progress_) return;
  const ProgressCallback callback = on_progress_;  // it may replace itself
  callback(stats_);
}

}  // namespace slotwise::router
