// ScopedFile: a file being written that is removed when the scope ends
// unless Keep() was called, so that a failed write leaves nothing behind
// (no empty or truncated output for the user to find).
#ifndef ANIFARM_COMMON_SCOPED_FILE_H_
#define ANIFARM_COMMON_SCOPED_FILE_H_

#include <filesystem>
#include <string>
#include <system_error>
#include <utility>

namespace anifarm {

class ScopedFile {
 public:
  ScopedFile() = default;
  explicit ScopedFile(std::string path) : path_(std::move(path)) {}
  ScopedFile(const ScopedFile&) = delete;
  ScopedFile& operator=(const ScopedFile&) = delete;
  ScopedFile(ScopedFile&& other) noexcept : path_(std::exchange(other.path_, {})) {}
  ScopedFile& operator=(ScopedFile&& other) noexcept {
    if (this != &other) {
      Remove();
      path_ = std::exchange(other.path_, {});
    }
    return *this;
  }
  ~ScopedFile() { Remove(); }

  // The file is the result: leave it in place.
  void Keep() { path_.clear(); }
  // Removes it now (best effort: a file already gone is fine).
  void Remove() {
    if (path_.empty()) return;
    std::error_code ec;
    std::filesystem::remove(path_, ec);
    path_.clear();
  }

 private:
  std::string path_;
};

}  // namespace anifarm

#endif  // ANIFARM_COMMON_SCOPED_FILE_H_
