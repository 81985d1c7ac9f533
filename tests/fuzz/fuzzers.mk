# Builds the libFuzzer harnesses with clang, incrementally, in WORK:
#   make -f tests/fuzz/fuzzers.mk SRC=<source dir> WORK=<work dir> -j2 [targets]
# Run by run_fuzzers.sh. The code under test is compiled with
# -fsanitize=fuzzer-no-link,address,undefined (coverage + sanitizers); the
# generated protobuf code is compiled without instrumentation (it is not
# AniFarm's, and it compiles faster so). Only model_loader_fuzzer sees
# LibTorch: Debian's headers and shared libraries, used as they are (not
# instrumented); its own sources are compiled with -ffunction-sections and
# linked by lld with --gc-sections, so that the engine code the parsers never
# reach (NcnnNet::Create -> srvgg_compact.cc -> pth_checkpoint.cc) need not
# be compiled.
SRC ?= $(CURDIR)
WORK ?= $(CURDIR)/fuzz
CXX := clang++
OBJ := $(WORK)/obj
GEN := $(WORK)/gen

SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined
CXXFLAGS := -std=c++17 -O1 -gline-tables-only -I$(SRC) -I$(GEN) -MMD -MP
INSTR := $(CXXFLAGS) $(SAN) -fsanitize=fuzzer-no-link
LDFLAGS := $(SAN) -fsanitize=fuzzer

ABSL_LIBS := $(shell pkg-config --libs absl_status absl_statusor absl_strings absl_str_format absl_time)
FFMPEG_LIBS := $(shell pkg-config --libs libavformat libavcodec libavutil libswscale libswresample)
PROTO_LIBS := $(shell pkg-config --libs protobuf)
SQLITE_LIBS := $(shell pkg-config --libs sqlite3)
# coordinator/assembler.cc logs with spdlog (compiled library, on fmt).
SPDLOG_LIBS := $(shell pkg-config --libs spdlog fmt)
TORCH_INC := -isystem /usr/include/torch/csrc/api/include
TORCH_LIBS := -ltorch -ltorch_cpu -lc10

PICKLE_SRCS := tests/fuzz/pickle_reader_fuzzer.cc node/engine/pickle_reader.cc \
  node/engine/legacy_checkpoint.cc
MEDIA_SRCS := $(patsubst $(SRC)/%,%,$(wildcard $(SRC)/common/media/*.cc)) common/hashing.cc \
  common/suggest.cc common/file_util.cc
MEDIA_FUZZ_SRCS := tests/fuzz/media_probe_fuzzer.cc $(MEDIA_SRCS)
# The coordinator's farm logic: every coordinator/*.cc but the transport
# (gRPC service, dashboard, TLS credentials) and main. They go into an archive
# so that only what the harness reaches is linked.
COORD_EXCLUDE := main.cc service.cc dashboard.cc server_credentials.cc
COORD_LIB_SRCS := $(filter-out $(addprefix coordinator/,$(COORD_EXCLUDE)), \
  $(patsubst $(SRC)/%,%,$(wildcard $(SRC)/coordinator/*.cc))) \
  common/chunk_payload.cc common/encoded_segment.cc common/model_catalog.cc
COORD_FUZZ_SRCS := tests/fuzz/coordinator_rpc_fuzzer.cc $(MEDIA_SRCS) $(COORD_LIB_SRCS)
LOADER_SRCS := tests/fuzz/model_loader_fuzzer.cc node/engine/safetensors.cc \
  node/engine/ncnn_model.cc node/engine/ncnn_shapes.cc node/engine/ncnn_families.cc \
  node/engine/frame_stats.cc node/engine/fused_epilogue.cc node/engine/cudnn_fusion.cc

objs = $(patsubst %.cc,$(OBJ)/%.o,$(1))

.PHONY: all
all: $(WORK)/pickle_reader_fuzzer $(WORK)/media_probe_fuzzer $(WORK)/coordinator_rpc_fuzzer \
  $(WORK)/model_loader_fuzzer

$(GEN)/protos/anifarm.pb.cc $(GEN)/protos/anifarm.pb.h &: $(SRC)/protos/anifarm.proto
	@mkdir -p $(GEN)
	protoc --proto_path=$(SRC) --cpp_out=$(GEN) $<

$(OBJ)/anifarm.pb.o: $(GEN)/protos/anifarm.pb.cc
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS) -c $< -o $@

# Everything that includes the generated header waits for it.
$(call objs,$(COORD_FUZZ_SRCS)): | $(GEN)/protos/anifarm.pb.h

# The LibTorch users: torch headers, precompiled once (they are most of each
# file's compile time; the .pch rule spells its flags out, since it would
# inherit the objects' -include-pch), and sections the linker can drop.
TORCH_PCH := $(OBJ)/torch_pch.pch
$(TORCH_PCH): $(SRC)/tests/fuzz/torch_pch.h
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS) $(SAN) -fsanitize=fuzzer-no-link $(TORCH_INC) -ffunction-sections \
	  -x c++-header $< -o $@

$(call objs,$(LOADER_SRCS)): INSTR += $(TORCH_INC) -ffunction-sections -include-pch $(TORCH_PCH)
$(call objs,$(LOADER_SRCS)): $(TORCH_PCH)

$(OBJ)/%.o: $(SRC)/%.cc
	@mkdir -p $(@D)
	$(CXX) $(INSTR) -c $< -o $@

$(WORK)/pickle_reader_fuzzer: $(call objs,$(PICKLE_SRCS))
	$(CXX) $(LDFLAGS) $^ $(ABSL_LIBS) -o $@

$(WORK)/media_probe_fuzzer: $(call objs,$(MEDIA_FUZZ_SRCS))
	$(CXX) $(LDFLAGS) $^ $(FFMPEG_LIBS) $(ABSL_LIBS) -o $@

$(WORK)/libcoordinator_fuzz.a: $(call objs,$(COORD_LIB_SRCS))
	rm -f $@; ar qc $@ $^

$(WORK)/coordinator_rpc_fuzzer: $(call objs,tests/fuzz/coordinator_rpc_fuzzer.cc $(MEDIA_SRCS)) \
    $(WORK)/libcoordinator_fuzz.a $(OBJ)/anifarm.pb.o
	$(CXX) $(LDFLAGS) $^ $(PROTO_LIBS) $(SQLITE_LIBS) $(FFMPEG_LIBS) $(SPDLOG_LIBS) $(ABSL_LIBS) -lpthread -o $@

$(WORK)/model_loader_fuzzer: $(call objs,$(LOADER_SRCS))
	$(CXX) $(LDFLAGS) -fuse-ld=lld -Wl,--gc-sections $^ $(TORCH_LIBS) $(ABSL_LIBS) -o $@

-include $(shell find $(OBJ) -name '*.d' 2>/dev/null)
