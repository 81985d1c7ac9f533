# Benchmarks: built with the tests, run by hand (see docs/benchmarks.md).
if(TARGET anifarm_engine)
  add_executable(upscale_bench ${CMAKE_CURRENT_LIST_DIR}/upscale_bench.cc)
  target_link_libraries(upscale_bench PRIVATE anifarm_engine anifarm_util anifarm_common)
  set_target_properties(upscale_bench PROPERTIES BUILD_RPATH "$ORIGIN")

  # network_bench: inference only, the network's forward passes on the device.
  add_executable(network_bench ${CMAKE_CURRENT_LIST_DIR}/network_bench.cc)
  target_link_libraries(network_bench PRIVATE anifarm_engine anifarm_util anifarm_common torch)
  set_target_properties(network_bench PROPERTIES BUILD_RPATH "$ORIGIN")

  # tests/bench/gpu_session.sh is what a GPU host runs; this dry run on the
  # CPU (built binaries, tiny frames, fp32 for the inference-only runs) keeps
  # the script itself working between GPU sessions.
  add_test(NAME gpu_session_dry_run_test COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/gpu_session.sh)
  set_tests_properties(gpu_session_dry_run_test PROPERTIES TIMEOUT 300 ENVIRONMENT
    "OUT=${CMAKE_BINARY_DIR}/gpu-session-dry-run;ANIFARM_DEPS_ENV=/dev/null;ANIFARM_GPU_BIN=${CMAKE_BINARY_DIR}/bin;ANIFARM_GPU_DEVICE=cpu;ANIFARM_GPU_HALF=fp32;ANIFARM_GPU_SIZE=48x32;ANIFARM_GPU_MODELS=${ANIFARM_TEST_MODEL_DIR}")

  # post_process_bench: host post-processing against the engine's tensor ops.
  add_executable(post_process_bench ${CMAKE_CURRENT_LIST_DIR}/post_process_bench.cc
                                    ${CMAKE_SOURCE_DIR}/node/post_process.cc)
  target_link_libraries(post_process_bench PRIVATE anifarm_engine anifarm_util anifarm_common torch)
  set_target_properties(post_process_bench PROPERTIES BUILD_RPATH "$ORIGIN")
endif()

# farm_bench: coordinator + N nodes on loopback (docs/scaling.md). Needs no
# LibTorch itself; it runs the anifarm-coordinator and anifarm-node binaries.
add_executable(farm_bench ${CMAKE_CURRENT_LIST_DIR}/farm_bench.cc)
target_link_libraries(farm_bench PRIVATE anifarm_chunk anifarm_common anifarm_util anifarm_proto)
target_compile_definitions(farm_bench PRIVATE
  ANIFARM_TEST_MODEL_DIR="${ANIFARM_TEST_MODEL_DIR}")
add_dependencies(farm_bench anifarm-coordinator)
if(TARGET anifarm-node)
  add_dependencies(farm_bench anifarm-node)
endif()

# plan_bench: the planner's decode pass with and without the held-drawing
# detector. CTest runs it on a tiny clip only so that it keeps working.
add_executable(plan_bench ${CMAKE_CURRENT_LIST_DIR}/plan_bench.cc)
target_link_libraries(plan_bench PRIVATE anifarm_coordinator anifarm_test_corpus)
add_test(NAME plan_bench_dry_run_test COMMAND plan_bench --width 192 --height 108 --frames 24)
