// proxy/io: the libuv primitives the proxy is built from — byte buffers (byte_buffer.h), the
// output side of a stream (writer.h), the cross-thread task queue (mailbox.h), socket helpers
// (net_util.h) and, here, the lifetimes of libuv handles. Nothing in this folder knows about
// Redis, requests or workers.
//
// libuv writes into a handle's memory until the handle's close callback has run, which happens on
// a later loop turn than uv_close(), and into a request's memory (connect, write, getaddrinfo)
// until that request's callback has run. Two helpers keep that rule in one place:
//   UvOwned<T>      a heap-allocated handle: reset() or destruction closes it and frees the
//                   memory in the close callback, so its owner may go away at once.
//   DeferredDelete  for an object that holds handles and requests inline (a client session, a
//                   backend connection): counts the callbacks libuv still owes it and deletes the
//                   object once it has been released and the count is zero.
#pragma once

#include <uv.h>

#include <cstdint>

namespace slotwise::proxy {

template <typename T>
class UvOwned {
 public:
  UvOwned() = default;
  ~UvOwned() { reset(); }
  UvOwned(const UvOwned&) = delete;
  UvOwned& operator=(const UvOwned&) = delete;

  // Allocates a fresh handle (closing any previous one); the caller initialises it with
  // uv_*_init right away. @return the new handle.
  T* emplace() {
    reset();
    handle_ = new T{};
    return handle_;
  }
  T* get() const { return handle_; }
  explicit operator bool() const { return handle_ != nullptr; }
  // Closes the handle (if any); its memory is freed in the close callback. REQUIRES: the handle
  // was initialised (uv_*_init) on a loop that still runs.
  void reset() {
    if (handle_ == nullptr) return;
    uv_close(reinterpret_cast<uv_handle_t*>(handle_),
             [](uv_handle_t* h) { delete reinterpret_cast<T*>(h); });
    handle_ = nullptr;
  }

 private:
  T* handle_ = nullptr;
};

class DeferredDelete {
 public:
  // `owner` is deleted with `delete` when the time comes; this object is normally its member.
  template <typename Owner>
  explicit DeferredDelete(Owner* owner)
      : owner_(owner), deleter_([](void* p) { delete static_cast<Owner*>(p); }) {}
  DeferredDelete(const DeferredDelete&) = delete;
  DeferredDelete& operator=(const DeferredDelete&) = delete;

  // A libuv callback for the owner is still to come (a connect, a getaddrinfo...).
  void expect() { ++pending_; }
  // That callback ran. @return true if the owner was deleted (the caller must not touch it).
  bool arrived() {
    --pending_;
    return maybeDelete();
  }
  // Closes `handle`; its close callback counts as pending. The handle's data pointer is taken
  // over (libuv calls no read or alloc callback after uv_close).
  void close(uv_handle_t* handle) {
    ++pending_;
    handle->data = this;
    uv_close(handle, [](uv_handle_t* h) { static_cast<DeferredDelete*>(h->data)->arrived(); });
  }
  // The owner is done with: deleted now, or once every pending callback has run.
  // @return true if it was deleted now.
  bool release() {
    released_ = true;
    return maybeDelete();
  }

 private:
  bool maybeDelete() {
    if (!released_ || pending_ != 0) return false;
    void* owner = owner_;
    void (*deleter)(void*) = deleter_;
    deleter(owner);  // destroys *this too
    return true;
  }

  void* owner_;
  void (*deleter_)(void*);
  uint32_t pending_ = 0;
  bool released_ = false;
};

}  // namespace slotwise::proxy
