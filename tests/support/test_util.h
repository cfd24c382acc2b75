// Small helpers shared by test clients and fixtures: deadline-bounded poll(2) and reading one
// series out of Prometheus text. Header-only.
#pragma once

#include <poll.h>
#include <sys/wait.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>

namespace slotwise::test {

// Milliseconds left until `deadline` (0 once it has passed), for poll(2).
inline int millisUntil(std::chrono::steady_clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

// Waits for `events` on `fd` until `deadline`. @return poll's revents, 0 on timeout, -1 on error.
inline int waitFd(int fd, short events, std::chrono::steady_clock::time_point deadline) {
  pollfd pfd{fd, events, 0};
  while (true) {
    const int r = ::poll(&pfd, 1, millisUntil(deadline));
    if (r < 0 && errno == EINTR) continue;
    return r <= 0 ? r : pfd.revents;
  }
}

// Sum of every sample of the series `name` (labelled or not) in Prometheus text.
inline double sumOfSeries(const std::string& text, const std::string& name) {
  double sum = 0;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name, 0) != 0 || line.size() <= name.size()) continue;
    const char next = line[name.size()];
    if (next != ' ' && next != '{') continue;
    sum += std::strtod(line.substr(line.rfind(' ') + 1).c_str(), nullptr);
  }
  return sum;
}

// Runs `command` with /bin/sh (stderr merged into stdout); returns its exit status (-1 if it did
// not exit normally) and appends its output to `output`.
inline int runShell(const std::string& command, std::string* output) {
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return -1;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) output->append(buf, n);
  const int status = ::pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace slotwise::test
