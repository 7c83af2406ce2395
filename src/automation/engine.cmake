# warden_automation: event intake, matching, windows, host queues, executions, dry-runs.
add_library(warden_automation engine.cc events.cc host_queues.cc windows.cc scheduler.cc
  dry_run.cc)
target_link_libraries(warden_automation
  PUBLIC warden_automation_drivers warden_store
  PRIVATE fmt::fmt Threads::Threads)

if(WARDEN_BUILD_TESTS)
  warden_test(automation_engine_test
    SOURCES events_test.cc host_queues_test.cc windows_test.cc engine_test.cc
    LIBS warden_automation warden_store_sqlite Threads::Threads)
endif()
