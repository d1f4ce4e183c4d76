# cmake -DCMD=program -DARGS="a;b" -DEXPECT_RC=N [-DEXPECT_ERR=text] [-DEXPECT_OUT=text]
#       -P expect_exit.cmake: runs CMD ARGS and fails unless it exits with EXPECT_RC and its stderr
# (stdout) contains EXPECT_ERR (EXPECT_OUT).
execute_process(COMMAND ${CMD} ${ARGS} RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_VARIABLE out)
if(NOT rc EQUAL EXPECT_RC)
  message(FATAL_ERROR "${CMD} ${ARGS}: exit ${rc}, expected ${EXPECT_RC}; stderr: ${err}")
endif()
foreach(stream err out)
  string(TOUPPER "EXPECT_${stream}" key)
  if(DEFINED ${key})
    string(FIND "${${stream}}" "${${key}}" at)
    if(at EQUAL -1)
      message(FATAL_ERROR "${CMD} ${ARGS}: std${stream} lacks '${${key}}': ${${stream}}")
    endif()
  endif()
endforeach()
