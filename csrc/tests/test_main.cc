// The one main() of every ctest binary: doctest's runner (run one test with -tc="<name>").
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
