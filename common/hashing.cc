#include "common/hashing.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"

extern "C" {
#include <libavutil/md5.h>
#include <libavutil/mem.h>
#include <libavutil/sha.h>
}

namespace anifarm {
namespace {

// The hash contexts come from av_*_alloc and are released with av_free.
struct AvFreeDeleter {
  void operator()(void* p) const { av_free(p); }
};
using ShaPtr = std::unique_ptr<AVSHA, AvFreeDeleter>;
using Md5Ptr = std::unique_ptr<AVMD5, AvFreeDeleter>;

constexpr int kSha256Bits = 256;
constexpr size_t kSha256Bytes = kSha256Bits / 8;
constexpr size_t kMd5Bytes = 16;

std::string Hex(const uint8_t* digest, size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(size * 2);
  for (size_t i = 0; i < size; ++i) {
    hex.push_back(kDigits[digest[i] >> 4]);
    hex.push_back(kDigits[digest[i] & 15]);
  }
  return hex;
}

ShaPtr NewSha256() {
  ShaPtr sha(av_sha_alloc());
  // av_sha_init only fails for unsupported bit counts; 256 is supported.
  if (sha) av_sha_init(sha.get(), kSha256Bits);
  return sha;
}

}  // namespace

absl::StatusOr<std::string> Sha256OfFile(const std::string& path) {
  return Sha256OfFiles({path});
}

absl::StatusOr<std::string> Sha256OfFiles(const std::vector<std::string>& paths) {
  ShaPtr sha = NewSha256();
  if (!sha) return absl::ResourceExhaustedError("cannot allocate a SHA-256 context");
  std::vector<char> buffer(1 << 20);
  for (const std::string& path : paths) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      return absl::NotFoundError(absl::StrCat("cannot read ", path, ": ", std::strerror(errno)));
    }
    while (in) {
      in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
      const std::streamsize got = in.gcount();
      if (got > 0) {
        av_sha_update(sha.get(), reinterpret_cast<const uint8_t*>(buffer.data()),
                      static_cast<size_t>(got));
      }
    }
    if (in.bad()) return absl::NotFoundError(absl::StrCat("error while reading ", path));
  }
  uint8_t digest[kSha256Bytes];
  av_sha_final(sha.get(), digest);
  return Hex(digest, sizeof(digest));
}

std::string Sha256Hex(std::string_view data) {
  ShaPtr sha = NewSha256();
  if (!sha) return "";
  av_sha_update(sha.get(), reinterpret_cast<const uint8_t*>(data.data()), data.size());
  uint8_t digest[kSha256Bytes];
  av_sha_final(sha.get(), digest);
  return Hex(digest, sizeof(digest));
}

std::string Md5Hex(std::string_view data) {
  Md5Ptr md5(av_md5_alloc());
  if (!md5) return "";
  av_md5_init(md5.get());
  av_md5_update(md5.get(), reinterpret_cast<const uint8_t*>(data.data()), data.size());
  uint8_t digest[kMd5Bytes];
  av_md5_final(md5.get(), digest);
  return Hex(digest, sizeof(digest));
}

}  // namespace anifarm
