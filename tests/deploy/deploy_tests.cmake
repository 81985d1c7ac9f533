# Deployment checks (issue 8), included from tests/CMakeLists.txt:
#   deploy_systemd_verify_test  `systemd-analyze verify` on deploy/systemd
#                               (skipped, exit 77, without systemd-analyze)
#   deploy_manifests_test       deploy/k8s, deploy/systemd and deploy/docker
#                               against the binaries' flags, ports and paths
#                               (needs python3 with PyYAML: python3-yaml)
#   deploy_runtime_packages_test  every shared library of the binaries comes
#                               from scripts/runtime-packages.txt or its
#                               dependencies (dpkg; skipped, 77, without it);
#                               ..._notices_a_gap: the same with a package
#                               left out must fail
# They read the built binaries in ${CMAKE_BINARY_DIR}/bin and deploy/ in the
# source tree; none needs a GPU, network or root.
find_package(Python3 COMPONENTS Interpreter QUIET)
if(Python3_Interpreter_FOUND)
  set(ANIFARM_DEPLOY_PYTHON ${Python3_EXECUTABLE})
else()
  set(ANIFARM_DEPLOY_PYTHON python3)
endif()

add_test(NAME deploy_systemd_verify_test
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/systemd_verify_test.sh
          ${CMAKE_BINARY_DIR}/bin ${CMAKE_SOURCE_DIR})
set_tests_properties(deploy_systemd_verify_test PROPERTIES
  SKIP_RETURN_CODE 77
  TIMEOUT 120
  LABELS deploy)

add_test(NAME deploy_manifests_test
  COMMAND ${ANIFARM_DEPLOY_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/manifests_test.py
          ${CMAKE_BINARY_DIR}/bin ${CMAKE_SOURCE_DIR})
set_tests_properties(deploy_manifests_test PROPERTIES
  TIMEOUT 120
  LABELS deploy)

add_test(NAME deploy_runtime_packages_test
  COMMAND ${ANIFARM_DEPLOY_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/runtime_packages_test.py
          ${CMAKE_BINARY_DIR}/bin ${CMAKE_SOURCE_DIR})
set_tests_properties(deploy_runtime_packages_test PROPERTIES
  SKIP_RETURN_CODE 77
  TIMEOUT 300
  LABELS deploy)
# The check has teeth: without spdlog's runtime package the list is short.
add_test(NAME deploy_runtime_packages_notices_a_gap
  COMMAND ${ANIFARM_DEPLOY_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/runtime_packages_test.py
          ${CMAKE_BINARY_DIR}/bin ${CMAKE_SOURCE_DIR} --without libspdlog1.10)
set_tests_properties(deploy_runtime_packages_notices_a_gap PROPERTIES
  WILL_FAIL TRUE
  TIMEOUT 300
  LABELS deploy)
