// Small Status / Result<T> used across modules (std::expected is C++23).
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace slotwise {

// An error message, or success. Cheap to copy on the success path.
class Status {
 public:
  Status() = default;
  static Status ok() { return Status(); }
  static Status error(std::string message) { return Status(std::move(message), true); }

  bool isOk() const { return !failed_; }
  explicit operator bool() const { return !failed_; }
  const std::string& message() const { return message_; }

 private:
  Status(std::string message, bool failed) : message_(std::move(message)), failed_(failed) {}
  std::string message_;
  bool failed_ = false;
};

// Either a value of type T or an error message.
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  static Result error(std::string message) { return Result(Err{std::move(message)}); }

  bool isOk() const { return v_.index() == 0; }
  explicit operator bool() const { return isOk(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }
  // REQUIRES: !isOk()
  const std::string& error() const { return std::get<1>(v_).message; }

 private:
  struct Err {
    std::string message;
  };
  explicit Result(Err e) : v_(std::move(e)) {}
  std::variant<T, Err> v_;
};

}  // namespace slotwise
