// Saving and loading a grounding index (catalog, priors, mode, weights) as one binary file.
#pragma once

#include <string>
#include <string_view>

#include "grlm/grounder.h"

namespace grlm {

// File layout: "GRLMIDX\0", uint32 format version, uint64 payload size, payload, uint64 FNV-1a
// checksum of the payload; little-endian. The derived indexes are rebuilt on load.
//
// Saving writes a new temporary file next to path (a unique name, created with O_EXCL and
// O_NOFOLLOW), flushes it and renames it over path, so an existing file is never half-overwritten
// and a planted symlink is never followed; on failure the temporary file is removed and Error is
// thrown. A path holding a NUL character is refused (InvalidArgument), never cut short.
void SaveIndex(const Grounder& grounder, const std::string& path);
// Throws IndexFileError, naming the file and the field, on anything but a valid index file:
// missing, not a regular file (refused before it is opened: a FIFO never blocks), truncated,
// corrupted, unknown version, or values the core refuses; ResourceError when memory runs out. No
// other exception leaves it. The header (magic, version, payload size against the file's size)
// is checked before the rest is read, and every count is checked against the bytes that remain
// before anything is allocated for it, so loading takes at most the file's size plus the index
// it describes.
Grounder LoadIndex(const std::string& path);
// LoadIndex for the bytes of a file already in memory; name stands for the file in messages.
Grounder ParseIndexBytes(std::string_view bytes, const std::string& name);

}  // namespace grlm
