# Drivers and inventory (docs/automation.md, "Drivers"). types.cc is its own small library so the
# spec library (below the drivers in the module's layering) can use the shared types too.
add_library(warden_automation_types types.cc)
target_link_libraries(warden_automation_types PUBLIC warden_policy warden_core)

pkg_check_modules(YAML_CPP REQUIRED IMPORTED_TARGET yaml-cpp)
add_library(warden_automation_drivers
  builtin_warden.cc driver.cc inventory.cc params.cc plugin.cc webhook_driver.cc)
target_link_libraries(warden_automation_drivers
  PUBLIC warden_automation_spec warden_automation_types
  PRIVATE PkgConfig::YAML_CPP PkgConfig::RE2 OpenSSL::Crypto Threads::Threads)

if(WARDEN_BUILD_TESTS)
  warden_test(automation_drivers_test
    SOURCES types_test.cc params_test.cc plugin_test.cc builtin_warden_test.cc
            webhook_driver_test.cc inventory_test.cc
    LIBS warden_automation_drivers OpenSSL::Crypto Threads::Threads)
  target_compile_definitions(automation_drivers_test PRIVATE
    WARDEN_TEST_PLUGINS_DIR="${PROJECT_SOURCE_DIR}/tests/automation/plugins"
    WARDEN_EXAMPLE_PLUGINS_DIR="${PROJECT_BINARY_DIR}/examples/plugins")
  add_dependencies(automation_drivers_test warden_plugin_files)
endif()
