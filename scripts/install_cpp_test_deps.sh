#!/usr/bin/env bash
# Installs the C++ test framework (doctest) when CMake cannot find it: Debian/Ubuntu's
# doctest-dev, through apt-get (as root, or with sudo).
set -euo pipefail
[ -f /usr/include/doctest/doctest.h ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get install -y -q doctest-dev >/dev/null || {
  $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q doctest-dev >/dev/null
}
