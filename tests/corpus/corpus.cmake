# anifarm_test_corpus: test-support code that writes media as users have it
# (lossy H.264/HEVC/MPEG-2 with the encoders' own GOP structures, open GOPs
# included), for any test target to link.
add_library(anifarm_test_corpus STATIC
  ${CMAKE_CURRENT_LIST_DIR}/field_clips.cc
  ${CMAKE_CURRENT_LIST_DIR}/lossy_clip.cc)
target_link_libraries(anifarm_test_corpus PUBLIC anifarm_common)
