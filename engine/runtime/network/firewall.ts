/**
 * kiln's NAT and filter rules: one nftables table, `ip kiln`, that kiln alone writes, so no rule
 * another program added (docker's, podman's, the admin's) is ever touched, and `kiln system
 * reset` removes all of kiln's by deleting the table. The rules never change after the table is
 * made; networks and published ports are elements of its sets and maps:
 *
 * - outbound: what leaves a kiln subnet through a link that is not a kiln bridge is masqueraded;
 * - published ports: traffic to a local address (from outside, or from the host itself) is
 *   DNATed by port (and address, for `-p IP:PORT:PORT`) to the container; when it came from
 *   127.0.0.1 (route_localnet is on for kiln's bridges) or from a container through the host
 *   (hairpin), its source is masqueraded so the reply comes back the same way;
 * - isolation: forwarding between two different kiln bridges is dropped unless it is a
 *   published port; packets to 127.0.0.0/8 arriving on a kiln bridge are dropped before routing.
 *
 * The table is checked with one netlink query per container start and rebuilt from the host
 * state when missing (a reboot clears both; `nft flush ruleset` only the table).
 */
import { KilnError } from '../../errors/kilnError.js';
import { nativeBinding } from '../../../native/index.js';
import { nodeChildProcess } from '../../lateLoading.js';

export const TABLE = 'kiln';
const NFPROTO_IPV4 = 2;

export interface FirewallNetwork { bridge: string; subnet: string }

export interface PortRule {
  proto: 'tcp' | 'udp';
  /** '' or 0.0.0.0: every local address. */
  hostIp: string;
  hostPort: number;
  containerIp: string;
  containerPort: number;
}

const quote = (name: string): string => JSON.stringify(name);

function networkElements(n: FirewallNetwork): string[] {
  return [
    `element ip ${TABLE} bridges { ${quote(n.bridge)} }`,
    `element ip ${TABLE} subnets { ${n.subnet} }`,
    `element ip ${TABLE} own_bridge { ${quote(n.bridge)} . ${quote(n.bridge)} }`,
  ];
}

const anyAddress = (ip: string): boolean => ip === '' || ip === '0.0.0.0';

function portKey(p: PortRule): { map: string; key: string } {
  return anyAddress(p.hostIp) ? { map: `${p.proto}_any`, key: `${p.hostPort}` } : { map: `${p.proto}_addr`, key: `${p.hostIp} . ${p.hostPort}` };
}

function portElement(p: PortRule): string {
  const { map, key } = portKey(p);
  return `element ip ${TABLE} ${map} { ${key} : ${p.containerIp} . ${p.containerPort} }`;
}

function portElementKey(p: PortRule): string {
  const { map, key } = portKey(p);
  return `element ip ${TABLE} ${map} { ${key} }`;
}

/** The whole table, for an nft script (the table is deleted first when `replace`). */
export function tableScript(networks: readonly FirewallNetwork[], ports: readonly PortRule[], replace: boolean): string {
  const maps = ['tcp', 'udp'].flatMap((p) => [
    `  map ${p}_any { type inet_service : ipv4_addr . inet_service; }`,
    `  map ${p}_addr { type ipv4_addr . inet_service : ipv4_addr . inet_service; }`,
  ]);
  const lines = [
    ...(replace ? [`add table ip ${TABLE}`, `delete table ip ${TABLE}`] : []),
    `table ip ${TABLE} {`,
    '  set bridges { type ifname; }',
    '  set subnets { type ipv4_addr; flags interval; }',
    '  set own_bridge { type ifname . ifname; }',
    ...maps,
    '  chain raw_prerouting {',
    '    type filter hook prerouting priority raw; policy accept;',
    '    iifname @bridges ip daddr 127.0.0.0/8 drop',
    '  }',
    '  chain prerouting {',
    '    type nat hook prerouting priority dstnat; policy accept;',
    '    fib daddr type local jump ports',
    '  }',
    '  chain output {',
    '    type nat hook output priority -100; policy accept;',
    '    fib daddr type local jump ports',
    '  }',
    '  chain ports {',
    ...['tcp', 'udp'].flatMap((p) => [
      `    dnat ip to ip daddr . ${p} dport map @${p}_addr`,
      `    dnat ip to ${p} dport map @${p}_any`,
    ]),
    '  }',
    '  chain forward {',
    '    type filter hook forward priority filter; policy accept;',
    '    iifname . oifname @own_bridge accept',
    '    iifname @bridges oifname @bridges ct status dnat accept',
    '    iifname @bridges oifname @bridges drop',
    '  }',
    '  chain postrouting {',
    '    type nat hook postrouting priority srcnat; policy accept;',
    '    ip saddr @subnets oifname != @bridges masquerade',
    '    oifname @bridges ip saddr 127.0.0.0/8 masquerade',
    '    oifname @bridges ct status dnat ip saddr @subnets masquerade',
    '  }',
    '}',
    ...networks.flatMap((n) => networkElements(n).map((e) => `add ${e}`)),
    ...ports.map((p) => `add ${portElement(p)}`),
  ];
  return lines.join('\n') + '\n';
}

async function nft(script: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = nodeChildProcess().spawn('nft', ['-f', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString('utf8'); });
    child.on('error', (err: NodeJS.ErrnoException) => {
      reject(err.code === 'ENOENT'
        ? new KilnError('NETWORK_FIREWALL', "kiln's bridge networks need nftables (the nft program, Debian package nftables): install it, or use --network host or --network none")
        : err);
    });
    child.on('close', (code) => {
      if (code === 0) resolve();
      else reject(new KilnError('NETWORK_FIREWALL', `nft refused kiln's rules: ${stderr.trim().split('\n')[0] ?? `exit ${code}`}`));
    });
    child.stdin.on('error', () => undefined); // an nft that died early reports through close
    child.stdin.end(script);
  });
}

export function tableExists(): boolean {
  return nativeBinding().nftTableExists(NFPROTO_IPV4, TABLE);
}

/** Makes the table from the whole host state (it was missing, or is replaced). */
export async function rebuildTable(networks: readonly FirewallNetwork[], ports: readonly PortRule[]): Promise<void> {
  await nft(tableScript(networks, ports, tableExists()));
}

export async function addNetwork(n: FirewallNetwork): Promise<void> {
  await nft(networkElements(n).map((e) => `add ${e}`).join('\n') + '\n');
}

export async function removeNetwork(n: FirewallNetwork): Promise<void> {
  await deleteEach(networkElements(n));
}

export async function addPorts(ports: readonly PortRule[]): Promise<void> {
  if (ports.length === 0) return;
  await nft(ports.map((p) => `add ${portElement(p)}`).join('\n') + '\n');
}

export async function removePorts(ports: readonly PortRule[]): Promise<void> {
  await deleteEach(ports.map(portElementKey));
}

/** Deletes elements in one transaction; when one is already gone (nft refuses it all), one by one. */
async function deleteEach(elements: readonly string[]): Promise<void> {
  if (elements.length === 0 || !tableExists()) return;
  try {
    await nft(elements.map((e) => `delete ${e}`).join('\n') + '\n');
  } catch {
    for (const e of elements) await nft(`delete ${e}\n`).catch(() => undefined);
  }
}

export async function deleteTable(): Promise<void> {
  if (tableExists()) await nft(`delete table ip ${TABLE}\n`);
}
