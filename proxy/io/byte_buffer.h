// ByteBuffer: a growable byte array with a consumed-prefix offset, used for socket input. Unlike
// std::string it never zero-fills on growth, and an empty buffer owns no heap memory, which keeps
// idle connections small (see ClientSession: idle clients read into the worker's shared buffer).
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>

namespace slotwise::proxy {

class ByteBuffer {
 public:
  ByteBuffer() = default;
  ByteBuffer(const ByteBuffer&) = delete;
  ByteBuffer& operator=(const ByteBuffer&) = delete;

  // Unconsumed bytes. The view is valid until the next call of any non-const method.
  std::string_view view() const { return {data_.get() + begin_, end_ - begin_}; }
  size_t size() const { return end_ - begin_; }
  bool empty() const { return begin_ == end_; }
  size_t capacity() const { return capacity_; }

  // Returns a writable tail of at least `min_free` bytes (the buffer may move its contents).
  // Call commit(n) after writing n bytes into it.
  char* reserveTail(size_t min_free, size_t* available) {
    if (capacity_ - end_ < min_free) grow(min_free);
    *available = capacity_ - end_;
    return data_.get() + end_;
  }
  void commit(size_t n) { end_ += n; }
  void append(std::string_view bytes) {
    size_t avail = 0;
    char* p = reserveTail(bytes.size(), &avail);
    std::memcpy(p, bytes.data(), bytes.size());
    end_ += bytes.size();
  }
  // Drops n bytes from the front. When the buffer becomes empty its memory is released if it grew
  // beyond `keep_capacity`, so a burst does not pin memory on an idle connection.
  void consume(size_t n, size_t keep_capacity = 0) {
    begin_ += n;
    if (begin_ == end_) {
      begin_ = end_ = 0;
      if (capacity_ > keep_capacity) release();
    }
  }
  void release() {
    data_.reset();
    capacity_ = begin_ = end_ = 0;
  }

 private:
  void grow(size_t min_free) {
    size_t used = end_ - begin_;
    if (begin_ > 0 && capacity_ - used >= min_free && used < capacity_ / 2) {
      std::memmove(data_.get(), data_.get() + begin_, used);  // compact in place
    } else {
      size_t cap = capacity_ ? capacity_ : 4096;
      while (cap - used < min_free) cap *= 2;
      std::unique_ptr<char[]> fresh(new char[cap]);
      if (used) std::memcpy(fresh.get(), data_.get() + begin_, used);
      data_ = std::move(fresh);
      capacity_ = cap;
    }
    begin_ = 0;
    end_ = used;
  }

  std::unique_ptr<char[]> data_;
  size_t capacity_ = 0;
  size_t begin_ = 0;
  size_t end_ = 0;
};

}  // namespace slotwise::proxy
