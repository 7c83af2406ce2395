# warden_automation_spec: spec v1 validation, selectors, cron, the IR and inverses.
set(_spec_sources)
foreach(_src spec.cc selector.cc cron.cc template.cc ir.cc inverse.cc)
  if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${_src})
    list(APPEND _spec_sources ${_src})
  endif()
endforeach()
if(_spec_sources)
  add_library(warden_automation_spec ${_spec_sources})
  target_link_libraries(warden_automation_spec
    PUBLIC warden_expr warden_policy warden_core Boost::json date::date date::date-tz
    PRIVATE fmt::fmt)
else()
  add_library(warden_automation_spec INTERFACE)
  target_link_libraries(warden_automation_spec
    INTERFACE warden_expr warden_policy warden_core Boost::json date::date date::date-tz)
endif()

if(WARDEN_BUILD_TESTS)
  foreach(_test selector_test cron_test template_test spec_test ir_test inverse_test)
    if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${_test}.cc)
      warden_test(automation_${_test} SOURCES ${_test}.cc LIBS warden_automation_spec)
    endif()
  endforeach()
  # The docs test reads docs/automation.md and docs/automation-spec.schema.json.
  target_compile_definitions(automation_spec_test PRIVATE WARDEN_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
endif()
