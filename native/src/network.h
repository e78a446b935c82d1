// The addon's network functions (network.cc): the host's side of a container network (bridge,
// veth pair, link removal, an nftables table check, host port reservations, a host-wide lock),
// and the reader of a spawn spec's `network` part for the child.
#pragma once

#include <napi.h>

#include "netSpec.h"

namespace kiln {

void RegisterNetworkFunctions(Napi::Env env, Napi::Object exports);

// Fills `out` from spec.network (absent: nothing to do). False with a JS exception pending on bad input.
bool ReadNetworkSpec(Napi::Env env, const Napi::Object& spec, NetworkSpec& out);

}  // namespace kiln
