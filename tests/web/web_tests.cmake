# The dashboard in a real browser. Needs Debian's chromium and the npm
# package playwright-core installed into ${PLAYWRIGHT_DIR} (scripts/test.sh
# does both); the test fails, not skips, without them.
set(PLAYWRIGHT_DIR "${CMAKE_BINARY_DIR}/web" CACHE PATH "npm prefix holding playwright-core")
add_test(NAME dashboard_browser_test
  COMMAND node ${CMAKE_CURRENT_LIST_DIR}/dashboard_test.cjs)
set_tests_properties(dashboard_browser_test PROPERTIES
  TIMEOUT 900
  ENVIRONMENT "ANIFARM_BIN=${CMAKE_BINARY_DIR}/bin;ANIFARM_MODELS=${ANIFARM_TEST_MODEL_DIR};PLAYWRIGHT_CORE=${PLAYWRIGHT_DIR}/node_modules/playwright-core;SCREENSHOT_DIR=${CMAKE_SOURCE_DIR}/docs/screenshots")
