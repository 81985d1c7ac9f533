add_executable(e2e_tests
  ${CMAKE_CURRENT_LIST_DIR}/auth_e2e_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/failure_e2e_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/farm_e2e_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/farm_ops_e2e_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/real_sources_e2e_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/resume_e2e_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/transfer_limits_e2e_test.cc)
target_link_libraries(e2e_tests PRIVATE anifarm_common anifarm_proto anifarm_util anifarm_test_corpus
  PkgConfig::HTTPLIB OpenSSL::SSL OpenSSL::Crypto GTest::gtest_main)
target_compile_definitions(e2e_tests PRIVATE
  ANIFARM_BIN_DIR="${CMAKE_BINARY_DIR}/bin"
  ANIFARM_TEST_MODEL_DIR="${ANIFARM_TEST_MODEL_DIR}"
  ANIFARM_TEST_PKI_SCRIPT="${CMAKE_CURRENT_LIST_DIR}/make_test_pki.sh")
add_dependencies(e2e_tests anifarm anifarm-coordinator)
if(TARGET anifarm-node)
  add_dependencies(e2e_tests anifarm-node)
endif()
gtest_discover_tests(e2e_tests DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 1200)
