# warden_automation: event intake, matching, windows, host queues, executions, dry-runs.
add_library(warden_automation engine.cc events.cc host_queues.cc windows.cc scheduler.cc
  dry_run.cc)
target_link_libraries(warden_automation
  PUBLIC warden_automation_drivers warden_store
  PRIVATE fmt::fmt Threads::Threads)

if(WARDEN_BUILD_TESTS)
  warden_test(automation_engine_test
    SOURCES events_test.cc host_queues_test.cc windows_test.cc engine_test.cc
    LIBS warden_automation warden_store_sqlite fmt::fmt Threads::Threads)
  # Real plugin processes: the example plugin (built by examples/plugins/files) and the
  # misbehaving ones of the driver tests.
  warden_test(automation_engine_plugin_test
    SOURCES engine_plugin_test.cc
    LIBS warden_automation warden_store_sqlite fmt::fmt Threads::Threads)
  target_compile_definitions(automation_engine_plugin_test PRIVATE
    WARDEN_TEST_PLUGINS_DIR="${PROJECT_SOURCE_DIR}/tests/automation/plugins"
    WARDEN_EXAMPLE_PLUGINS_DIR="${PROJECT_BINARY_DIR}/examples/plugins")
  add_dependencies(automation_engine_plugin_test warden_plugin_files)
endif()
