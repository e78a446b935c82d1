/**
 * The network namespaces one build's RUN steps take turns in. A step on the default bridge
 * used to get a namespace of its own, a veth pair, an address and its record, all made before
 * it started and undone after; a chain of RUN steps paid that every step (a fifth of a small
 * step's cost). BuildKit keeps a pool of network namespaces for the same reason
 * (cniprovider's pool): here a namespace that served one step serves the next that finds it
 * idle, its interface, address and record kept until the build ends (`close`).
 *
 * What a step could leave in a namespace for the next is nothing it can change: a RUN step has
 * no CAP_NET_ADMIN (docker's default capabilities), /proc/sys is read-only in it, and its
 * sockets die with its processes. A step granted every capability (`--security=insecure`) is
 * never given a pooled namespace, nor one that then goes back to the pool. Only root's builds
 * pool: a rootless one's network is slirp4netns, started for each step.
 *
 * A build killed outright closes its descriptors with it (the kernel then removes the
 * namespaces and their links); the next kiln sweeps the endpoint records it left.
 */
import { closeSync, openSync } from 'node:fs';
import { privilege } from '../../host/privilege.js';
import { prepareNetwork } from './containerNetwork.js';
import { etcPaths, nothingToDo, writeEtcFiles, type NetworkContext, type PreparedNetwork } from './networkRequest.js';

interface PooledNamespace {
  /** An open /proc/PID/ns/net of the step that made it: what keeps the namespace alive. */
  readonly fd: number;
  /** The bridge endpoint (address, record, veth), released when the namespace leaves the pool. */
  readonly network: PreparedNetwork;
  readonly address: string;
  readonly gateway: string;
}

export class NetworkNamespacePool {
  private readonly idle: PooledNamespace[] = [];
  private closed = false;

  /** Whether a container of this kind takes its network from the pool. */
  static serves(mode: unknown, privileged: boolean): boolean {
    return mode === 'bridge' && !privileged && privilege() === 'host-root';
  }

  /**
   * A network for one step on the default bridge: an idle namespace of the pool, or a new one
   * that joins the pool when the step's command ran (its interface is configured then).
   */
  async take(ctx: NetworkContext): Promise<PreparedNetwork> {
    const reused = this.closed ? undefined : this.idle.pop();
    if (reused) return this.lend(reused, ctx);
    return this.fresh(ctx);
  }

  /** Releases every idle namespace; those still lent are released when given back. */
  async close(): Promise<void> {
    this.closed = true;
    const all = this.idle.splice(0);
    for (const ns of all) await retire(ns);
  }

  private lend(ns: PooledNamespace, ctx: NetworkContext): PreparedNetwork {
    const etc = etcPaths(ctx.etcDir);
    try {
      writeEtcFiles(etc, 'own', { mode: 'bridge' }, ctx, { address: ns.address, gateway: ns.gateway });
    } catch (e) {
      this.idle.push(ns);
      throw e;
    }
    let given = false;
    return {
      // Joined, not made: the sysctls a namespace of its own gets were written by its first step.
      newNamespace: false,
      native: { joinNetnsFd: ns.fd },
      etc,
      address: ns.address,
      ports: [],
      attach: nothingToDo,
      release: async (outcome) => {
        if (given) return;
        given = true;
        await this.giveBack(ns, outcome?.commandRan ?? false);
      },
    };
  }

  private async fresh(ctx: NetworkContext): Promise<PreparedNetwork> {
    const network = await prepareNetwork('bridge', ctx);
    const gateway = network.native?.interface?.gateway;
    let fd = -1;
    let given = false;
    return {
      ...network,
      attach: async (pid) => {
        await network.attach(pid);
        // The child is gated and alive: its pid names it, and its namespace is the one attached.
        fd = openSync(`/proc/${pid}/ns/net`, 'r');
      },
      release: async (outcome) => {
        if (given) return;
        given = true;
        if (fd >= 0 && network.address !== undefined && gateway !== undefined) {
          await this.giveBack({ fd, network, address: network.address, gateway }, outcome?.commandRan ?? false);
        } else {
          if (fd >= 0) closeSync(fd);
          await network.release();
        }
      },
    };
  }

  /**
   * Back to the pool after a step whose command ran (its interface configured, its processes
   * gone); otherwise, or once the build has ended, the namespace and its endpoint go.
   */
  private async giveBack(ns: PooledNamespace, commandRan: boolean): Promise<void> {
    if (commandRan && !this.closed) this.idle.push(ns);
    else await retire(ns);
  }
}

async function retire(ns: PooledNamespace): Promise<void> {
  closeSync(ns.fd);
  await ns.network.release();
}
