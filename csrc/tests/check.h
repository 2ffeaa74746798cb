// A minimal unit-test harness for the core's ctest suite: TEST(name) { ... } with CHECK, CHECK_EQ
// and CHECK_THROWS; each test binary runs its tests and exits non-zero on any failure.
#pragma once

#include <functional>
#include <iostream>
#include <string>
#include <vector>

namespace grlm_test {

struct Registry {
  static std::vector<std::pair<std::string, std::function<void()>>>& Tests() {
    static std::vector<std::pair<std::string, std::function<void()>>> tests;
    return tests;
  }
  static int& Failures() {
    static int failures = 0;
    return failures;
  }
};

struct Register {
  Register(const char* name, std::function<void()> fn) { Registry::Tests().emplace_back(name, std::move(fn)); }
};

inline void Fail(const char* file, int line, const std::string& what) {
  ++Registry::Failures();
  std::cerr << file << ":" << line << ": FAILED: " << what << "\n";
}

}  // namespace grlm_test

#define TEST(name)                                                     \
  static void name();                                                  \
  static ::grlm_test::Register register_##name(#name, name);           \
  static void name()

#define CHECK(cond) \
  do { if (!(cond)) ::grlm_test::Fail(__FILE__, __LINE__, #cond); } while (0)

#define CHECK_EQ(a, b)                                                                   \
  do {                                                                                   \
    if (!((a) == (b))) ::grlm_test::Fail(__FILE__, __LINE__, #a " == " #b);              \
  } while (0)

#define CHECK_THROWS(expr, E)                                                            \
  do {                                                                                   \
    bool thrown_ = false;                                                                \
    try { expr; } catch (const E&) { thrown_ = true; }                                   \
    if (!thrown_) ::grlm_test::Fail(__FILE__, __LINE__, #expr " did not throw " #E);     \
  } while (0)

int main() {
  for (auto& [name, fn] : ::grlm_test::Registry::Tests()) {
    const int before = ::grlm_test::Registry::Failures();
    try {
      fn();
    } catch (const std::exception& e) {
      ::grlm_test::Fail(__FILE__, __LINE__, name + " threw: " + e.what());
    }
    std::cout << (::grlm_test::Registry::Failures() == before ? "[ ok ] " : "[FAIL] ") << name << "\n";
  }
  return ::grlm_test::Registry::Failures() == 0 ? 0 : 1;
}
