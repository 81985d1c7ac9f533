# Engine tests: the torch-free pickle reader and legacy checkpoint splitter,
# the networks (RRDBNet, OmniSR, SPAN, RealPLKSR, DAT), the ncnn graph executor
# (Real-ESRGAN, waifu2x upconv_7, Real-CUGAN graphs), and the LibTorch engine
# on the real model files in ANIFARM_TEST_MODEL_DIR (and the small ones
# written into engine/reference by make_fixtures.py), and the on-device
# post-processing against the host reference and the Pillow fixtures.
if(TARGET anifarm_engine)
  add_executable(engine_tests
    ${CMAKE_CURRENT_LIST_DIR}/engine/pickle_reader_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/engine/legacy_checkpoint_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/engine/rrdbnet_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/engine/omnisr_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/engine/span_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/engine/realplksr_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/engine/dat_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/engine/torch_engine_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/engine/ncnn_model_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/engine/ncnn_padded_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/engine/safetensors_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/engine/reference_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/engine/tile_seams_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/engine/device_post_process_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/engine/cpu_bf16_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/engine/fused_epilogue_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/engine/cudnn_fusion_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/engine/compact_ends_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/engine/flop_counter_test.cc
    # Skipped without a CUDA device; tests/bench/gpu_session.sh runs it on one.
    ${CMAKE_CURRENT_LIST_DIR}/engine/cuda_engine_test.cc
    # The host reference the device post-processing is checked against
    # (torch-free; compiled in rather than linking the whole node library).
    ${CMAKE_SOURCE_DIR}/node/post_process.cc)
  target_link_libraries(engine_tests PRIVATE anifarm_engine anifarm_pickle torch GTest::gtest_main)
  target_compile_definitions(engine_tests PRIVATE ANIFARM_TEST_MODEL_DIR="${ANIFARM_TEST_MODEL_DIR}")
  gtest_discover_tests(engine_tests DISCOVERY_TIMEOUT 120)
endif()
