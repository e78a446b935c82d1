/**
 * Which device nodes a container may open: an allow-list, everything else refused. docker's
 * defaults (moby daemon/pkg/oci/defaults.go plus the nodes runc always allows; measured here:
 * `b *:* m`, `c *:* m`, `c 1:3 1:5 1:7 1:8 1:9 5:0 5:1 5:2 10:200 136:*` rwm): making any node is
 * allowed (`m`), so mknod works as under docker, but only the listed ones open. `--device` adds
 * one rule per node. The rules are enforced by the cgroup: the v1 `devices` controller's files,
 * or on v2 an eBPF program (deviceProgram.ts) — both made from this one list.
 */

export type DeviceType = 'c' | 'b';

export interface DeviceRule {
  /** 'a': every device. */
  type: DeviceType | 'a';
  major: number | '*';
  minor: number | '*';
  /** A subset of "rwm": read, write, mknod. */
  access: string;
}

const CHAR_DEVICES: [number, number | '*'][] = [
  [1, 3], [1, 5], [1, 7], [1, 8], [1, 9], // null zero full random urandom
  [5, 0], [5, 1], [5, 2], // tty console ptmx
  [10, 200], // net/tun
  [136, '*'], // the pts a terminal in the container opens
];

/** docker's default allow-list (default: deny). */
export const DEFAULT_DEVICE_RULES: readonly DeviceRule[] = [
  { type: 'c', major: '*', minor: '*', access: 'm' },
  { type: 'b', major: '*', minor: '*', access: 'm' },
  ...CHAR_DEVICES.map(([major, minor]): DeviceRule => ({ type: 'c', major, minor, access: 'rwm' })),
];

/**
 * A build step's allow-list: docker's without the host console (5:1), as BuildKit's runc gives
 * RUN steps (measured: `docker build` of a step reading its devices.list). A RUN step has no
 * terminal, so nothing in it has a reason to open the host's console.
 */
export const BUILD_DEVICE_RULES: readonly DeviceRule[] = DEFAULT_DEVICE_RULES.filter((r) => !(r.type === 'c' && r.major === 5 && r.minor === 1));

/** Every device, every access: what `RUN --security=insecure` gets, as under BuildKit. */
export const ALL_DEVICES: readonly DeviceRule[] = [{ type: 'a', major: '*', minor: '*', access: 'rwm' }];

/** A rule as the v1 devices.allow file takes it: `c 1:3 rwm`, `a *:* rwm`. */
export function v1RuleLine(rule: DeviceRule): string {
  return `${rule.type} ${rule.major}:${rule.minor} ${rule.access}`;
}

/** Normalises and checks an access string (a non-empty subset of "rwm"). */
export function normaliseAccess(access: string): string | undefined {
  if (access === '' || /[^rwm]/.test(access)) return undefined;
  return ['r', 'w', 'm'].filter((c) => access.includes(c)).join('');
}
