/**
 * Which network a container joins, with docker's names: `bridge` (the default, kiln0), `none`
 * (only `lo`), `host` (the engine's own), `container:NAME` (another container's namespace) or
 * the name of a network made with `kiln network create`.
 */
import { KilnError } from '../../errors/kilnError.js';

export type NetworkMode =
  | 'bridge'
  | 'none'
  | 'host'
  /** A user-defined bridge network. */
  | { network: string }
  /** The network namespace of a running container: the host pid of its PID 1. */
  | { container: number };

/** What `--network VALUE` asks for, before a container reference is looked up. */
export type NetworkChoice = { mode: 'bridge' | 'none' | 'host' } | { network: string } | { container: string };

export const DEFAULT_BRIDGE = 'bridge';

/** docker's rule for network names (and kiln's bridge link names derive from an ID, not the name). */
const NETWORK_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export function checkNetworkName(name: string): string {
  if (!NETWORK_NAME.test(name) || name.length > 64) {
    throw new KilnError('USAGE', `invalid network name "${name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed, at most 64 characters`, { exitCode: 125 });
  }
  return name;
}

export function parseNetworkChoice(value: string): NetworkChoice {
  if (value === '' ) throw new KilnError('USAGE', 'invalid network: the name is empty', { exitCode: 125 });
  if (value === 'bridge' || value === 'default') return { mode: 'bridge' };
  if (value === 'none' || value === 'host') return { mode: value };
  if (value.startsWith('container:')) {
    const ref = value.slice('container:'.length);
    if (ref === '') throw new KilnError('USAGE', `invalid network "${value}": container: needs a container name or ID`, { exitCode: 125 });
    return { container: ref };
  }
  return { network: checkNetworkName(value) };
}

/** The files a container's /etc/hosts and resolv.conf are made from depend on this. */
export function modeKind(mode: NetworkMode): 'bridge' | 'none' | 'host' | 'network' | 'container' {
  if (typeof mode === 'string') return mode;
  return 'network' in mode ? 'network' : 'container';
}
