#include "client/file_transfer.h"

#include <filesystem>
#include <fstream>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "common/grpc_client.h"

namespace anifarm {
namespace fs = std::filesystem;
namespace {

// The .partial file DownloadFile writes now ("": none), for
// RemovePartialDownload on the signal watcher's thread.
std::mutex partial_mutex;
std::string partial_in_progress;

void SetPartial(const std::string& path) {
  std::lock_guard<std::mutex> lock(partial_mutex);
  partial_in_progress = path;
}

}  // namespace

void RemovePartialDownload() {
  std::lock_guard<std::mutex> lock(partial_mutex);
  std::error_code ec;
  if (!partial_in_progress.empty()) fs::remove(partial_in_progress, ec);
}

absl::StatusOr<std::string> UploadFile(v1::Coordinator::Stub* stub, const std::string& address,
                                       const std::string& local_path) {
  std::ifstream in(local_path, std::ios::binary);
  std::error_code ec;
  const auto size = static_cast<int64_t>(fs::file_size(local_path, ec));
  if (!in || ec) return absl::NotFoundError(absl::StrCat(local_path, ": cannot read the file"));
  grpc::ClientContext context;
  v1::UploadResponse response;
  std::unique_ptr<grpc::ClientWriter<v1::UploadChunk>> writer =
      stub->UploadInput(&context, &response);
  v1::UploadChunk chunk;
  chunk.set_file_name(fs::path(local_path).filename().string());
  chunk.set_size_bytes(size);
  constexpr size_t kPiece = 1 << 20;
  std::string buffer(kPiece, '\0');
  // The first message (name and size) goes even for an empty read so the
  // coordinator can refuse an oversized upload before the bytes follow.
  do {
    in.read(buffer.data(), kPiece);
    chunk.set_data(buffer.data(), static_cast<size_t>(in.gcount()));
    if (!writer->Write(chunk)) break;  // refused: Finish says why
    chunk.clear_file_name();
    chunk.clear_size_bytes();
  } while (in);
  writer->WritesDone();
  absl::Status status = FromGrpcStatus(writer->Finish(), address);
  if (!status.ok()) {
    return absl::Status(status.code(), absl::StrCat(local_path, ": ", status.message()));
  }
  return response.path();
}

absl::Status DownloadFile(v1::Coordinator::Stub* stub, const std::string& address,
                          const std::string& job_id, const std::string& local_path) {
  grpc::ClientContext context;
  v1::DownloadRequest request;
  request.set_job_id(job_id);
  std::unique_ptr<grpc::ClientReader<v1::DownloadChunk>> reader =
      stub->DownloadOutput(&context, request);
  const std::string partial = local_path + ".partial";
  SetPartial(partial);
  std::ofstream out(partial, std::ios::binary | std::ios::trunc);
  if (!out) {
    SetPartial("");
    return absl::InvalidArgumentError(absl::StrCat(local_path, ": cannot write there"));
  }
  int64_t expected = -1, received = 0;
  v1::DownloadChunk chunk;
  while (reader->Read(&chunk)) {
    if (expected < 0) expected = chunk.size_bytes();
    out.write(chunk.data().data(), static_cast<std::streamsize>(chunk.data().size()));
    received += static_cast<int64_t>(chunk.data().size());
  }
  out.close();
  absl::Status status = FromGrpcStatus(reader->Finish(), address);
  std::error_code ec;
  if (status.ok() && (!out || received != expected)) {
    status = absl::DataLossError(absl::StrCat("download of job ", job_id, " stopped after ",
                                              received, " of ", expected, " bytes"));
  }
  if (status.ok()) fs::rename(partial, local_path, ec);
  if (!status.ok() || ec) {
    fs::remove(partial, ec);
    if (status.ok()) status = absl::InternalError(absl::StrCat(local_path, ": ", ec.message()));
  }
  SetPartial("");
  return status;
}

}  // namespace anifarm
