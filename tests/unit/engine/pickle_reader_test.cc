// Tests of the restricted pickle VM (no LibTorch): the real checkpoint's
// data.pkl, hand-built pickles, and hostile input.
#include "node/engine/pickle_reader.h"

#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "gtest/gtest.h"
#include "tests/unit/engine/test_pickles.h"

namespace anifarm::engine {
namespace {

using namespace std::string_literals;  // NUL bytes inside pickles
using ::anifarm::engine::testing::FakeTensor;
using ::anifarm::engine::testing::StateDictPickle;

const char kModel[] = ANIFARM_TEST_MODEL_DIR "/2x-AniScale.pth";

uint32_t Le(const std::string& s, size_t at, int bytes) {
  uint32_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(s[at + i]);
  return v;
}

// Finds a stored (uncompressed) member whose name ends with `suffix` via the
// zip's central directory (torch.save writes members uncompressed, with the
// sizes only there and in data descriptors).
std::string ReadStoredZipMember(const std::string& path, const std::string& suffix) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string zip = buffer.str();
  const size_t eocd = zip.rfind("PK\x05\x06");
  if (eocd == std::string::npos || eocd + 22 > zip.size()) return "";
  size_t pos = Le(zip, eocd + 16, 4);
  while (pos + 46 <= zip.size() && zip.compare(pos, 4, "PK\x01\x02") == 0) {
    const uint32_t method = Le(zip, pos + 10, 2);
    const uint32_t size = Le(zip, pos + 20, 4);
    const uint32_t name_len = Le(zip, pos + 28, 2);
    const uint32_t extra_len = Le(zip, pos + 30, 2);
    const uint32_t comment_len = Le(zip, pos + 32, 2);
    const uint32_t local = Le(zip, pos + 42, 4);
    const std::string name = zip.substr(pos + 46, name_len);
    if (method == 0 && name.size() >= suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0 && local + 30 <= zip.size()) {
      const size_t data = local + 30 + Le(zip, local + 26, 2) + Le(zip, local + 28, 2);
      return data + size <= zip.size() ? zip.substr(data, size) : "";
    }
    pos += 46 + name_len + extra_len + comment_len;
  }
  return "";
}

const TensorRecord* Find(const StateDict& sd, const std::string& name) {
  for (const auto& [key, record] : sd) {
    if (key == name) return &record;
  }
  return nullptr;
}

TEST(PickleReaderTest, ReadsRealCheckpointPickle) {
  const std::string pkl = ReadStoredZipMember(kModel, "/data.pkl");
  ASSERT_GT(pkl.size(), 1000u) << "cannot read data.pkl from " << kModel;
  absl::StatusOr<PickleDocument> doc = ParsePickle(pkl, kModel);
  ASSERT_TRUE(doc.ok()) << doc.status();
  ASSERT_NE(doc->root->FindInDict("params"), nullptr);
  ASSERT_NE(doc->root->FindInDict("params_ema"), nullptr);

  absl::StatusOr<StateDict> sd = ExtractStateDict(*doc, kModel);
  ASSERT_TRUE(sd.ok()) << sd.status();
  // 18 convolutions (weight + bias) and 17 PReLUs.
  EXPECT_EQ(sd->size(), 53u);
  const TensorRecord* first = Find(*sd, "body.0.weight");
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->sizes, (std::vector<int64_t>{64, 3, 3, 3}));
  EXPECT_EQ(first->strides, (std::vector<int64_t>{27, 9, 3, 1}));
  EXPECT_EQ(first->dtype, DType::kFloat32);
  EXPECT_EQ(first->storage_numel, 1728);
  // params_ema is preferred over params: its storages come second.
  EXPECT_EQ(first->storage_key, "53");
  const TensorRecord* last = Find(*sd, "body.34.weight");
  ASSERT_NE(last, nullptr);
  EXPECT_EQ(last->sizes, (std::vector<int64_t>{12, 64, 3, 3}));
  const TensorRecord* prelu = Find(*sd, "body.33.weight");
  ASSERT_NE(prelu, nullptr);
  EXPECT_EQ(prelu->sizes, (std::vector<int64_t>{64}));
}

TEST(PickleReaderTest, EveryTruncationOfRealPickleIsAnError) {
  const std::string pkl = ReadStoredZipMember(kModel, "/data.pkl");
  ASSERT_GT(pkl.size(), 1000u);
  for (size_t n = 0; n < pkl.size(); n += 7) {
    absl::StatusOr<PickleDocument> doc = ParsePickle(absl::string_view(pkl).substr(0, n), "cut.pth");
    ASSERT_FALSE(doc.ok()) << "prefix of " << n << " bytes parsed";
    EXPECT_EQ(doc.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(doc.status().message().find("cut.pth"), std::string::npos) << doc.status();
  }
}

TEST(PickleReaderTest, RejectsForbiddenGlobal) {
  // The classic exploit: os.system("touch /tmp/pwned").
  std::string p =
      "\x80\x02"
      "cos\nsystem\nq\x00"s;
  testing::AppendString(&p, "touch /tmp/pwned");
  p += "\x85R.";
  absl::StatusOr<PickleDocument> doc = ParsePickle(p, "evil.pth");
  ASSERT_FALSE(doc.ok());
  EXPECT_EQ(doc.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(doc.status().message().find("os.system"), std::string::npos) << doc.status();
  EXPECT_NE(doc.status().message().find("evil.pth"), std::string::npos) << doc.status();

  absl::StatusOr<PickleDocument> eval = ParsePickle(
      "\x80\x02"
      "cbuiltins\neval\n.",
      "evil2.pth");
  ASSERT_FALSE(eval.ok());
  EXPECT_NE(eval.status().message().find("builtins.eval"), std::string::npos) << eval.status();
}

TEST(PickleReaderTest, UnwrapsStateDictAndStripsModulePrefix) {
  const std::string p = StateDictPickle(
      {{"module.conv.weight", "0", {4, 3, 3, 3}}, {"module.conv.bias", "1", {4}, "HalfStorage"}},
      "state_dict");
  absl::StatusOr<PickleDocument> doc = ParsePickle(p, "sd.pth");
  ASSERT_TRUE(doc.ok()) << doc.status();
  absl::StatusOr<StateDict> sd = ExtractStateDict(*doc, "sd.pth");
  ASSERT_TRUE(sd.ok()) << sd.status();
  ASSERT_EQ(sd->size(), 2u);
  EXPECT_EQ((*sd)[0].first, "conv.weight");
  EXPECT_EQ((*sd)[0].second.sizes, (std::vector<int64_t>{4, 3, 3, 3}));
  EXPECT_EQ((*sd)[1].first, "conv.bias");
  EXPECT_EQ((*sd)[1].second.dtype, DType::kFloat16);
  EXPECT_EQ((*sd)[1].second.storage_key, "1");
}

TEST(PickleReaderTest, BareDictWorks) {
  absl::StatusOr<PickleDocument> doc = ParsePickle(StateDictPickle({{"w", "7", {2, 2}}}, ""), "bare.pth");
  ASSERT_TRUE(doc.ok()) << doc.status();
  absl::StatusOr<StateDict> sd = ExtractStateDict(*doc, "bare.pth");
  ASSERT_TRUE(sd.ok()) << sd.status();
  ASSERT_EQ(sd->size(), 1u);
  EXPECT_EQ((*sd)[0].second.storage_key, "7");
}

TEST(PickleReaderTest, RejectsMalformedPrograms) {
  const struct {
    const char* what;
    std::string bytes;
  } cases[] = {
      {"empty", ""},
      {"no STOP", "\x80\x02}"},
      {"stack underflow", "\x80\x02."},
      {"undefined memo", std::string("\x80\x02h\x05.", 5)},
      {"wide LONG1", std::string("\x80\x02\x8a\x09\x01\x02\x03\x04\x05\x06\x07\x08\x09.", 14)},
      {"huge string length", std::string("\x80\x02X\xff\xff\xff\x7f"
                                         "abc.",
                                         11)},
      {"SETITEM on list", "\x80\x02]KaKbs."},
      {"unknown opcode", "\x80\x02\xff."},
      {"REDUCE on non-global", "\x80\x02K\x01)R."},
      {"TUPLE without MARK", "\x80\x02K\x01t."},
  };
  for (const auto& c : cases) {
    absl::StatusOr<PickleDocument> doc = ParsePickle(c.bytes, "bad.pth");
    EXPECT_FALSE(doc.ok()) << c.what;
    if (!doc.ok()) EXPECT_EQ(doc.status().code(), absl::StatusCode::kInvalidArgument) << c.what;
  }
}

TEST(PickleReaderTest, RejectsStorageKeyThatIsAPath) {
  // The key becomes the zip record name "data/<key>".
  std::string p = "\x80\x02(";
  testing::AppendString(&p, "storage");
  p += "ctorch\nFloatStorage\n";
  testing::AppendString(&p, "../../etc/passwd");
  testing::AppendString(&p, "cpu");
  p += "K\x01tQ.";
  absl::StatusOr<PickleDocument> doc = ParsePickle(p, "key.pth");
  ASSERT_FALSE(doc.ok());
  EXPECT_NE(doc.status().message().find("storage key"), std::string::npos) << doc.status();
}

TEST(PickleReaderTest, SelfReferencingListDoesNotHang) {
  // l = []; l.append(l): a cycle must neither crash nor loop.
  absl::StatusOr<PickleDocument> doc = ParsePickle(
      "\x80\x02]q\x00h\x00"
      "a}X\x01\x00\x00\x00kh\x00s."s,
      "cycle.pth");
  ASSERT_TRUE(doc.ok()) << doc.status();
  absl::StatusOr<StateDict> sd = ExtractStateDict(*doc, "cycle.pth");
  EXPECT_FALSE(sd.ok());  // no tensors
}

TEST(PickleReaderTest, RejectsTensorWithoutStorage) {
  std::string p =
      "\x80\x02"
      "ctorch._utils\n_rebuild_tensor_v2\n(K\x00K\x00)))t"s;
  p += "R.";
  EXPECT_FALSE(ParsePickle(p, "t.pth").ok());
}

}  // namespace
}  // namespace anifarm::engine
