// Tests of the legacy (pre-1.6, non-zip) checkpoint splitter (no LibTorch):
// the real 4x-NMKD-YandereNeo-Superlite.pth, hand-built files, and every
// truncation and many corruptions of the real file, which must give errors
// naming the file and never crash.
#include "node/engine/legacy_checkpoint.h"

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "tests/unit/engine/test_pickles.h"

namespace anifarm::engine {
namespace {

using namespace std::string_literals;  // NUL bytes inside pickles
using testing::AppendString;
using testing::FakeTensor;
using testing::StateDictPickle;

const char kLegacyModel[] = ANIFARM_TEST_MODEL_DIR "/4x-NMKD-YandereNeo-Superlite.pth";

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

const std::string kMagicPickle = "\x80\x02\x8a\x0al\xfc\x9c\x46\xf9\x20j\xa8P\x19."s;
const std::string kVersionPickle = "\x80\x02M\xe9\x03."s;

std::string SysInfoPickle(bool little_endian) {
  std::string p = "\x80\x02}(";
  AppendString(&p, "protocol_version");
  p += "M\xe9\x03"s;
  AppendString(&p, "little_endian");
  p += little_endian ? "\x88" : "\x89";
  p += "u.";
  return p;
}

std::string KeyListPickle(const std::vector<std::string>& keys) {
  std::string p = "\x80\x02](";
  for (const std::string& k : keys) AppendString(&p, k);
  p += "e.";
  return p;
}

std::string Le64(int64_t v) {
  std::string out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((static_cast<uint64_t>(v) >> (8 * i)) & 0xff));
  return out;
}

// A whole legacy file for float32 `tensors` (storage key i for tensor i),
// whose storage i holds numel(i) floats equal to i + 0.5.
std::string LegacyFile(const std::vector<FakeTensor>& tensors, const std::string& main_pickle) {
  std::vector<std::string> keys;
  for (const FakeTensor& t : tensors) keys.push_back(t.storage_key);
  std::string out = kMagicPickle + kVersionPickle + SysInfoPickle(true) + main_pickle + KeyListPickle(keys);
  for (size_t i = 0; i < tensors.size(); ++i) {
    const int64_t n = testing::Numel(tensors[i].sizes);
    out += Le64(n);
    const float v = static_cast<float>(i) + 0.5f;
    for (int64_t j = 0; j < n; ++j) out.append(reinterpret_cast<const char*>(&v), 4);
  }
  return out;
}

const std::vector<FakeTensor> kTwoTensors = {{"conv.weight", "0", {2, 3, 3, 3}}, {"conv.bias", "1", {2}}};

TEST(LegacyCheckpointTest, ReadsRealLegacyFile) {
  const std::string data = ReadAll(kLegacyModel);
  ASSERT_GT(data.size(), 1000000u) << "cannot read " << kLegacyModel;
  EXPECT_TRUE(LooksLikeLegacyCheckpoint(data.substr(0, 16)));
  absl::StatusOr<LegacyCheckpoint> ckpt = ParseLegacyCheckpoint(data, kLegacyModel);
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  EXPECT_EQ(ckpt->records.size(), 72u);
  EXPECT_EQ(ckpt->storages.size(), 72u);
  EXPECT_EQ(ckpt->records[0].first, "model.0.weight");
  const TensorRecord& first = ckpt->records[0].second;
  EXPECT_EQ(first.sizes, (std::vector<int64_t>{64, 3, 3, 3}));
  EXPECT_EQ(first.strides, (std::vector<int64_t>{27, 9, 3, 1}));
  EXPECT_EQ(first.dtype, DType::kFloat32);
  EXPECT_EQ(first.storage_numel, 1728);
  EXPECT_EQ(ckpt->storages.at(first.storage_key).size(), 1728u * 4);
  EXPECT_EQ(ckpt->records.back().first, "model.10.bias");
  // The storages tile the file's tail exactly: their bytes sum to the rest.
  size_t bytes = 0;
  for (const auto& [key, view] : ckpt->storages) bytes += view.size() + 8;
  EXPECT_LT(bytes, data.size());
  EXPECT_GT(bytes, data.size() - 20000);
}

TEST(LegacyCheckpointTest, ZipAndOtherFilesDoNotLookLegacy) {
  EXPECT_FALSE(LooksLikeLegacyCheckpoint("PK\x03\x04rest"));
  EXPECT_FALSE(LooksLikeLegacyCheckpoint("\x80\x02}q\x00"s));  // a bare pickle of a dict
  EXPECT_FALSE(LooksLikeLegacyCheckpoint(""));
  EXPECT_TRUE(LooksLikeLegacyCheckpoint(kMagicPickle));
}

TEST(LegacyCheckpointTest, EveryTruncationOfRealFileIsAnError) {
  const std::string data = ReadAll(kLegacyModel);
  ASSERT_GT(data.size(), 1000000u);
  std::vector<size_t> cuts;
  for (size_t n = 0; n < 20000; n += 7) cuts.push_back(n);  // all the pickles, finely
  for (size_t n = 20000; n < data.size(); n += 4093) cuts.push_back(n);
  for (size_t n : {data.size() - 1, data.size() - 4, data.size() - 300}) cuts.push_back(n);
  for (size_t n : cuts) {
    absl::StatusOr<LegacyCheckpoint> ckpt =
        ParseLegacyCheckpoint(absl::string_view(data).substr(0, n), "cut.pth");
    ASSERT_FALSE(ckpt.ok()) << "prefix of " << n << " bytes parsed";
    EXPECT_EQ(ckpt.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(ckpt.status().message().find("cut.pth"), std::string::npos) << ckpt.status();
  }
}

// Byte flips in the pickles either still parse (a changed digit in a
// storage key, say) or give an error naming the file: never a crash, and
// whatever parses still has every storage inside the file.
TEST(LegacyCheckpointTest, CorruptedPicklesGiveErrorsNotCrashes) {
  std::string bad = ReadAll(kLegacyModel);  // flipped in place and restored
  ASSERT_GT(bad.size(), 1000000u);
  int errors = 0, parsed = 0;
  for (size_t at = 0; at < 16000; at += 5) {
    for (uint8_t x : {0xffu, 0x01u, 0x80u}) {
      bad[at] = static_cast<char>(static_cast<uint8_t>(bad[at]) ^ x);
      absl::StatusOr<LegacyCheckpoint> ckpt = ParseLegacyCheckpoint(bad, "bad.pth");
      bad[at] = static_cast<char>(static_cast<uint8_t>(bad[at]) ^ x);
      if (ckpt.ok()) {
        ++parsed;
        for (const auto& [key, view] : ckpt->storages) {
          ASSERT_GE(view.data(), bad.data());
          ASSERT_LE(view.data() + view.size(), bad.data() + bad.size());
        }
      } else {
        ++errors;
        EXPECT_EQ(ckpt.status().code(), absl::StatusCode::kInvalidArgument);
        EXPECT_NE(ckpt.status().message().find("bad.pth"), std::string::npos) << ckpt.status();
      }
    }
  }
  std::printf("legacy pickle byte flips: %d errors, %d still parsed\n", errors, parsed);
  // Most flips that still parse hit string contents (names, storage keys)
  // or memo indices; structural damage must be caught.
  EXPECT_GT(errors, 3000);
}

TEST(LegacyCheckpointTest, ReadsHandBuiltFile) {
  const std::string file = LegacyFile(kTwoTensors, StateDictPickle(kTwoTensors, ""));
  absl::StatusOr<LegacyCheckpoint> ckpt = ParseLegacyCheckpoint(file, "hand.pth");
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  ASSERT_EQ(ckpt->records.size(), 2u);
  EXPECT_EQ(ckpt->records[1].first, "conv.bias");
  ASSERT_EQ(ckpt->storages.at("1").size(), 8u);
  float v;
  std::memcpy(&v, ckpt->storages.at("1").data(), 4);
  EXPECT_EQ(v, 1.5f);
}

// The pickle with legacy 6-tuple persistent ids ending in None, as
// torch.save wrote them before 1.6.
std::string SixTuplePickle(const std::string& view_metadata) {
  std::string p =
      "\x80\x02"
      "ccollections\nOrderedDict\n)R(";
  AppendString(&p, "w");
  p += "ctorch._utils\n_rebuild_tensor_v2\n((";
  AppendString(&p, "storage");
  p += "ctorch\nFloatStorage\n";
  AppendString(&p, "0");
  AppendString(&p, "cuda:0");
  testing::AppendInt(&p, 4);
  p += view_metadata + "tQ";
  testing::AppendInt(&p, 0);
  p += "(";
  testing::AppendInt(&p, 4);
  p += "t(";
  testing::AppendInt(&p, 1);
  p += "t\x89}tRu.";
  return p;
}

TEST(LegacyCheckpointTest, AcceptsSixTuplePersistentIdsWithoutViews) {
  const std::vector<FakeTensor> one = {{"w", "0", {4}}};
  absl::StatusOr<LegacyCheckpoint> ckpt =
      ParseLegacyCheckpoint(LegacyFile(one, SixTuplePickle("N")), "six.pth");
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  EXPECT_EQ(ckpt->records[0].second.location, "cuda:0");

  std::string view = "(";
  AppendString(&view, "0");
  view += "K\x00K\x02t"s;  // (view_key, offset, size): a storage view
  absl::StatusOr<LegacyCheckpoint> viewed =
      ParseLegacyCheckpoint(LegacyFile(one, SixTuplePickle(view)), "v.pth");
  ASSERT_FALSE(viewed.ok());
  EXPECT_NE(viewed.status().message().find("storage views"), std::string::npos) << viewed.status();
}

void ExpectError(const std::string& file, const std::string& needle) {
  absl::StatusOr<LegacyCheckpoint> ckpt = ParseLegacyCheckpoint(file, "broken.pth");
  ASSERT_FALSE(ckpt.ok()) << needle;
  EXPECT_EQ(ckpt.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(ckpt.status().message().find("broken.pth"), std::string::npos) << ckpt.status();
  EXPECT_NE(ckpt.status().message().find(needle), std::string::npos) << ckpt.status();
}

TEST(LegacyCheckpointTest, RejectsInconsistentFiles) {
  const std::string main = StateDictPickle(kTwoTensors, "");
  const std::string good = LegacyFile(kTwoTensors, main);
  ASSERT_TRUE(ParseLegacyCheckpoint(good, "good.pth").ok());

  std::string bad_magic = good;
  bad_magic[6] ^= 1;
  ExpectError(bad_magic, "magic");
  ExpectError(good + "x", "unexpected bytes");

  // Element count in the data section differs from the persistent id.
  std::string bad_count = good;
  const size_t data_at = good.size() - (8 + 54 * 4) - (8 + 2 * 4);
  bad_count[data_at] = 55;
  ExpectError(bad_count, "declared");
  // A count so large that it would wrap the size computation.
  std::string huge = good;
  huge.replace(data_at, 8, Le64(int64_t{1} << 62));
  ExpectError(huge, "declared");

  const std::string head = kMagicPickle + kVersionPickle;
  ExpectError(head + SysInfoPickle(false) + main + KeyListPickle({"0", "1"}), "big-endian");
  ExpectError(kMagicPickle + "\x80\x02M\xea\x03."s + SysInfoPickle(true) + main, "protocol version");
  ExpectError(head + SysInfoPickle(true) + main + KeyListPickle({"0", "0"}) + good.substr(data_at), "twice");
  ExpectError(head + SysInfoPickle(true) + main + KeyListPickle({"0", "7"}) + good.substr(data_at),
              "never declared");
  ExpectError(head + SysInfoPickle(true) + main + KeyListPickle({"0"}) + good.substr(data_at, 224),
              "not in the file");

  // Code in the main pickle is refused by the VM, naming the global.
  std::string evil =
      "\x80\x02"
      "cos\nsystem\n";
  AppendString(&evil, "touch /tmp/pwned");
  evil += "\x85R.";
  ExpectError(head + SysInfoPickle(true) + evil + KeyListPickle({}), "os.system");
}

}  // namespace
}  // namespace anifarm::engine
