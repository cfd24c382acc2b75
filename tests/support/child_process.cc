#include "tests/support/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

namespace slotwise::test {
namespace {

// Lock-free so the signal handler can read it: a slot holds a pid or 0.
constexpr int kMaxChildren = 512;
std::atomic<pid_t> g_children[kMaxChildren];

constexpr int kFatalSignals[] = {SIGSEGV, SIGABRT, SIGBUS, SIGFPE, SIGILL, SIGTERM, SIGINT, SIGHUP};
struct sigaction g_previous[sizeof(kFatalSignals) / sizeof(kFatalSignals[0])];

void onFatalSignal(int sig) {
  killAllRegisteredChildren();
  for (size_t i = 0; i < sizeof(kFatalSignals) / sizeof(kFatalSignals[0]); ++i) {
    if (kFatalSignals[i] == sig) sigaction(sig, &g_previous[i], nullptr);
  }
  raise(sig);
}

// Installs the atexit hook and the fatal-signal handlers once per process.
void installHooksOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    std::atexit(killAllRegisteredChildren);
    for (size_t i = 0; i < sizeof(kFatalSignals) / sizeof(kFatalSignals[0]); ++i) {
      struct sigaction sa {};
      sa.sa_handler = onFatalSignal;
      sigemptyset(&sa.sa_mask);
      sa.sa_flags = SA_RESETHAND;
      sigaction(kFatalSignals[i], &sa, &g_previous[i]);
    }
  });
}

void registerChild(pid_t pid) {
  for (auto& slot : g_children) {
    pid_t expected = 0;
    if (slot.compare_exchange_strong(expected, pid)) return;
  }
}

void unregisterChild(pid_t pid) {
  for (auto& slot : g_children) {
    pid_t expected = pid;
    if (slot.compare_exchange_strong(expected, 0)) return;
  }
}

bool onMainThread() { return static_cast<pid_t>(syscall(SYS_gettid)) == getpid(); }

// Runs in the forked child: only async-signal-safe calls until exec. Signals are blocked on
// entry (see spawnChild): the parent's fatal-signal handler must never run here, because in the
// child it would SIGKILL the parent's other children (a SIGTERM from terminateChild() that
// arrives before exec once killed the first redis-server of a test this way). So the handlers
// are reset to the default first, then `mask` (the parent's own) is restored for the new program.
[[noreturn]] void execChild(char* const* argv, int in_fd, int out_fd, bool pdeathsig,
                            pid_t parent, const sigset_t* mask) {
  for (int sig : kFatalSignals) signal(sig, SIG_DFL);
  signal(SIGPIPE, SIG_DFL);  // ignored dispositions survive exec; handled ones are reset anyway
  sigprocmask(SIG_SETMASK, mask, nullptr);
  if (pdeathsig) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);  // the parent died before prctl took effect
  }
  dup2(in_fd, 0);
  dup2(out_fd, 1);
  dup2(out_fd, 2);
  syscall(SYS_close_range, 3U, ~0U, 0U);
  execv(argv[0], argv);
  _exit(127);
}

}  // namespace

pid_t spawnChild(const std::vector<std::string>& argv, const std::string& output_path,
                 std::string* error) {
  installHooksOnce();
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  int out_fd = open(output_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  int in_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (out_fd < 0 || in_fd < 0) {
    *error = "cannot open " + output_path + ": " + std::strerror(errno);
    if (out_fd >= 0) close(out_fd);
    if (in_fd >= 0) close(in_fd);
    return -1;
  }
  const bool pdeathsig = onMainThread();
  const pid_t parent = getpid();
  sigset_t all, previous;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &previous);  // no handler may run in the child before exec
  const pid_t pid = fork();
  if (pid == 0) execChild(cargv.data(), in_fd, out_fd, pdeathsig, parent, &previous);
  const int fork_errno = errno;
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  close(out_fd);
  close(in_fd);
  if (pid < 0) {
    *error = std::string("fork failed: ") + std::strerror(fork_errno);
    return -1;
  }
  registerChild(pid);
  return pid;
}

std::optional<int> reapChild(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int status = 0;
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid || (r < 0 && errno == ECHILD)) {
      unregisterChild(pid);
      return r == pid ? status : 0;
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

void terminateChild(pid_t pid, std::chrono::milliseconds grace) {
  if (pid <= 0 || !isRegisteredChild(pid)) return;
  ::kill(pid, SIGTERM);
  if (reapChild(pid, grace)) return;
  ::kill(pid, SIGKILL);
  reapChild(pid, std::chrono::seconds(10));
}

bool isRegisteredChild(pid_t pid) {
  if (pid <= 0) return false;
  for (const auto& slot : g_children) {
    if (slot.load() == pid) return true;
  }
  return false;
}

int exitCodeOf(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

void killAllRegisteredChildren() {
  for (auto& slot : g_children) {
    const pid_t pid = slot.load();
    if (pid > 0) ::kill(pid, SIGKILL);
  }
}

}  // namespace slotwise::test
