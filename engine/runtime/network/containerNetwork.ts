/**
 * A container's network as one unit, for whoever holds the container (the foreground `kiln run`,
 * a RUN step, a detached container's supervisor): `prepareNetwork` before the child is started
 * (addresses, published ports, the /etc files), `attach(pid)` while the child waits at its gate
 * (the veth pair into its namespace, the port rules, slirp4netns), `release()` when it has ended.
 * The holder becomes the owner of what is allocated; if it is killed, the next kiln sweeps it.
 */
import { KilnError } from '../../errors/kilnError.js';
import { privilege } from '../../host/privilege.js';
import { attachToBridge } from './bridgeAttachment.js';
import { joinContainer } from './containerJoin.js';
import { DEFAULT_BRIDGE, type NetworkMode } from './networkMode.js';
import { etcPaths, nothingToDo, OWN_NAMESPACE_SYSCTLS, writeEtcFiles, type NetworkContext, type NetworkRequest, type PreparedNetwork } from './networkRequest.js';
import { attachThroughSlirp } from './slirpAttachment.js';

export type { EtcPaths, NetworkContext, NetworkRequest, PreparedNetwork } from './networkRequest.js';

export async function prepareNetwork(request: NetworkRequest | NetworkMode, ctx: NetworkContext): Promise<PreparedNetwork> {
  const req: NetworkRequest = typeof request === 'object' && 'mode' in request ? request : { mode: request };
  const etc = etcPaths(ctx.etcDir);
  const mode = req.mode;
  if (mode === 'host' || mode === 'none') {
    writeEtcFiles(etc, mode, req, ctx, { gateway: '127.0.0.1' });
    return {
      newNamespace: mode === 'none', etc, ports: [], attach: nothingToDo, release: nothingToDo,
      ...(mode === 'none' ? { native: { sysctls: OWN_NAMESPACE_SYSCTLS } } : {}),
    };
  }
  if (typeof mode === 'object' && 'container' in mode) return joinContainer(mode.container, etc);
  if (privilege() !== 'host-root') {
    if (mode !== 'bridge') throw new KilnError('ROOTLESS_NETWORK', `network ${mode.network}: user-defined networks need root (rootless containers get slirp4netns)`, { exitCode: 125 });
    return attachThroughSlirp(req, ctx, etc) ?? prepareNetwork({ ...req, mode: 'host' }, ctx);
  }
  return attachToBridge(mode === 'bridge' ? DEFAULT_BRIDGE : mode.network, req, ctx, etc);
}
