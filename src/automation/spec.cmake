# warden_automation_spec: spec v1 validation, selectors, cron, the IR and inverses.
set(_spec_sources)
foreach(_src spec.cc selector.cc cron.cc ir.cc inverse.cc)
  if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${_src})
    list(APPEND _spec_sources ${_src})
  endif()
endforeach()
if(_spec_sources)
  add_library(warden_automation_spec ${_spec_sources})
  target_link_libraries(warden_automation_spec
    PUBLIC warden_expr warden_policy warden_core Boost::json date::date date::date-tz)
else()
  add_library(warden_automation_spec INTERFACE)
  target_link_libraries(warden_automation_spec
    INTERFACE warden_expr warden_policy warden_core Boost::json date::date date::date-tz)
endif()
