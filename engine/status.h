// Errors, one way each: a broken invariant aborts with file:line
// (GS_CHECK); a recoverable condition returns a Status with a message.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <variant>

namespace gs {

class [[nodiscard]] Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  static Status Error(std::string message) { return Status(std::move(message)); }

  bool ok() const { return !failed_; }
  const std::string& message() const { return message_; }

 private:
  explicit Status(std::string message) : failed_(true), message_(std::move(message)) {}
  bool failed_ = false;
  std::string message_;
};

// A value or the Status that explains why there is none.
template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  StatusOr(Status status) : v_(std::move(status)) {
    if (std::get<Status>(v_).ok()) v_ = Status::Error("StatusOr built from an ok Status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  Status status() const { return ok() ? Status::Ok() : std::get<Status>(v_); }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }

 private:
  std::variant<T, Status> v_;
};

[[noreturn]] inline void CheckFailed(const char* file, int line, const char* expr,
                                     const std::string& msg) {
  std::fprintf(stderr, "%s:%d: check failed: %s %s\n", file, line, expr, msg.c_str());
  std::abort();
}

}  // namespace gs

#define GS_CHECK(cond)                                             \
  do {                                                             \
    if (!(cond)) ::gs::CheckFailed(__FILE__, __LINE__, #cond, ""); \
  } while (0)

#define GS_CHECK_MSG(cond, msg)                                       \
  do {                                                                \
    if (!(cond)) ::gs::CheckFailed(__FILE__, __LINE__, #cond, (msg)); \
  } while (0)

// Returns the Status from the enclosing function when it is an error.
#define GS_RETURN_IF_ERROR(expr)             \
  do {                                       \
    ::gs::Status gs_status_ = (expr);        \
    if (!gs_status_.ok()) return gs_status_; \
  } while (0)
