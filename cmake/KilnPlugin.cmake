# kiln_add_plugin(name source...): builds a kiln plugin, a shared library loaded at run time
# that exports only its entry point (KILN_PLUGIN) and links the shared libkiln_core. Used for
# the built-in plugins and, through find_package(kiln), for third-party ones.
function(kiln_add_plugin name)
  add_library(${name} MODULE ${ARGN})
  target_link_libraries(${name} PRIVATE kiln::core)
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    CXX_STANDARD 20
    CXX_STANDARD_REQUIRED ON
    INSTALL_RPATH "$ORIGIN/../..")  # lib/kiln/plugins -> lib, where libkiln_core is
  if(KILN_PLUGIN_OUTPUT_DIR)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${KILN_PLUGIN_OUTPUT_DIR})
  endif()
endfunction()
