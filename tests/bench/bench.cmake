# Benchmarks: built with the tests, run by hand (see docs/benchmarks.md).
if(TARGET anifarm_engine)
  add_executable(upscale_bench ${CMAKE_CURRENT_LIST_DIR}/upscale_bench.cc)
  target_link_libraries(upscale_bench PRIVATE anifarm_engine anifarm_util anifarm_common)
  set_target_properties(upscale_bench PROPERTIES BUILD_RPATH "$ORIGIN")

  # network_bench: inference only, the network's forward passes on the device.
  add_executable(network_bench ${CMAKE_CURRENT_LIST_DIR}/network_bench.cc)
  target_link_libraries(network_bench PRIVATE anifarm_engine anifarm_util anifarm_common torch)
  set_target_properties(network_bench PROPERTIES BUILD_RPATH "$ORIGIN")

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
