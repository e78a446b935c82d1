// A ChildSpec as bytes, for the starter (starter.cc): the addon writes the spec of a container's
// start into a memory file, the starter executable reads it back after its exec. Both sides are
// built from the same sources at the same time, so the bytes are this build's own layout, not a
// format anything else reads.
#pragma once

#include <string>

#include "childSpec.h"

namespace kiln {

std::string encodeChildSpec(const ChildSpec& spec);

// False when the bytes are not a whole spec of this build.
bool decodeChildSpec(const char* data, size_t length, ChildSpec& out);

// Points argv, envp and initArgv at their stores (NULL-terminated), as execve takes them.
void linkChildSpecArgv(ChildSpec& spec);

}  // namespace kiln
