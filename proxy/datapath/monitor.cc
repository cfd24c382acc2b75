#include "proxy/datapath/monitor.h"

#include <fmt/format.h>

#include <utility>

namespace slotwise::proxy {
namespace {

// Redis's sdscatrepr: a double-quoted string with \\ \" \n \r \t \a \b escaped and other
// non-printable bytes as \xHH.
void appendRepr(std::string* out, std::string_view s) {
  out->push_back('"');
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '\\': out->append("\\\\"); break;
      case '"': out->append("\\\""); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      case '\a': out->append("\\a"); break;
      case '\b': out->append("\\b"); break;
      default:
        if (c >= 0x20 && c < 0x7f) out->push_back(ch);
        else out->append(fmt::format("\\x{:02x}", c));
    }
  }
  out->push_back('"');
}

}  // namespace

void MonitorHub::setWorker(int worker, Post post) {
  if (posts_.size() <= static_cast<size_t>(worker)) posts_.resize(static_cast<size_t>(worker) + 1);
  posts_[static_cast<size_t>(worker)] = std::move(post);
}

uint64_t MonitorHub::add(int worker, Deliver deliver) {
  std::lock_guard<std::mutex> lock(mu_);
  const uint64_t id = next_id_++;
  by_id_[id] = Monitor{worker, std::move(deliver), {}, false};
  monitors_.fetch_add(1, std::memory_order_relaxed);
  return id;
}

void MonitorHub::remove(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (by_id_.erase(id) != 0) monitors_.fetch_sub(1, std::memory_order_relaxed);
}

void MonitorHub::publish(std::string_view line) {
  std::vector<std::pair<int, uint64_t>> to_post;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [id, m] : by_id_) {
      m.inbox.append(line);
      if (!m.drain_posted) {
        m.drain_posted = true;
        to_post.emplace_back(m.worker, id);
      }
    }
  }
  for (const auto& [worker, id] : to_post) {
    if (static_cast<size_t>(worker) < posts_.size() && posts_[static_cast<size_t>(worker)]) {
      posts_[static_cast<size_t>(worker)]([this, id = id] { drain(id); });
    }
  }
}

void MonitorHub::drain(uint64_t id) {
  std::string lines;
  Deliver deliver;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = by_id_.find(id);
    if (it == by_id_.end()) return;  // the monitor left
    lines.swap(it->second.inbox);
    it->second.drain_posted = false;
    deliver = it->second.deliver;
  }
  // On the monitor's worker: remove() can only run here too, so the session is still alive.
  if (!lines.empty()) deliver(std::move(lines));
}

std::string monitorLine(const resp::Command& cmd, std::string_view client_addr, int64_t unix_us,
                        size_t redact_from) {
  std::string line =
      fmt::format("+{}.{:06} [0 {}]", unix_us / 1000000, unix_us % 1000000, client_addr);
  for (size_t i = 0; i < cmd.argc(); ++i) {
    line.push_back(' ');
    if (redact_from != 0 && i >= redact_from) {
      line.append("\"(redacted)\"");
    } else {
      appendRepr(&line, cmd.arg(i));
    }
  }
  line.append("\r\n");
  return line;
}

}  // namespace slotwise::proxy
