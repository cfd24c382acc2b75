#include "proxy/io/mailbox.h"

namespace slotwise::proxy {

int Mailbox::init(uv_loop_t* loop) {
  async_.data = this;
  int rc = uv_async_init(loop, &async_, &Mailbox::onAsync);
  if (rc == 0) {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
  }
  return rc;
}

void Mailbox::post(Task task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!open_) return;
    queue_.push_back(std::move(task));
  }
  uv_async_send(&async_);
}

void Mailbox::close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!open_) return;
    open_ = false;
    queue_.clear();
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
}

void Mailbox::onAsync(uv_async_t* handle) {
  auto* self = static_cast<Mailbox*>(handle->data);
  std::vector<Task> batch;
  {
    std::lock_guard<std::mutex> lock(self->mu_);
    batch.swap(self->queue_);
  }
  for (auto& task : batch) task();
}

}  // namespace slotwise::proxy
