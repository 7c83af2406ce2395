# Drivers and inventory (docs/automation.md#drivers). types.cc is its own small library so the
# spec library (below the drivers in the module's layering) can use the shared types too.
add_library(warden_automation_types types.cc)
target_link_libraries(warden_automation_types PUBLIC warden_policy warden_core)
