# SPDX-License-Identifier: ISC
# Default warnings for every target in the tree (style.md).
add_compile_options(-Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes
	-Werror=implicit -Wno-unused-parameter)
if(NOT CMAKE_BUILD_TYPE STREQUAL "Debug" AND NOT P11AGENT_SANITIZE)
	add_compile_definitions(_FORTIFY_SOURCE=3)
endif()
add_compile_definitions(_GNU_SOURCE)
add_compile_options(-fstack-protector-strong)
