// The addon's directory lister (directory.cc): a directory's entries and their lstat in one call.
#pragma once

#include <napi.h>

namespace kiln {

void RegisterDirectoryFunctions(Napi::Env env, Napi::Object exports);

}  // namespace kiln
