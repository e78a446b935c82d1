/**
 * The few file operations Node has no API for: device nodes and FIFOs (mknod), and extended
 * attributes (setfattr/getfattr from the attr package). Each runs once per batch, not per file.
 */
import { writeFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { KilnError } from '../errors/kilnError.js';
import { nodeChildProcess } from '../lateLoading.js';
import { randomHex } from './randomHex.js';

export interface SpecialNode {
  path: string;
  kind: 'c' | 'b' | 'p';
  major: number;
  minor: number;
}

function run(cmd: string, args: string[], what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    nodeChildProcess().execFile(cmd, args, { maxBuffer: 1 << 30, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      const e = err as NodeJS.ErrnoException;
      if (e.code === 'ENOENT') return reject(new KilnError('TOOL_MISSING', `${what} needs the ${cmd} program (Debian package ${cmd === 'mknod' ? 'coreutils' : 'attr'})`));
      reject(new KilnError('SPECIAL_FILE', `${what}: ${cmd} failed: ${stderr.trim() || e.message}`));
    });
  });
}

const MKNOD_LOOP = 'while [ $# -gt 0 ]; do if [ "$2" = p ]; then mknod -- "$1" p; else mknod -- "$1" "$2" "$3" "$4"; fi || exit 1; shift 4; done';

/** Creates device nodes and FIFOs in one child process. */
export async function makeNodes(nodes: readonly SpecialNode[]): Promise<void> {
  for (let i = 0; i < nodes.length; i += 2000) {
    const batch = nodes.slice(i, i + 2000);
    const args = batch.flatMap((n) => [n.path, n.kind, String(n.major), String(n.minor)]);
    await run('sh', ['-c', MKNOD_LOOP, 'sh', ...args], 'creating device nodes');
  }
}

export interface XattrSet {
  path: string;
  name: string;
  value: Buffer;
}

function escapePath(p: string): string {
  // getfattr/setfattr dump format escapes control chars, backslash and non-ASCII bytes as \ooo.
  let out = '';
  for (const byte of Buffer.from(p, 'utf8')) {
    if (byte < 0x21 || byte > 0x7e || byte === 0x5c || byte === 0x3d) out += `\\${byte.toString(8).padStart(3, '0')}`;
    else out += String.fromCharCode(byte);
  }
  return out;
}

function unescapePath(p: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '\\' && /^[0-7]{3}$/.test(p.slice(i + 1, i + 4))) {
      bytes.push(Number.parseInt(p.slice(i + 1, i + 4), 8));
      i += 3;
    } else {
      bytes.push(...Buffer.from(p[i] as string, 'utf8'));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** Sets extended attributes on many files with one setfattr --restore. Symlinks are not followed. */
export async function setXattrs(items: readonly XattrSet[]): Promise<void> {
  if (items.length === 0) return;
  const byPath = new Map<string, XattrSet[]>();
  for (const it of items) byPath.set(it.path, [...(byPath.get(it.path) ?? []), it]);
  let dump = '';
  for (const [path, list] of byPath) {
    dump += `# file: ${escapePath(path)}\n`;
    for (const x of list) dump += `${x.name}=0x${x.value.toString('hex')}\n`;
    dump += '\n';
  }
  const file = join(tmpdir(), `kiln-xattrs-${process.pid}-${randomHex(6)}`);
  await writeFile(file, dump, { mode: 0o600 });
  try {
    await run('setfattr', ['-h', `--restore=${file}`], 'setting extended attributes');
  } finally {
    await unlink(file).catch(() => undefined);
  }
}

/**
 * Reads the extended attributes matching `pattern` (a getfattr -m regex) of every file under
 * `dir`, symlinks not followed. Returns absolute path → (name → value).
 */
export async function readXattrsTree(dir: string, pattern: string): Promise<Map<string, Map<string, Buffer>>> {
  const out = await run('getfattr', ['-R', '-h', '-d', '-m', pattern, '-e', 'hex', '--absolute-names', dir], 'reading extended attributes');
  const result = new Map<string, Map<string, Buffer>>();
  let current: Map<string, Buffer> | undefined;
  for (const line of out.split('\n')) {
    if (line.startsWith('# file: ')) {
      current = new Map();
      result.set(unescapePath(line.slice('# file: '.length)), current);
      continue;
    }
    const eq = line.indexOf('=');
    if (!current || eq <= 0) continue;
    const value = line.slice(eq + 1);
    const buf = value.startsWith('0x') ? Buffer.from(value.slice(2), 'hex') : Buffer.from(value.replace(/^"|"$/g, ''), 'utf8');
    current.set(line.slice(0, eq), buf);
  }
  return result;
}
