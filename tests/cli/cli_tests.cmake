# The CLI as a user sees it in a terminal: progress display in a pty and
# through a pipe (real `anifarm run`, real model).
add_test(NAME cli_progress_display_test
         COMMAND python3 ${CMAKE_CURRENT_LIST_DIR}/progress_display_test.py
                 ${CMAKE_BINARY_DIR}/bin ${ANIFARM_TEST_MODEL_DIR})
set_tests_properties(cli_progress_display_test PROPERTIES TIMEOUT 300)
