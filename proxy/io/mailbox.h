// Mailbox: the only way another thread talks to a loop. post() may be called from any thread;
// tasks run on the owning loop's thread. uv_async_send coalesces wake-ups, so the callback
// drains everything queued so far in one go.
#pragma once

#include <uv.h>

#include <functional>
#include <mutex>
#include <vector>

namespace slotwise::proxy {

class Mailbox {
 public:
  using Task = std::function<void()>;
  Mailbox() = default;
  Mailbox(const Mailbox&) = delete;
  Mailbox& operator=(const Mailbox&) = delete;

  // REQUIRES: called on the loop's thread before any post(). Returns a libuv error code.
  int init(uv_loop_t* loop);
  // Thread-safe. Tasks posted after close() started are dropped.
  void post(Task task);
  // REQUIRES: loop thread. Closes the async handle; queued tasks are dropped.
  void close();

 private:
  static void onAsync(uv_async_t* handle);

  uv_async_t async_{};
  std::mutex mu_;
  std::vector<Task> queue_;  // GUARDED_BY(mu_)
  bool open_ = false;        // GUARDED_BY(mu_)
};

}  // namespace slotwise::proxy
