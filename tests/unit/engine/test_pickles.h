// Builders for small protocol-2 pickles shaped like torch.save's data.pkl,
// so that tests can make valid, hostile and odd checkpoints without Python.
#ifndef ANIFARM_TESTS_UNIT_ENGINE_TEST_PICKLES_H_
#define ANIFARM_TESTS_UNIT_ENGINE_TEST_PICKLES_H_

#include <cstdint>
#include <string>
#include <vector>

namespace anifarm::engine::testing {

inline void AppendLe32(std::string* out, uint64_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

inline void AppendInt(std::string* out, int64_t v) {  // BININT (32-bit)
  out->push_back('J');
  AppendLe32(out, static_cast<uint64_t>(v));
}

inline void AppendString(std::string* out, const std::string& s) {  // BINUNICODE
  out->push_back('X');
  AppendLe32(out, s.size());
  out->append(s);
}

struct FakeTensor {
  std::string name;         // "body.0.weight"
  std::string storage_key;  // "0"
  std::vector<int64_t> sizes;
  std::string storage_type = "FloatStorage";
};

inline std::vector<int64_t> ContiguousStrides(const std::vector<int64_t>& sizes) {
  std::vector<int64_t> strides(sizes.size(), 1);
  for (int i = static_cast<int>(sizes.size()) - 2; i >= 0; --i) strides[i] = strides[i + 1] * sizes[i + 1];
  return strides;
}

inline int64_t Numel(const std::vector<int64_t>& sizes) {
  int64_t n = 1;
  for (int64_t s : sizes) n *= s;
  return n;
}

// {wrapper: OrderedDict(name → tensor)} or, with an empty wrapper, the
// OrderedDict itself; tensors are contiguous views of their own storages.
inline std::string StateDictPickle(const std::vector<FakeTensor>& tensors, const std::string& wrapper) {
  std::string p = "\x80\x02";
  if (!wrapper.empty()) {
    p += "}(";
    AppendString(&p, wrapper);
  }
  p += "ccollections\nOrderedDict\n)R(";
  for (const FakeTensor& t : tensors) {
    AppendString(&p, t.name);
    p += "ctorch._utils\n_rebuild_tensor_v2\n((";
    AppendString(&p, "storage");
    p += "ctorch\n" + t.storage_type + "\n";
    AppendString(&p, t.storage_key);
    AppendString(&p, "cpu");
    AppendInt(&p, Numel(t.sizes));
    p += "tQ";
    AppendInt(&p, 0);
    p += "(";
    for (int64_t s : t.sizes) AppendInt(&p, s);
    p += "t(";
    for (int64_t s : ContiguousStrides(t.sizes)) AppendInt(&p, s);
    p += "t\x89}tR";
  }
  p += "u";
  if (!wrapper.empty()) p += "u";
  p += ".";
  return p;
}

}  // namespace anifarm::engine::testing

#endif  // ANIFARM_TESTS_UNIT_ENGINE_TEST_PICKLES_H_
