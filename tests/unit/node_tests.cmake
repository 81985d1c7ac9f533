add_executable(node_tests
  ${CMAKE_CURRENT_LIST_DIR}/node/post_process_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/node/scale_plan_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/node/worker_threads_test.cc)
target_link_libraries(node_tests PRIVATE anifarm_node GTest::gtest_main)
gtest_discover_tests(node_tests DISCOVERY_TIMEOUT 60)
