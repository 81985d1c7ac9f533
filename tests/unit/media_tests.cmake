add_executable(media_tests
  ${CMAKE_CURRENT_LIST_DIR}/media/alpha_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/media/container_rules_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/media/encode_formats_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/media/field_analysis_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/media/geometry_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/media/hashing_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/media/image_writer_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/media/media_info_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/media/png_codec_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/media/source_streams_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/media/video_writer_test.cc)
target_link_libraries(media_tests PRIVATE anifarm_common anifarm_test_corpus GTest::gtest_main)
gtest_discover_tests(media_tests DISCOVERY_TIMEOUT 60)
