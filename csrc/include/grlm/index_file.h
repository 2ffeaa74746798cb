// Saving and loading a grounding index (catalog, priors, mode, weights) as one binary file.
#pragma once

#include <string>

#include "grlm/grounder.h"

namespace grlm {

// File layout: "GRLMIDX\0", uint32 format version, uint64 payload size, payload, uint64 FNV-1a
// checksum of the payload; little-endian. The derived indexes are rebuilt on load. Saving writes
// a temporary file next to path and renames it, so an existing file is never half-overwritten.
void SaveIndex(const Grounder& grounder, const std::string& path);
// Throws IndexFileError on a missing, truncated, corrupted or unknown-version file.
Grounder LoadIndex(const std::string& path);

}  // namespace grlm
