add_executable(coordinator_tests
  # The CLI's views are plain functions of the wire types: tested here, with
  # their one source file, rather than through a client library.
  ${CMAKE_SOURCE_DIR}/client/job_view.cc
  ${CMAKE_CURRENT_LIST_DIR}/client/job_view_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/common/cli_args_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/common/encoded_segment_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/common/proto_json_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/common/suggest_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/coordinator/access_control_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/coordinator/assembler_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/coordinator/coordinator_stall_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/coordinator/damaged_input_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/coordinator/held_frames_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/coordinator/job_identity_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/coordinator/job_store_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/coordinator/open_gop_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/coordinator/output_settings_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/coordinator/path_policy_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/coordinator/planner_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/coordinator/series_cache_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/coordinator/source_prepass_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/coordinator/stall_check_test.cc)
target_link_libraries(coordinator_tests PRIVATE anifarm_coordinator anifarm_test_corpus GTest::gtest_main)
gtest_discover_tests(coordinator_tests DISCOVERY_TIMEOUT 60)
