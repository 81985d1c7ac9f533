#include "coordinator/transfers.h"

#include <filesystem>
#include <random>

#include "absl/strings/str_cat.h"
#include "common/hashing.h"

namespace anifarm {
namespace fs = std::filesystem;

absl::Status CheckPlainFileName(const std::string& name) {
  bool plain = !name.empty() && name != "." && name != ".." && name.size() <= 255;
  for (unsigned char c : name) {
    if (c == '/' || c == '\\' || c < 0x20 || c == 0x7f) plain = false;
  }
  if (plain) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("'", name, "' is not a plain file name (no folders, no '..')"));
}

absl::StatusOr<std::unique_ptr<UploadWriter>> UploadWriter::Begin(const std::string& uploads_dir,
                                                                  const std::string& file_name,
                                                                  int64_t size_bytes) {
  if (absl::Status name = CheckPlainFileName(file_name); !name.ok()) return name;
  if (size_bytes <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("upload of ", file_name, ": the first message must give its size"));
  }
  std::random_device random;
  const std::string id = absl::StrCat("upload-", std::to_string(random()), std::to_string(random()));
  std::unique_ptr<UploadWriter> writer(new UploadWriter());
  writer->folder_ = (fs::path(uploads_dir) / id).string();
  std::error_code ec;
  fs::create_directories(writer->folder_, ec);
  if (ec) return absl::InternalError(absl::StrCat(writer->folder_, ": ", ec.message()));
  writer->final_path_ = (fs::path(writer->folder_) / file_name).string();
  writer->partial_path_ = writer->final_path_ + ".partial";
  writer->out_.open(writer->partial_path_, std::ios::binary | std::ios::trunc);
  if (!writer->out_) return absl::InternalError(absl::StrCat(writer->partial_path_, ": cannot write"));
  writer->expected_ = size_bytes;
  return writer;
}

UploadWriter::~UploadWriter() {
  if (finished_) return;
  out_.close();
  std::error_code ec;
  fs::remove_all(folder_, ec);
}

absl::Status UploadWriter::Append(std::string_view data) {
  if (received_ + static_cast<int64_t>(data.size()) > expected_) {
    return absl::InvalidArgumentError(absl::StrCat(
        "upload of ", fs::path(final_path_).filename().string(), ": more than the announced ",
        expected_, " bytes"));
  }
  out_.write(data.data(), static_cast<std::streamsize>(data.size()));
  if (!out_) return absl::InternalError(absl::StrCat(partial_path_, ": write failed (disk full?)"));
  received_ += static_cast<int64_t>(data.size());
  return absl::OkStatus();
}

absl::StatusOr<std::string> UploadWriter::Finish() {
  out_.close();
  if (received_ != expected_) {
    return absl::InvalidArgumentError(absl::StrCat(
        "upload of ", fs::path(final_path_).filename().string(), " ended after ", received_,
        " of ", expected_, " bytes"));
  }
  absl::StatusOr<std::string> digest = Sha256OfFile(partial_path_);
  if (!digest.ok()) return digest.status();
  std::error_code ec;
  fs::rename(partial_path_, final_path_, ec);
  if (ec) return absl::InternalError(absl::StrCat(final_path_, ": ", ec.message()));
  sha256_ = *digest;
  finished_ = true;
  return final_path_;
}

}  // namespace anifarm
