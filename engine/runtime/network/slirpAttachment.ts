/**
 * A rootless container's network: a namespace of its own served by slirp4netns (slirp.ts). The
 * host ports are checked (and free ones picked for -P) by binding them here, then handed to
 * slirp4netns, which listens on them. Without slirp4netns the container shares kiln's network,
 * as rootless BuildKit's default does, and kiln says so once.
 */
import { join } from 'node:path';
import { OWN_NAMESPACE_SYSCTLS, writeEtcFiles, type EtcPaths, type NetworkContext, type NetworkRequest, type PreparedNetwork } from './networkRequest.js';
import { reservePorts } from './ports.js';
import { SLIRP_ADDRESS, SLIRP_DNS, SLIRP_GATEWAY, slirpProgram, startSlirp, type Slirp } from './slirp.js';
import { writeStderr } from '../../host/standardStreams.js';

let toldNoSlirp = false;

/** undefined: no slirp4netns here (the caller falls back to the host's network). */
export function attachThroughSlirp(req: NetworkRequest, ctx: NetworkContext, etc: EtcPaths): PreparedNetwork | undefined {
  const program = slirpProgram();
  if (!program) {
    if (!toldNoSlirp) writeStderr("kiln: slirp4netns is not installed (Debian package slirp4netns): rootless containers share the host's network\n");
    toldNoSlirp = true;
    return undefined;
  }
  const reservations = reservePorts(req.ports ?? []);
  reservations.close();
  const ports = reservations.bindings;
  writeEtcFiles(etc, 'own', req, ctx, { address: SLIRP_ADDRESS, gateway: SLIRP_GATEWAY, resolver: SLIRP_DNS });
  let slirp: Slirp | undefined;
  return {
    newNamespace: true,
    native: { sysctls: OWN_NAMESPACE_SYSCTLS },
    etc,
    address: SLIRP_ADDRESS,
    ports,
    attach: async (pid) => { slirp = await startSlirp(program, pid, join(ctx.etcDir, 'slirp.sock'), ports); },
    release: async () => {
      const running = slirp;
      slirp = undefined;
      await running?.close();
    },
  };
}
