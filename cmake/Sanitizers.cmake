# SPDX-License-Identifier: ISC
# P11AGENT_SANITIZE="address;undefined" builds everything with those
# sanitizers; tests then run under them.
if(P11AGENT_SANITIZE)
	set(_san "")
	foreach(s IN LISTS P11AGENT_SANITIZE)
		list(APPEND _san "-fsanitize=${s}")
	endforeach()
	string(REPLACE ";" "," _sanlist "${P11AGENT_SANITIZE}")
	add_compile_options(-fsanitize=${_sanlist} -fno-omit-frame-pointer
		-fno-sanitize-recover=all)
	add_link_options(-fsanitize=${_sanlist})
endif()
