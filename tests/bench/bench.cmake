# Benchmarks: built with the tests, run by hand (see docs/benchmarks.md).
if(TARGET anifarm_engine)
  add_executable(upscale_bench ${CMAKE_CURRENT_LIST_DIR}/upscale_bench.cc)
  target_link_libraries(upscale_bench PRIVATE anifarm_engine anifarm_util anifarm_common)
  set_target_properties(upscale_bench PROPERTIES BUILD_RPATH "$ORIGIN")
endif()
