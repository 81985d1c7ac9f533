#include "node/engine/pickle_reader.h"

#include <cctype>
#include <cstdio>
#include <cstring>
#include <unordered_map>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace anifarm::engine {
namespace {

// Guards against memory blow-up on hostile input: a real state dict of a
// few hundred tensors stays far below these.
constexpr size_t kMaxStackDepth = 1 << 20;
constexpr size_t kMaxValues = 1 << 22;
constexpr int kMaxTensorRank = 8;
constexpr int kMaxFlattenDepth = 6;

struct StorageType {
  const char* name;
  DType dtype;
};
constexpr StorageType kStorageTypes[] = {
    {"FloatStorage", DType::kFloat32},     {"HalfStorage", DType::kFloat16},
    {"BFloat16Storage", DType::kBFloat16}, {"DoubleStorage", DType::kFloat64},
    {"LongStorage", DType::kInt64},        {"IntStorage", DType::kInt32},
    {"ShortStorage", DType::kInt16},       {"CharStorage", DType::kInt8},
    {"ByteStorage", DType::kUInt8},        {"BoolStorage", DType::kBool},
};

// Callables the VM may reference. Everything else (os.system, builtins.eval,
// arbitrary classes) is refused: naming it is how a pickle runs code.
bool IsAllowedGlobal(const std::string& module, const std::string& name) {
  if (module == "collections" && name == "OrderedDict") return true;
  // _rebuild_tensor: what checkpoints written before PyTorch 1.0 call.
  if (module == "torch._utils" && (name == "_rebuild_tensor_v2" || name == "_rebuild_tensor" ||
                                   name == "_rebuild_parameter" || name == "_rebuild_parameter_with_state")) {
    return true;
  }
  if (module == "torch") {
    for (const StorageType& t : kStorageTypes) {
      if (name == t.name) return true;
    }
  }
  return false;
}

bool StorageDType(const std::string& global, DType* dtype) {
  for (const StorageType& t : kStorageTypes) {
    if (global == absl::StrCat("torch.", t.name)) {
      *dtype = t.dtype;
      return true;
    }
  }
  return false;
}

class PickleMachine {
 public:
  PickleMachine(absl::string_view data, absl::string_view source) : data_(data), source_(source) {}

  // Bytes read up to and including STOP (valid after a successful Run).
  size_t consumed() const { return pos_; }

  absl::StatusOr<PickleDocument> Run() {
    while (true) {
      if (pos_ >= data_.size()) {
        return absl::InvalidArgumentError(absl::StrCat(source_, ": truncated pickle: no STOP opcode"));
      }
      const size_t op_pos = pos_;
      const uint8_t op = static_cast<uint8_t>(data_[pos_++]);
      absl::Status status = Step(op);
      if (!status.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(source_, ": pickle offset ", op_pos, ": ", status.message()));
      }
      if (done_) break;
    }
    PickleDocument doc;
    doc.arena = std::move(arena_);
    doc.root = result_;
    return doc;
  }

 private:
  absl::Status Error(absl::string_view what) const { return absl::InvalidArgumentError(what); }

  PickleValue* New(PickleValue::Kind kind) {
    arena_.push_back(std::make_unique<PickleValue>());
    arena_.back()->kind = kind;
    return arena_.back().get();
  }

  absl::Status Push(PickleValue* v) {
    if (stack_.size() >= kMaxStackDepth || arena_.size() >= kMaxValues) return Error("pickle too large");
    stack_.push_back(v);
    return absl::OkStatus();
  }

  absl::StatusOr<PickleValue*> Pop() {
    if (stack_.size() <= FloorOfStack()) return Error("stack underflow");
    PickleValue* v = stack_.back();
    stack_.pop_back();
    return v;
  }

  absl::StatusOr<PickleValue*> Top() {
    if (stack_.size() <= FloorOfStack()) return Error("stack underflow");
    return stack_.back();
  }

  // Objects below the innermost MARK belong to an enclosing construct.
  size_t FloorOfStack() const { return marks_.empty() ? 0 : marks_.back(); }

  // Pops everything above the innermost MARK, and the MARK.
  absl::StatusOr<std::vector<PickleValue*>> PopToMark() {
    if (marks_.empty()) return Error("no MARK on the stack");
    const size_t mark = marks_.back();
    marks_.pop_back();
    std::vector<PickleValue*> items(stack_.begin() + mark, stack_.end());
    stack_.resize(mark);
    return items;
  }

  absl::StatusOr<absl::string_view> ReadBytes(uint64_t n) {
    if (n > data_.size() - pos_) return Error("truncated pickle: read past the end");
    absl::string_view out = data_.substr(pos_, n);
    pos_ += n;
    return out;
  }

  absl::StatusOr<uint64_t> ReadUInt(int bytes) {
    ASSIGN_OR_RETURN(absl::string_view b, ReadBytes(bytes));
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(b[i]);
    return v;
  }

  absl::StatusOr<std::string> ReadLine() {
    const size_t end = data_.find('\n', pos_);
    if (end == absl::string_view::npos) return Error("truncated pickle: unterminated line");
    std::string line(data_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return line;
  }

  absl::Status PushInt(int64_t v) {
    PickleValue* p = New(PickleValue::Kind::kInt);
    p->int_value = v;
    return Push(p);
  }

  absl::Status PushString(PickleValue::Kind kind, absl::string_view s) {
    PickleValue* p = New(kind);
    p->string_value = std::string(s);
    return Push(p);
  }

  absl::Status PushSequence(PickleValue::Kind kind, const std::vector<PickleValue*>& items) {
    PickleValue* p = New(kind);
    p->items.assign(items.begin(), items.end());
    return Push(p);
  }

  absl::Status PopAndPushTuple(int n) {
    if (stack_.size() < FloorOfStack() + n) return Error("stack underflow");
    std::vector<PickleValue*> items(stack_.end() - n, stack_.end());
    stack_.resize(stack_.size() - n);
    return PushSequence(PickleValue::Kind::kTuple, items);
  }

  absl::Status Memoize(uint64_t index) {
    ASSIGN_OR_RETURN(PickleValue * top, Top());
    memo_[index] = top;
    return absl::OkStatus();
  }

  absl::Status Recall(uint64_t index) {
    auto it = memo_.find(index);
    if (it == memo_.end()) return Error(absl::StrCat("memo key ", index, " not defined"));
    return Push(it->second);
  }

  absl::Status SetItems(PickleValue* dict, const std::vector<PickleValue*>& kv) {
    if (dict->kind != PickleValue::Kind::kDict) return Error("SETITEM(S) on a non-dict");
    if (kv.size() % 2 != 0) return Error("SETITEMS with an odd number of items");
    dict->items.insert(dict->items.end(), kv.begin(), kv.end());
    return absl::OkStatus();
  }

  absl::Status Step(uint8_t op) {
    using Kind = PickleValue::Kind;
    switch (op) {
      case 0x80: {  // PROTO
        ASSIGN_OR_RETURN(uint64_t proto, ReadUInt(1));
        if (proto > 5) return Error(absl::StrCat("unsupported pickle protocol ", proto));
        return absl::OkStatus();
      }
      case 0x95:  // FRAME: advisory length prefix
        return ReadUInt(8).status();
      case '.': {  // STOP
        ASSIGN_OR_RETURN(result_, Pop());
        done_ = true;
        return absl::OkStatus();
      }
      case '(':  // MARK
        if (marks_.size() >= kMaxStackDepth) return Error("too many MARKs");
        marks_.push_back(stack_.size());
        return absl::OkStatus();
      case '0':  // POP
        return Pop().status();
      case '1':  // POP_MARK
        return PopToMark().status();
      case '2': {  // DUP
        ASSIGN_OR_RETURN(PickleValue * top, Top());
        return Push(top);
      }
      case 'N':
        return Push(New(Kind::kNone));
      case 0x88:
      case 0x89: {  // NEWTRUE, NEWFALSE
        PickleValue* p = New(Kind::kBool);
        p->bool_value = op == 0x88;
        return Push(p);
      }
      case 'J': {  // BININT: signed 32-bit
        ASSIGN_OR_RETURN(uint64_t v, ReadUInt(4));
        return PushInt(static_cast<int32_t>(static_cast<uint32_t>(v)));
      }
      case 'K': {  // BININT1
        ASSIGN_OR_RETURN(uint64_t v, ReadUInt(1));
        return PushInt(static_cast<int64_t>(v));
      }
      case 'M': {  // BININT2
        ASSIGN_OR_RETURN(uint64_t v, ReadUInt(2));
        return PushInt(static_cast<int64_t>(v));
      }
      case 0x8a: {  // LONG1: little-endian two's complement of n bytes
        ASSIGN_OR_RETURN(uint64_t n, ReadUInt(1));
        if (n > 8) return Error("LONG1 integer wider than 64 bits");
        ASSIGN_OR_RETURN(uint64_t v, ReadUInt(static_cast<int>(n)));
        if (n > 0 && n < 8 && (v >> (8 * n - 1)) & 1) v |= ~uint64_t{0} << (8 * n);  // sign-extend
        return PushInt(static_cast<int64_t>(v));
      }
      case 'G': {  // BINFLOAT: big-endian double
        ASSIGN_OR_RETURN(absl::string_view b, ReadBytes(8));
        uint64_t bits = 0;
        for (int i = 0; i < 8; ++i) bits = (bits << 8) | static_cast<uint8_t>(b[i]);
        PickleValue* p = New(Kind::kFloat);
        std::memcpy(&p->float_value, &bits, sizeof(bits));
        return Push(p);
      }
      case 'X':    // BINUNICODE
      case 'T':    // BINSTRING
      case 'B': {  // BINBYTES
        ASSIGN_OR_RETURN(uint64_t n, ReadUInt(4));
        if (op == 'T' && n > 0x7fffffff) return Error("negative BINSTRING length");
        ASSIGN_OR_RETURN(absl::string_view s, ReadBytes(n));
        return PushString(op == 'B' ? Kind::kBytes : Kind::kString, s);
      }
      case 0x8c:   // SHORT_BINUNICODE
      case 'U':    // SHORT_BINSTRING
      case 'C': {  // SHORT_BINBYTES
        ASSIGN_OR_RETURN(uint64_t n, ReadUInt(1));
        ASSIGN_OR_RETURN(absl::string_view s, ReadBytes(n));
        return PushString(op == 'C' ? Kind::kBytes : Kind::kString, s);
      }
      case 0x8d:    // BINUNICODE8
      case 0x8e: {  // BINBYTES8
        ASSIGN_OR_RETURN(uint64_t n, ReadUInt(8));
        ASSIGN_OR_RETURN(absl::string_view s, ReadBytes(n));
        return PushString(op == 0x8e ? Kind::kBytes : Kind::kString, s);
      }
      case '}':
        return Push(New(Kind::kDict));
      case ']':
        return Push(New(Kind::kList));
      case ')':
        return Push(New(Kind::kTuple));
      case 't': {  // TUPLE
        ASSIGN_OR_RETURN(std::vector<PickleValue*> items, PopToMark());
        return PushSequence(Kind::kTuple, items);
      }
      case 0x85:
        return PopAndPushTuple(1);
      case 0x86:
        return PopAndPushTuple(2);
      case 0x87:
        return PopAndPushTuple(3);
      case 'l': {  // LIST
        ASSIGN_OR_RETURN(std::vector<PickleValue*> items, PopToMark());
        return PushSequence(Kind::kList, items);
      }
      case 'd': {  // DICT
        ASSIGN_OR_RETURN(std::vector<PickleValue*> items, PopToMark());
        PickleValue* dict = New(Kind::kDict);
        RETURN_IF_ERROR(SetItems(dict, items));
        return Push(dict);
      }
      case 's': {  // SETITEM
        ASSIGN_OR_RETURN(PickleValue * value, Pop());
        ASSIGN_OR_RETURN(PickleValue * key, Pop());
        ASSIGN_OR_RETURN(PickleValue * dict, Top());
        return SetItems(dict, {key, value});
      }
      case 'u': {  // SETITEMS
        ASSIGN_OR_RETURN(std::vector<PickleValue*> kv, PopToMark());
        ASSIGN_OR_RETURN(PickleValue * dict, Top());
        return SetItems(dict, kv);
      }
      case 'a': {  // APPEND
        ASSIGN_OR_RETURN(PickleValue * value, Pop());
        ASSIGN_OR_RETURN(PickleValue * list, Top());
        if (list->kind != Kind::kList) return Error("APPEND to a non-list");
        list->items.push_back(value);
        return absl::OkStatus();
      }
      case 'e': {  // APPENDS
        ASSIGN_OR_RETURN(std::vector<PickleValue*> values, PopToMark());
        ASSIGN_OR_RETURN(PickleValue * list, Top());
        if (list->kind != Kind::kList) return Error("APPENDS to a non-list");
        list->items.insert(list->items.end(), values.begin(), values.end());
        return absl::OkStatus();
      }
      case 'q': {  // BINPUT
        ASSIGN_OR_RETURN(uint64_t i, ReadUInt(1));
        return Memoize(i);
      }
      case 'r': {  // LONG_BINPUT
        ASSIGN_OR_RETURN(uint64_t i, ReadUInt(4));
        return Memoize(i);
      }
      case 0x94:  // MEMOIZE
        return Memoize(memo_.size());
      case 'h': {  // BINGET
        ASSIGN_OR_RETURN(uint64_t i, ReadUInt(1));
        return Recall(i);
      }
      case 'j': {  // LONG_BINGET
        ASSIGN_OR_RETURN(uint64_t i, ReadUInt(4));
        return Recall(i);
      }
      case 'c': {  // GLOBAL "module\nname\n"
        ASSIGN_OR_RETURN(std::string module, ReadLine());
        ASSIGN_OR_RETURN(std::string name, ReadLine());
        return PushGlobal(module, name);
      }
      case 0x93: {  // STACK_GLOBAL
        ASSIGN_OR_RETURN(PickleValue * name, Pop());
        ASSIGN_OR_RETURN(PickleValue * module, Pop());
        if (name->kind != Kind::kString || module->kind != Kind::kString) {
          return Error("STACK_GLOBAL needs two strings");
        }
        return PushGlobal(module->string_value, name->string_value);
      }
      case 'Q': {  // BINPERSID
        ASSIGN_OR_RETURN(PickleValue * pid, Pop());
        ASSIGN_OR_RETURN(PickleValue * storage, PersistentLoad(*pid));
        return Push(storage);
      }
      case 'R': {  // REDUCE
        ASSIGN_OR_RETURN(PickleValue * args, Pop());
        ASSIGN_OR_RETURN(PickleValue * callable, Pop());
        ASSIGN_OR_RETURN(PickleValue * result, Reduce(*callable, *args));
        return Push(result);
      }
      case 'b': {  // BUILD
        ASSIGN_OR_RETURN(PickleValue * state, Pop());
        ASSIGN_OR_RETURN(PickleValue * target, Top());
        // OrderedDict gets its `_metadata` (per-module versions) this way and
        // tensors may get Python attributes: neither matters for inference.
        if (target->kind != Kind::kDict && target->kind != Kind::kTensor) {
          return Error("BUILD on an object other than a dict or tensor");
        }
        (void)state;
        return absl::OkStatus();
      }
      default: {
        char hex[8];
        std::snprintf(hex, sizeof(hex), "0x%02x", op);
        return Error(absl::StrCat("unsupported pickle opcode ", hex));
      }
    }
  }

  absl::Status PushGlobal(const std::string& module, const std::string& name) {
    if (!IsAllowedGlobal(module, name)) {
      return Error(absl::StrCat("forbidden global '", module, ".", name,
                                "' (only tensor-rebuilding globals are allowed; the file may contain code)"));
    }
    return PushString(PickleValue::Kind::kGlobal, absl::StrCat(module, ".", name));
  }

  // torch.save stores each storage as the persistent id
  // ('storage', torch.<Type>Storage, key, location, numel); the legacy
  // (pre-1.6) format appends view_metadata, None unless the storage is a
  // slice of another one (written only by very old versions; refused).
  absl::StatusOr<PickleValue*> PersistentLoad(const PickleValue& pid) {
    using Kind = PickleValue::Kind;
    if (pid.kind != Kind::kTuple || (pid.items.size() != 5 && pid.items.size() != 6)) {
      return Error("persistent id is not a 5- or 6-tuple");
    }
    if (pid.items.size() == 6 && pid.items[5]->kind != Kind::kNone) {
      return Error("storage views (legacy view_metadata) are not supported");
    }
    const PickleValue& tag = *pid.items[0];
    const PickleValue& type = *pid.items[1];
    const PickleValue& key = *pid.items[2];
    const PickleValue& location = *pid.items[3];
    const PickleValue& numel = *pid.items[4];
    if (tag.kind != Kind::kString || tag.string_value != "storage")
      return Error("persistent id is not a storage");
    DType dtype;
    if (type.kind != Kind::kGlobal || !StorageDType(type.string_value, &dtype)) {
      return Error("persistent id without a storage type");
    }
    if (key.kind != Kind::kString || key.string_value.empty() || location.kind != Kind::kString ||
        numel.kind != Kind::kInt || numel.int_value < 0) {
      return Error("malformed storage persistent id");
    }
    // The key becomes part of a record name: keep it to plain characters.
    for (char c : key.string_value) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return Error("bad storage key");
    }
    PickleValue* storage = New(Kind::kStorage);
    storage->tensor.storage_key = key.string_value;
    storage->tensor.dtype = dtype;
    storage->tensor.location = location.string_value;
    storage->tensor.storage_numel = numel.int_value;
    return storage;
  }

  static absl::StatusOr<std::vector<int64_t>> IntTuple(const PickleValue& v, const char* what) {
    if (v.kind != PickleValue::Kind::kTuple || v.items.size() > kMaxTensorRank) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor ", what, " is not a tuple of rank <= ", kMaxTensorRank));
    }
    std::vector<int64_t> out;
    for (const PickleValue* item : v.items) {
      if (item->kind != PickleValue::Kind::kInt || item->int_value < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("tensor ", what, " holds a non-integer or negative value"));
      }
      out.push_back(item->int_value);
    }
    return out;
  }

  absl::StatusOr<PickleValue*> Reduce(const PickleValue& callable, const PickleValue& args) {
    using Kind = PickleValue::Kind;
    if (callable.kind != Kind::kGlobal) return Error("REDUCE on a non-callable");
    if (args.kind != Kind::kTuple) return Error("REDUCE arguments are not a tuple");
    const std::string& f = callable.string_value;
    if (f == "collections.OrderedDict") {
      if (!args.items.empty()) return Error("OrderedDict with arguments is not supported");
      return New(Kind::kDict);
    }
    if (f == "torch._utils._rebuild_tensor_v2" || f == "torch._utils._rebuild_tensor") {
      // (storage, storage_offset, size, stride[, requires_grad, backward_hooks[, metadata]])
      if (args.items.size() < 4) return Error("_rebuild_tensor with too few arguments");
      const PickleValue& storage = *args.items[0];
      const PickleValue& offset = *args.items[1];
      if (storage.kind != Kind::kStorage) return Error("_rebuild_tensor_v2 without a storage");
      if (offset.kind != Kind::kInt || offset.int_value < 0) return Error("bad tensor storage offset");
      PickleValue* tensor = New(Kind::kTensor);
      tensor->tensor = storage.tensor;
      tensor->tensor.storage_offset = offset.int_value;
      ASSIGN_OR_RETURN(tensor->tensor.sizes, IntTuple(*args.items[2], "size"));
      ASSIGN_OR_RETURN(tensor->tensor.strides, IntTuple(*args.items[3], "stride"));
      if (tensor->tensor.sizes.size() != tensor->tensor.strides.size()) {
        return Error("tensor size and stride differ in rank");
      }
      return tensor;
    }
    if (f == "torch._utils._rebuild_parameter" || f == "torch._utils._rebuild_parameter_with_state") {
      if (args.items.empty() || args.items[0]->kind != Kind::kTensor)
        return Error("parameter without a tensor");
      // The arena owns every value mutably; items are const only so that
      // readers of a finished document cannot change it.
      return const_cast<PickleValue*>(args.items[0]);
    }
    return Error(absl::StrCat("global '", f, "' cannot be called"));
  }

  absl::string_view data_;
  absl::string_view source_;
  size_t pos_ = 0;
  bool done_ = false;
  std::vector<std::unique_ptr<PickleValue>> arena_;
  std::vector<PickleValue*> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, PickleValue*> memo_;
  const PickleValue* result_ = nullptr;
};

bool HasTensor(const PickleValue& dict) {
  for (size_t i = 1; i < dict.items.size(); i += 2) {
    if (dict.items[i]->kind == PickleValue::Kind::kTensor) return true;
  }
  return false;
}

void Flatten(const PickleValue& dict, const std::string& prefix, int depth, StateDict* out,
             std::unordered_map<std::string, size_t>* index) {
  if (depth > kMaxFlattenDepth) return;  // also stops cycles
  for (size_t i = 0; i + 1 < dict.items.size(); i += 2) {
    const PickleValue& key = *dict.items[i];
    const PickleValue& value = *dict.items[i + 1];
    if (key.kind != PickleValue::Kind::kString) continue;
    std::string name = prefix.empty() ? key.string_value : absl::StrCat(prefix, ".", key.string_value);
    if (value.kind == PickleValue::Kind::kTensor) {
      if (absl::StartsWith(name, "module.")) name = name.substr(7);
      // A later duplicate replaces an earlier one, as in a Python dict.
      auto [it, inserted] = index->emplace(name, out->size());
      if (inserted) {
        out->emplace_back(std::move(name), value.tensor);
      } else {
        (*out)[it->second].second = value.tensor;
      }
    } else if (value.kind == PickleValue::Kind::kDict) {
      Flatten(value, name, depth + 1, out, index);
    }
  }
}

}  // namespace

int DTypeSize(DType dtype) {
  switch (dtype) {
    case DType::kFloat64:
    case DType::kInt64:
      return 8;
    case DType::kFloat32:
    case DType::kInt32:
      return 4;
    case DType::kFloat16:
    case DType::kBFloat16:
    case DType::kInt16:
      return 2;
    case DType::kInt8:
    case DType::kUInt8:
    case DType::kBool:
      return 1;
  }
  return 1;
}

const char* DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return "float32";
    case DType::kFloat16:
      return "float16";
    case DType::kBFloat16:
      return "bfloat16";
    case DType::kFloat64:
      return "float64";
    case DType::kInt64:
      return "int64";
    case DType::kInt32:
      return "int32";
    case DType::kInt16:
      return "int16";
    case DType::kInt8:
      return "int8";
    case DType::kUInt8:
      return "uint8";
    case DType::kBool:
      return "bool";
  }
  return "?";
}

int64_t TensorRecord::numel() const {
  int64_t n = 1;
  for (int64_t s : sizes) n *= s;
  return n;
}

const PickleValue* PickleValue::FindInDict(absl::string_view key) const {
  if (kind != Kind::kDict) return nullptr;
  const PickleValue* found = nullptr;
  for (size_t i = 0; i + 1 < items.size(); i += 2) {
    if (items[i]->kind == Kind::kString && items[i]->string_value == key) found = items[i + 1];
  }
  return found;
}

absl::StatusOr<PickleDocument> ParsePickle(absl::string_view data, absl::string_view source_name,
                                           size_t* consumed) {
  PickleMachine machine(data, source_name);
  absl::StatusOr<PickleDocument> doc = machine.Run();
  if (doc.ok() && consumed != nullptr) *consumed = machine.consumed();
  return doc;
}

absl::StatusOr<StateDict> ExtractStateDict(const PickleDocument& doc, absl::string_view source_name) {
  if (doc.root == nullptr || doc.root->kind != PickleValue::Kind::kDict) {
    return absl::InvalidArgumentError(absl::StrCat(source_name, ": checkpoint root is not a dict"));
  }
  const PickleValue* weights = doc.root;
  for (const char* key : {"params_ema", "params", "state_dict", "model"}) {
    const PickleValue* v = doc.root->FindInDict(key);
    if (v != nullptr && v->kind == PickleValue::Kind::kDict && HasTensor(*v)) {
      weights = v;
      break;
    }
  }
  StateDict out;
  std::unordered_map<std::string, size_t> index;
  Flatten(*weights, "", 0, &out, &index);
  if (out.empty())
    return absl::InvalidArgumentError(absl::StrCat(source_name, ": checkpoint holds no tensors"));
  return out;
}

}  // namespace anifarm::engine
