# Network faults between hosts (issue 8), included from tests/CMakeLists.txt:
#   netns_fault_test         coordinator and two CPU nodes in network namespaces
#                            of their own; node A's link is cut mid-job and
#                            restored; the job must finish with every frame once
#                            (real binaries, real model). Needs root and `ip`
#                            (iproute2); skipped (exit 77) without them or where
#                            namespaces are not allowed (no CAP_NET_ADMIN).
#   netns_fault_checks_test  the same test's checks against doctored results
#                            (no root, no network): each one must catch its fault.
# Both carry the label "netns": ctest -L netns.
find_package(Python3 COMPONENTS Interpreter QUIET)
if(Python3_Interpreter_FOUND)
  set(ANIFARM_NETNS_PYTHON ${Python3_EXECUTABLE})
else()
  set(ANIFARM_NETNS_PYTHON python3)
endif()

add_test(NAME netns_fault_test
  COMMAND ${ANIFARM_NETNS_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/netns_fault_test.py
          ${CMAKE_BINARY_DIR}/bin ${ANIFARM_TEST_MODEL_DIR})
# RUN_SERIAL: the test times leases against CPU-bound nodes, so it does not
# share the machine with other tests.
set_tests_properties(netns_fault_test PROPERTIES
  SKIP_RETURN_CODE 77
  TIMEOUT 900
  RUN_SERIAL TRUE
  LABELS netns)

add_test(NAME netns_fault_checks_test
  COMMAND ${ANIFARM_NETNS_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/netns_fault_test.py --self-test)
set_tests_properties(netns_fault_checks_test PROPERTIES
  TIMEOUT 60
  LABELS netns)
