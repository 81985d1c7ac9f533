#include "common/file_util.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "absl/strings/str_cat.h"

namespace anifarm {
namespace {

namespace fs = std::filesystem;

absl::Status ErrnoStatus(int error_number, const std::string& what) {
  return absl::ErrnoToStatus(error_number, what);
}

}  // namespace

absl::Status WriteFileAtomically(const std::string& path, std::string_view bytes,
                                 Durability durability) {
  static std::atomic<uint64_t> counter{0};
  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::string tmp;
  int fd = -1;
  for (int attempt = 0; attempt < 100 && fd < 0; ++attempt) {
    tmp = (dir / absl::StrCat(".", target.filename().string(), ".", ::getpid(), "-",
                              counter.fetch_add(1), ".tmp"))
              .string();
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST) {
      return ErrnoStatus(errno, absl::StrCat("cannot create ", tmp, " to write ", path));
    }
  }
  if (fd < 0) return absl::AlreadyExistsError(absl::StrCat("no free temporary name for ", path));

  auto fail = [&](const std::string& what) {
    const int saved = errno;
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    return ErrnoStatus(saved, what);
  };
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(absl::StrCat("cannot write ", tmp));
    }
    done += static_cast<size_t>(n);
  }
  if (durability == Durability::kFsync && ::fsync(fd) != 0) {
    return fail(absl::StrCat("cannot flush ", tmp));
  }
  const int closed = ::close(fd);
  fd = -1;
  if (closed != 0) return fail(absl::StrCat("cannot close ", tmp));
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return fail(absl::StrCat("cannot rename ", tmp, " to ", path));
  }
  if (durability == Durability::kFsync) {
    // Make the rename itself durable; best effort (some filesystems refuse).
    const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd >= 0) {
      ::fsync(dir_fd);
      ::close(dir_fd);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace anifarm
