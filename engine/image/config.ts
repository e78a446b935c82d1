/**
 * The image config: the OCI image config plus the docker extensions docker and BuildKit write.
 * The image ID is the sha256 of the config bytes exactly as stored, so the bytes are produced in
 * one canonical form (fixed key order, maps sorted, compact JSON, as Go's encoder writes them) and
 * never re-serialised once written.
 */
import { nodeCrypto } from '../host/nodeCrypto.js';

export interface Healthcheck {
  /** [] inherit, ["NONE"], ["CMD", arg…] or ["CMD-SHELL", command]. */
  Test?: string[];
  /** Durations in integer nanoseconds; 0 or absent means inherit. */
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}

/** The `config` object of an image config (Go field names, PascalCase). */
export interface ContainerConfig {
  Hostname?: string;
  Domainname?: string;
  User?: string;
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  ExposedPorts?: Record<string, Record<string, never>>;
  Tty?: boolean;
  OpenStdin?: boolean;
  StdinOnce?: boolean;
  Env?: string[];
  Cmd?: string[] | null;
  Healthcheck?: Healthcheck;
  ArgsEscaped?: boolean;
  Image?: string;
  Volumes?: Record<string, Record<string, never>>;
  WorkingDir?: string;
  Entrypoint?: string[] | null;
  NetworkDisabled?: boolean;
  MacAddress?: string;
  OnBuild?: string[] | null;
  Labels?: Record<string, string>;
  StopSignal?: string;
  StopTimeout?: number;
  Shell?: string[];
}

export interface HistoryEntry {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

export interface RootFS {
  type: 'layers';
  /** "sha256:<hex>" of each uncompressed layer tar, bottom-most first. */
  diff_ids: string[];
}

export interface ImageConfig {
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
  config?: ContainerConfig;
  rootfs: RootFS;
  history?: HistoryEntry[];
  /** Fields kiln does not know are kept as they came (readers must ignore, not drop, them). */
  [extra: string]: unknown;
}

const TOP_ORDER = ['architecture', 'author', 'config', 'container', 'container_config', 'created', 'docker_version', 'history', 'os', 'os.features', 'os.version', 'rootfs', 'variant'];
const CONFIG_ORDER = ['Hostname', 'Domainname', 'User', 'AttachStdin', 'AttachStdout', 'AttachStderr', 'ExposedPorts', 'Tty', 'OpenStdin', 'StdinOnce', 'Env', 'Cmd', 'Healthcheck', 'ArgsEscaped', 'Image', 'Volumes', 'WorkingDir', 'Entrypoint', 'NetworkDisabled', 'MacAddress', 'OnBuild', 'Labels', 'StopSignal', 'StopTimeout', 'Shell'];
const HEALTH_ORDER = ['Test', 'Interval', 'Timeout', 'StartPeriod', 'StartInterval', 'Retries'];
const HISTORY_ORDER = ['created', 'created_by', 'author', 'comment', 'empty_layer'];
const MAP_KEYS = new Set(['ExposedPorts', 'Volumes', 'Labels']);

function ordered(obj: Record<string, unknown>, order: readonly string[], child: (key: string, v: unknown) => unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const known = order.filter((k) => obj[k] !== undefined);
  const rest = Object.keys(obj).filter((k) => !order.includes(k) && obj[k] !== undefined).sort();
  for (const k of [...known, ...rest]) out[k] = child(k, obj[k]);
  return out;
}

function sortedMap(v: unknown): unknown {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
  const m = v as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(m).sort()) out[k] = m[k];
  return out;
}

function canonicalContainerConfig(c: unknown): unknown {
  if (c === null || typeof c !== 'object') return c;
  return ordered(c as Record<string, unknown>, CONFIG_ORDER, (k, v) => {
    if (MAP_KEYS.has(k)) return sortedMap(v);
    if (k === 'Healthcheck' && v && typeof v === 'object') return ordered(v as Record<string, unknown>, HEALTH_ORDER, (_k, x) => x);
    return v;
  });
}

/**
 * The canonical bytes of a config: keys in Go struct order (unknown keys after, sorted), maps
 * sorted by key, no whitespace. Two configs with equal content give equal bytes whatever order
 * their objects were built in.
 */
export function serializeConfig(config: ImageConfig): Buffer {
  const canonical = ordered(config as Record<string, unknown>, TOP_ORDER, (k, v) => {
    if (k === 'config' || k === 'container_config') return canonicalContainerConfig(v);
    if (k === 'history' && Array.isArray(v)) return v.map((h) => ordered(h as Record<string, unknown>, HISTORY_ORDER, (_k, x) => x));
    if (k === 'rootfs' && v && typeof v === 'object') return ordered(v as Record<string, unknown>, ['type', 'diff_ids'], (_k, x) => x);
    return v;
  });
  return Buffer.from(JSON.stringify(canonical), 'utf8');
}

export function sha256Digest(bytes: Buffer | string): string {
  return `sha256:${nodeCrypto().createHash('sha256').update(bytes).digest('hex')}`;
}

/** The image ID of config bytes as written: `sha256:<hex>`. */
export function imageIdOf(configBytes: Buffer): string {
  return sha256Digest(configBytes);
}

/** ChainID of a layer stack (image-spec config.md): used to name a stack of snapshots. */
export function chainId(diffIds: readonly string[]): string {
  let chain = '';
  for (const d of diffIds) chain = chain === '' ? d : sha256Digest(`${chain} ${d}`);
  return chain;
}

/** A minimal valid config for this machine's platform, no layers: the start of `FROM scratch`. */
export function emptyConfig(platform: { os?: string; architecture?: string; variant?: string } = {}): ImageConfig {
  const cfg: ImageConfig = {
    architecture: platform.architecture ?? goArch(process.arch),
    os: platform.os ?? 'linux',
    config: {},
    rootfs: { type: 'layers', diff_ids: [] },
    history: [],
  };
  if (platform.variant !== undefined) cfg.variant = platform.variant;
  return cfg;
}

/** Node's process.arch in GOARCH spelling (what image configs use). */
export function goArch(nodeArch: string): string {
  switch (nodeArch) {
    case 'x64': return 'amd64';
    case 'ia32': return '386';
    case 'ppc64': return 'ppc64le';
    default: return nodeArch; // arm64, arm, s390x, riscv64, mips… are spelled the same
  }
}

/**
 * Checks what docker load would check of a config it is handed: the `rootfs` key with type
 * `layers`, string diff_ids, and no more non-empty history entries than layers. Returns a
 * message describing the problem, or undefined when the config is acceptable.
 */
export function configProblem(value: unknown): string | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'config is not a JSON object';
  const c = value as Record<string, unknown>;
  const rootfs = c.rootfs as Record<string, unknown> | undefined;
  if (!rootfs || typeof rootfs !== 'object') return 'config has no rootfs';
  if (rootfs.type !== 'layers') return `rootfs type is ${JSON.stringify(rootfs.type)}, not "layers"`;
  const ids = rootfs.diff_ids ?? [];
  if (!Array.isArray(ids) || ids.some((d) => typeof d !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(d))) return 'rootfs.diff_ids must be sha256 digests';
  if (c.os !== undefined && typeof c.os !== 'string') return 'os must be a string';
  if (c.history !== undefined) {
    if (!Array.isArray(c.history)) return 'history must be an array';
    const layered = c.history.filter((h) => !(h && typeof h === 'object' && (h as HistoryEntry).empty_layer === true)).length;
    if (layered > ids.length) return `history has ${layered} layer entries but rootfs has ${ids.length} layers`;
  }
  return undefined;
}
