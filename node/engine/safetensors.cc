#include "node/engine/safetensors.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace anifarm::engine {
namespace {

constexpr uint64_t kMaxHeader = uint64_t{100} << 20;
constexpr int kMaxDepth = 16;
constexpr int kMaxDims = 8;

// The subset of JSON a safetensors header uses (objects, arrays, strings,
// non-negative integers; other scalars are accepted and kept as text).
struct Json {
  enum Kind { kObject, kArray, kString, kNumber, kOther } kind = kOther;
  std::vector<std::pair<std::string, Json>> members;  // object, in order
  std::vector<Json> items;                            // array
  std::string text;                                   // string / number / literal

  const Json* Get(absl::string_view key) const {
    for (const auto& [k, v] : members) {
      if (k == key) return &v;
    }
    return nullptr;
  }
};

class JsonParser {
 public:
  explicit JsonParser(absl::string_view s) : s_(s) {}

  bool Parse(Json* out) {
    if (!Value(out, 0)) return false;
    Skip();
    return pos_ == s_.size();
  }
  size_t pos() const { return pos_; }

 private:
  void Skip() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) {
      ++pos_;
    }
  }
  bool Eat(char c) {
    Skip();
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool String(std::string* out) {
    if (!Eat('"')) return false;
    while (pos_ < s_.size()) {
      const char c = s_[pos_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return false;
      if (c != '\\') {
        out->push_back(c);
        continue;
      }
      if (pos_ >= s_.size()) return false;
      const char e = s_[pos_++];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out->push_back(e);
          break;
        case 'b':
          out->push_back('\b');
          break;
        case 'f':
          out->push_back('\f');
          break;
        case 'n':
          out->push_back('\n');
          break;
        case 'r':
          out->push_back('\r');
          break;
        case 't':
          out->push_back('\t');
          break;
        case 'u': {
          if (s_.size() - pos_ < 4) return false;
          unsigned v = 0;
          for (int i = 0; i < 4; ++i) {
            const char h = s_[pos_++];
            v <<= 4;
            if (h >= '0' && h <= '9')
              v |= h - '0';
            else if (h >= 'a' && h <= 'f')
              v |= h - 'a' + 10;
            else if (h >= 'A' && h <= 'F')
              v |= h - 'A' + 10;
            else
              return false;
          }
          // Names are ASCII in practice; keep others as UTF-8 (no surrogate pairing).
          if (v < 0x80) {
            out->push_back(static_cast<char>(v));
          } else if (v < 0x800) {
            out->push_back(static_cast<char>(0xC0 | (v >> 6)));
            out->push_back(static_cast<char>(0x80 | (v & 0x3F)));
          } else {
            out->push_back(static_cast<char>(0xE0 | (v >> 12)));
            out->push_back(static_cast<char>(0x80 | ((v >> 6) & 0x3F)));
            out->push_back(static_cast<char>(0x80 | (v & 0x3F)));
          }
          break;
        }
        default:
          return false;
      }
    }
    return false;
  }
  bool Value(Json* out, int depth) {
    if (depth > kMaxDepth) return false;
    Skip();
    if (pos_ >= s_.size()) return false;
    const char c = s_[pos_];
    if (c == '{') {
      ++pos_;
      out->kind = Json::kObject;
      if (Eat('}')) return true;
      do {
        std::string key;
        Json value;
        if (!String(&key) || !Eat(':') || !Value(&value, depth + 1)) return false;
        out->members.emplace_back(std::move(key), std::move(value));
      } while (Eat(','));
      return Eat('}');
    }
    if (c == '[') {
      ++pos_;
      out->kind = Json::kArray;
      if (Eat(']')) return true;
      do {
        Json value;
        if (!Value(&value, depth + 1)) return false;
        out->items.push_back(std::move(value));
      } while (Eat(','));
      return Eat(']');
    }
    if (c == '"') {
      out->kind = Json::kString;
      return String(&out->text);
    }
    const size_t start = pos_;
    while (pos_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '-' ||
                                s_[pos_] == '+' || s_[pos_] == '.')) {
      ++pos_;
    }
    if (pos_ == start) return false;
    out->text = std::string(s_.substr(start, pos_ - start));
    out->kind = std::all_of(out->text.begin(), out->text.end(), [](char d) { return d >= '0' && d <= '9'; })
                    ? Json::kNumber
                    : Json::kOther;
    return true;
  }

  absl::string_view s_;
  size_t pos_ = 0;
};

// A non-negative integer below 2^62, or -1.
int64_t AsInt(const Json& j) {
  if (j.kind != Json::kNumber || j.text.empty() || j.text.size() > 18) return -1;
  int64_t v = 0;
  for (char d : j.text) v = v * 10 + (d - '0');
  return v;
}

absl::Status Bad(absl::string_view source, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(source, ": invalid safetensors file: ", what));
}

}  // namespace

bool LooksLikeSafetensors(absl::string_view head) {
  if (head.size() < 9) return false;
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(head[i]);
  return n >= 2 && n <= kMaxHeader && head[8] == '{';
}

absl::StatusOr<TensorMap> ParseSafetensors(absl::string_view bytes, absl::string_view source) {
  if (bytes.size() < 8) return Bad(source, absl::StrCat("only ", bytes.size(), " bytes"));
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | static_cast<unsigned char>(bytes[i]);
  if (header_len > kMaxHeader || header_len > bytes.size() - 8) {
    return Bad(source, absl::StrCat("header length ", header_len, " exceeds the file (", bytes.size(),
                                    " bytes) or the ", kMaxHeader, "-byte limit"));
  }
  const absl::string_view header = bytes.substr(8, header_len);
  const absl::string_view data = bytes.substr(8 + header_len);
  Json root;
  JsonParser parser(header);
  if (!parser.Parse(&root) || root.kind != Json::kObject) {
    return Bad(source, absl::StrCat("header is not a JSON object (error near byte ", 8 + parser.pos(), ")"));
  }
  struct Entry {
    std::string name;
    torch::ScalarType dtype;
    std::vector<int64_t> shape;
    uint64_t begin, end;
  };
  std::vector<Entry> entries;
  for (const auto& [name, value] : root.members) {
    if (name == "__metadata__") continue;
    const std::string what = absl::StrCat("tensor '", name, "'");
    if (value.kind != Json::kObject) return Bad(source, what + " is not an object");
    const Json* dtype = value.Get("dtype");
    const Json* shape = value.Get("shape");
    const Json* offsets = value.Get("data_offsets");
    if (dtype == nullptr || dtype->kind != Json::kString || shape == nullptr || shape->kind != Json::kArray ||
        offsets == nullptr || offsets->kind != Json::kArray || offsets->items.size() != 2) {
      return Bad(source, what + " lacks dtype, shape or data_offsets");
    }
    Entry e;
    e.name = name;
    int64_t element = 0;
    if (dtype->text == "F32") {
      e.dtype = torch::kFloat32, element = 4;
    } else if (dtype->text == "F16") {
      e.dtype = torch::kFloat16, element = 2;
    } else if (dtype->text == "BF16") {
      e.dtype = torch::kBFloat16, element = 2;
    } else {
      return Bad(source,
                 absl::StrCat(what, " has unsupported dtype ", dtype->text, " (F32, F16, BF16 are read)"));
    }
    if (shape->items.size() > kMaxDims) return Bad(source, what + " has too many dimensions");
    uint64_t numel = 1;
    for (const Json& d : shape->items) {
      const int64_t n = AsInt(d);
      if (n < 0 || n > (int64_t{1} << 40)) return Bad(source, what + " has a bad dimension");
      e.shape.push_back(n);
      if (n != 0 && numel > (uint64_t{1} << 40) / static_cast<uint64_t>(n)) {
        return Bad(source, what + " is too large");
      }
      numel *= static_cast<uint64_t>(n);
    }
    const int64_t begin = AsInt(offsets->items[0]), end = AsInt(offsets->items[1]);
    if (begin < 0 || end < begin || static_cast<uint64_t>(end) > data.size()) {
      return Bad(source, absl::StrCat(what, " data_offsets [", offsets->items[0].text, ", ",
                                      offsets->items[1].text, "] outside the ", data.size(), "-byte data"));
    }
    if (static_cast<uint64_t>(end - begin) != numel * element) {
      return Bad(source, absl::StrCat(what, " has ", end - begin, " bytes for ", numel, " ", dtype->text,
                                      " elements"));
    }
    e.begin = begin;
    e.end = end;
    entries.push_back(std::move(e));
  }
  if (entries.empty()) return Bad(source, "no tensors");
  std::vector<const Entry*> by_offset;
  for (const Entry& e : entries) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(), [](const Entry* a, const Entry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    if (by_offset[i]->begin < by_offset[i - 1]->end) {
      return Bad(source, absl::StrCat("tensors '", by_offset[i - 1]->name, "' and '", by_offset[i]->name,
                                      "' overlap"));
    }
  }
  bool all_module = true;
  for (const Entry& e : entries) all_module = all_module && absl::StartsWith(e.name, "module.");
  TensorMap tensors;
  for (const Entry& e : entries) {
    torch::Tensor t = torch::empty(e.shape, e.dtype);
    if (e.end > e.begin) std::memcpy(t.data_ptr(), data.data() + e.begin, e.end - e.begin);
    tensors.emplace_back(all_module ? e.name.substr(7) : e.name, std::move(t));
  }
  return tensors;
}

absl::StatusOr<TensorMap> LoadSafetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return absl::InvalidArgumentError(absl::StrCat(path, ": cannot open"));
  const std::streamoff size = in.tellg();
  if (size < 0 || size > (std::streamoff{16} << 30)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": cannot read (size ", size, ")"));
  }
  std::string bytes(static_cast<size_t>(size), '\0');
  in.seekg(0);
  if (size > 0 && !in.read(bytes.data(), size))
    return absl::InvalidArgumentError(absl::StrCat(path, ": read error"));
  try {
    return ParseSafetensors(bytes, path);
  } catch (const c10::Error& e) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", e.what_without_backtrace()));
  }
}

}  // namespace anifarm::engine
