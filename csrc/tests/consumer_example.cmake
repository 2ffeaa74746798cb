# ctest `consumer_example`: installs the library built in GRLM_BUILD_DIR into a fresh temporary
# prefix, builds examples/cpp against it with find_package(grlm), runs it on index files saved by
# the Python Grounder and compares its output with the Python Grounder's answers (testdata/,
# written by examples/cpp/make_testdata.py). So the install rules and grlmConfig.cmake are proven
# by a real consumer, in a C++-only build.
#
# cmake -DGRLM_BUILD_DIR=... -DEXAMPLE_DIR=... -DWORK_DIR=... -DGENERATOR=... -DCXX=...
#       -DCXX_FLAGS=... -DLINKER_FLAGS=... -P consumer_example.cmake
foreach(var GRLM_BUILD_DIR EXAMPLE_DIR WORK_DIR GENERATOR CXX)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "consumer_example.cmake: ${var} is not set")
  endif()
endforeach()

function(run step)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT code EQUAL 0)
    message(FATAL_ERROR "consumer_example: ${step} failed (${code}):\n${out}\n${err}")
  endif()
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)
run(install ${CMAKE_COMMAND} --install ${GRLM_BUILD_DIR} --prefix ${prefix})
if(NOT EXISTS ${prefix}/lib/cmake/grlm/grlmConfig.cmake AND
   NOT EXISTS ${prefix}/lib64/cmake/grlm/grlmConfig.cmake)
  message(FATAL_ERROR "consumer_example: the install holds no grlmConfig.cmake")
endif()
# The example sees only the prefix: nothing of the source or build tree.
run(configure ${CMAKE_COMMAND} -S ${EXAMPLE_DIR} -B ${WORK_DIR}/build -G ${GENERATOR}
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_CXX_COMPILER=${CXX}
    "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}" "-DCMAKE_EXE_LINKER_FLAGS=${LINKER_FLAGS}")
run(build ${CMAKE_COMMAND} --build ${WORK_DIR}/build)

find_program(example ground_stdin PATHS ${WORK_DIR}/build NO_DEFAULT_PATH REQUIRED)
foreach(mode positional bag)
  execute_process(COMMAND ${example} ${EXAMPLE_DIR}/testdata/${mode}.grlm 10
                  INPUT_FILE ${EXAMPLE_DIR}/testdata/queries.txt
                  RESULT_VARIABLE code OUTPUT_VARIABLE got ERROR_VARIABLE err)
  if(NOT code EQUAL 0)
    message(FATAL_ERROR "consumer_example: ground_stdin (${mode}) exited ${code}: ${err}")
  endif()
  file(READ ${EXAMPLE_DIR}/testdata/expected_${mode}.jsonl expected)
  if(NOT got STREQUAL expected)
    file(WRITE ${WORK_DIR}/got_${mode}.jsonl "${got}")
    message(FATAL_ERROR "consumer_example: ${mode} output differs from the Python Grounder's; "
            "compare ${WORK_DIR}/got_${mode}.jsonl with "
            "${EXAMPLE_DIR}/testdata/expected_${mode}.jsonl")
  endif()
  string(REGEX MATCHALL "\n" lines "${got}")
  list(LENGTH lines count)
  message(STATUS "consumer_example: ${mode}: ${count} lines equal the Python Grounder's")
endforeach()
