# Checksum helpers sourced by the GPU run scripts (gpu_ctg.sh, gpu_quality.sh); the caller
# defines fail().

# The recorded sha256 of NAME (total, part1 or part2) from a gguf.sha256 file.
recorded_sha() { awk -v name="$2" '$2 == name {print $1}' "$1"; }

check_sha() {  # FILE EXPECTED
  local actual
  actual=$(sha256sum "$1" | cut -d' ' -f1)
  [ -n "$2" ] && [ "$actual" = "$2" ] || fail "$1: sha256 $actual, expected ${2:-(none recorded)}"
}
