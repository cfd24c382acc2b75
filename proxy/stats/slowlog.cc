#include "proxy/stats/slowlog.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <chrono>

#include "common/ascii.h"
#include "resp/encoder.h"

namespace slotwise::proxy {
namespace {

constexpr size_t kDefaultGetCount = 10;

// Reads "<prefix><digits>\r\n" at `*pos`; advances past it. False if malformed.
bool readHeader(std::string_view frame, char prefix, size_t* pos, size_t* value) {
  if (*pos >= frame.size() || frame[*pos] != prefix) return false;
  size_t end = frame.find("\r\n", *pos);
  if (end == std::string_view::npos) return false;
  const char* first = frame.data() + *pos + 1;
  auto [ptr, ec] = std::from_chars(first, frame.data() + end, *value);
  if (ec != std::errc() || ptr != frame.data() + end) return false;
  *pos = end + 2;
  return true;
}

std::string cut(std::string_view arg, size_t max_len) {
  if (arg.size() <= max_len) return std::string(arg);
  return fmt::format("{}... ({} more bytes)", arg.substr(0, max_len), arg.size() - max_len);
}

// "config|get" -> {"config", "get"}: what an entry shows when arguments are not logged.
std::vector<std::string> commandWords(std::string_view name) {
  std::vector<std::string> words;
  size_t start = 0;
  for (size_t bar; (bar = name.find('|', start)) != std::string_view::npos; start = bar + 1) {
    words.emplace_back(name.substr(start, bar - start));
  }
  words.emplace_back(name.substr(start));
  return words;
}

int64_t unixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void logEntry(const SlowlogEntry& e, bool with_args) {
  spdlog::warn("slow request: id={} duration_us={} command={} slot={} node={} client={}{}{}", e.id,
               e.duration_us, e.command, e.slot, e.node.empty() ? "-" : e.node,
               e.client_addr.empty() ? "-" : e.client_addr, with_args ? " args=" : "",
               with_args ? fmt::format("{}", fmt::join(e.args, " ")) : std::string());
}

void appendHelp(std::string* reply) {
  static constexpr std::string_view kLines[] = {
      "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
      "GET [<count>]",
      "    Return the <count> newest entries of the proxy's slow log (default: 10, -1 means all).",
      "    Entries are made of:",
      "    id, timestamp, time in microseconds, arguments array, client IP and port,",
      "    client name",
      "LEN",
      "    Return the number of entries in the proxy's slow log.",
      "RESET",
      "    Empty the proxy's slow log.",
      "HELP",
      "    Print this help.",
  };
  resp::appendArrayHeader(*reply, std::size(kLines));
  for (std::string_view line : kLines) resp::appendSimpleString(*reply, line);
}

// SLOWLOG GET [count]: count -1 means every entry.
void get(const resp::Command& cmd, SlowlogBook& book, std::string* reply) {
  size_t count = kDefaultGetCount;
  if (cmd.argc() == 3) {
    std::string_view text = cmd.arg(2);
    int64_t n = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc() || ptr != text.data() + text.size()) {
      resp::appendError(*reply, "ERR value is not an integer or out of range");
      return;
    }
    if (n < -1) {
      resp::appendError(*reply, "ERR count should be greater than or equal to -1");
      return;
    }
    count = n == -1 ? SIZE_MAX : static_cast<size_t>(n);
  }
  appendSlowlogEntries(book.newest(count), reply);
}

}  // namespace

// ---- SlowlogShard -------------------------------------------------------------------------

SlowlogShard::SlowlogShard(SlowlogBook& book, const config::SlowlogConfig& config)
    : book_(book), config_(config) {}

void SlowlogShard::record(SlowlogEntry entry, std::string_view payload) {
  if (config_.max_len == 0) return;
  entry.id = book_.nextId();
  entry.unix_time_s = unixNow();
  entry.args = config_.log_args ? slowlogArgs(payload) : commandWords(entry.command);
  if (entry.args.empty()) entry.args = commandWords(entry.command);
  logEntry(entry, config_.log_args);
  std::lock_guard<std::mutex> lock(mu_);
  if (entries_.size() >= config_.max_len) entries_.pop_front();
  entries_.push_back(std::move(entry));
}

void SlowlogShard::appendTo(std::vector<SlowlogEntry>* out) const {
  std::lock_guard<std::mutex> lock(mu_);
  out->insert(out->end(), entries_.begin(), entries_.end());
}

size_t SlowlogShard::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

void SlowlogShard::clear() {
  std::lock_guard<std::mutex> lock(mu_);
  entries_.clear();
}

// ---- SlowlogBook --------------------------------------------------------------------------

SlowlogShard& SlowlogBook::addShard() {
  std::lock_guard<std::mutex> lock(mu_);
  shards_.push_back(std::make_unique<SlowlogShard>(*this, config_));
  return *shards_.back();
}

std::vector<SlowlogEntry> SlowlogBook::newest(size_t count) const {
  std::vector<SlowlogEntry> all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& s : shards_) s->appendTo(&all);
  }
  std::sort(all.begin(), all.end(),
            [](const SlowlogEntry& a, const SlowlogEntry& b) { return a.id > b.id; });
  if (all.size() > count) all.resize(count);
  return all;
}

size_t SlowlogBook::length() const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (const auto& s : shards_) n += s->size();
  return n;
}

void SlowlogBook::reset() {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& s : shards_) s->clear();
}

// ---- Formatting ---------------------------------------------------------------------------

std::vector<std::string> slowlogArgs(std::string_view frame, size_t max_args, size_t max_len) {
  size_t pos = 0;
  size_t argc = 0;
  if (max_args == 0 || !readHeader(frame, '*', &pos, &argc)) return {};
  std::vector<std::string> args;
  const size_t kept = std::min(argc, max_args);
  for (size_t i = 0; i < kept; ++i) {
    size_t len = 0;
    if (!readHeader(frame, '$', &pos, &len) || frame.size() - pos < len + 2) return {};
    if (kept < argc && i + 1 == kept) {
      args.push_back(fmt::format("... ({} more arguments)", argc - kept + 1));
      break;
    }
    args.push_back(cut(frame.substr(pos, len), max_len));
    pos += len + 2;
  }
  return args;
}

void appendSlowlogEntries(const std::vector<SlowlogEntry>& entries, std::string* reply) {
  resp::appendArrayHeader(*reply, entries.size());
  for (const SlowlogEntry& e : entries) {
    resp::appendArrayHeader(*reply, 6);
    resp::appendInteger(*reply, static_cast<int64_t>(e.id));
    resp::appendInteger(*reply, e.unix_time_s);
    resp::appendInteger(*reply, static_cast<int64_t>(e.duration_us));
    resp::appendArrayHeader(*reply, e.args.size());
    for (const std::string& a : e.args) resp::appendBulk(*reply, a);
    resp::appendBulk(*reply, e.client_addr);
    resp::appendBulk(*reply, e.client_name);
  }
}

void runSlowlogCommand(const resp::Command& cmd, SlowlogBook* book, std::string* reply) {
  std::string_view sub = cmd.argc() >= 2 ? cmd.arg(1) : std::string_view();
  if (equalsIgnoreCase(sub, "help") && cmd.argc() == 2) {
    appendHelp(reply);
  } else if (book == nullptr) {
    resp::appendError(*reply, "ERR the slow log is not available in this process");
  } else if (equalsIgnoreCase(sub, "get") && cmd.argc() <= 3) {
    get(cmd, *book, reply);
  } else if (equalsIgnoreCase(sub, "len") && cmd.argc() == 2) {
    resp::appendInteger(*reply, static_cast<int64_t>(book->length()));
  } else if (equalsIgnoreCase(sub, "reset") && cmd.argc() == 2) {
    book->reset();
    resp::appendSimpleString(*reply, "OK");
  } else {
    resp::appendError(*reply, "ERR unknown subcommand or wrong number of arguments for '" +
                                  std::string(sub) + "'. Try SLOWLOG HELP.");
  }
}

}  // namespace slotwise::proxy
