# Bounded libFuzzer runs (clang, built outside the main toolchain so the
# project itself stays on g++; tests/fuzz/fuzzers.mk): the checkpoint pickle
# reader, the media probe of a submitted file, the coordinator's request
# handlers and the safetensors / ncnn .param model loaders, 30 s each, side
# by side. Skipped when clang's fuzzer runtime is
# absent. tests/fuzz/README.md tells how to run them longer.
add_test(NAME fuzz_harnesses
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/run_fuzzers.sh ${CMAKE_SOURCE_DIR}
                 ${CMAKE_BINARY_DIR}/fuzz ${ANIFARM_TEST_MODEL_DIR} 30)
# A cold build of the four harnesses takes about 4 min on 2 cores (the
# LibTorch one about 40 s of it); later runs rebuild only what changed.
set_tests_properties(fuzz_harnesses PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 420 PROCESSORS 2)
