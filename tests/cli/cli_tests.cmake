# The CLI as a user sees it in a terminal: progress display in a pty and
# through a pipe (real `anifarm run`, real model).
add_test(NAME cli_progress_display_test
         COMMAND python3 ${CMAKE_CURRENT_LIST_DIR}/progress_display_test.py
                 ${CMAKE_BINARY_DIR}/bin ${ANIFARM_TEST_MODEL_DIR})
set_tests_properties(cli_progress_display_test PROPERTIES TIMEOUT 300)

# The CLI as an operator meets it (signals, messages, exit codes, --json),
# against a real coordinator without a node: no model or engine needed.
add_test(NAME cli_operator_test
         COMMAND python3 ${CMAKE_CURRENT_LIST_DIR}/operator_cli_test.py ${CMAKE_BINARY_DIR}/bin)
set_tests_properties(cli_operator_test PROPERTIES TIMEOUT 180)
