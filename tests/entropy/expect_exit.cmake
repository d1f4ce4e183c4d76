# cmake -DCMD=program -DARGS="a;b" -DEXPECT_RC=N -DEXPECT_ERR=text -P expect_exit.cmake:
# runs CMD ARGS and fails unless it exits with EXPECT_RC and its stderr contains EXPECT_ERR.
execute_process(COMMAND ${CMD} ${ARGS} RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_QUIET)
if(NOT rc EQUAL EXPECT_RC)
  message(FATAL_ERROR "${CMD} ${ARGS}: exit ${rc}, expected ${EXPECT_RC}; stderr: ${err}")
endif()
string(FIND "${err}" "${EXPECT_ERR}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "${CMD} ${ARGS}: stderr lacks '${EXPECT_ERR}': ${err}")
endif()
