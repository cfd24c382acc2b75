// Child-process primitives for the test harness: spawn by fork+exec, reap with a deadline, and a
// process-wide registry that kills surviving children at exit() and on fatal signals.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace slotwise::test {

// Starts argv[0] (an absolute path) with argv, stdin from /dev/null and stdout+stderr appended
// to `output_path`. All other descriptors are closed in the child. The child is registered (see
// killAllRegisteredChildren) and, if spawned from the main thread, gets PR_SET_PDEATHSIG=SIGKILL.
// @return the child's pid, or -1 with `*error` set if the output file or fork failed. An exec
// failure shows up as the child exiting with status 127.
pid_t spawnChild(const std::vector<std::string>& argv, const std::string& output_path,
                 std::string* error);

// Waits up to `timeout` for `pid` to exit and reaps it (unregistering it). @return the raw
// waitpid status, or nullopt if it is still running at the deadline. A zero timeout only checks.
std::optional<int> reapChild(pid_t pid, std::chrono::milliseconds timeout);

// SIGTERM, up to `grace` for it to exit, then SIGKILL and reap. Safe on an already-reaped pid
// (it is only signalled while registered, so a recycled pid is never hit).
void terminateChild(pid_t pid, std::chrono::milliseconds grace);

// True while `pid` is registered (spawned by us and not yet reaped).
bool isRegisteredChild(pid_t pid);

// Exit code of a raw waitpid status: the code for a normal exit, 128+signal if signalled.
int exitCodeOf(int status);

// SIGKILLs every registered child. Async-signal-safe; used by the atexit and signal hooks.
void killAllRegisteredChildren();

}  // namespace slotwise::test
