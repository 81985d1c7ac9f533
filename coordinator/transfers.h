// File transfers for clients whose files are not on the coordinator's disk.
//
//   <state-dir>/uploads/<upload-id>/<name>   inputs sent with UploadInput
//   <state-dir>/outputs/<job-id>/<name>      outputs kept for DownloadOutput
//
// An upload is written under a temporary name and appears under its own
// name only once every byte arrived and the size matched what the client
// announced; an interrupted upload leaves nothing behind.
#ifndef ANIFARM_COORDINATOR_TRANSFERS_H_
#define ANIFARM_COORDINATOR_TRANSFERS_H_

#include <cstdint>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace anifarm {

// A plain file name for the coordinator's folders: InvalidArgument for an
// empty name, folders, "..", or control characters.
absl::Status CheckPlainFileName(const std::string& name);

class UploadWriter {
 public:
  // Starts receiving `file_name` (announced as `size_bytes`) into a new
  // folder of `uploads_dir`.
  static absl::StatusOr<std::unique_ptr<UploadWriter>> Begin(const std::string& uploads_dir,
                                                             const std::string& file_name,
                                                             int64_t size_bytes);
  ~UploadWriter();  // removes the partial file unless Finish succeeded

  // InvalidArgument when more than the announced size arrives.
  absl::Status Append(std::string_view data);
  // The final path, once the size matches; InvalidArgument otherwise.
  absl::StatusOr<std::string> Finish();
  const std::string& sha256() const { return sha256_; }

 private:
  UploadWriter() = default;
  std::string folder_;
  std::string final_path_;
  std::string partial_path_;
  std::ofstream out_;
  int64_t expected_ = 0;
  int64_t received_ = 0;
  bool finished_ = false;
  std::string sha256_;
};

}  // namespace anifarm

#endif  // ANIFARM_COORDINATOR_TRANSFERS_H_
