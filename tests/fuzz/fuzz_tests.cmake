# Bounded libFuzzer runs (clang, built outside the main toolchain so the
# project itself stays on g++). Skipped when clang's fuzzer runtime is absent.
add_test(NAME fuzz_pickle_reader
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/run_fuzzers.sh ${CMAKE_SOURCE_DIR}
                 ${CMAKE_BINARY_DIR}/fuzz ${ANIFARM_TEST_MODEL_DIR} 30)
set_tests_properties(fuzz_pickle_reader PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
