/**
 * Where the store lives when nobody says (no --root, no KILN_ROOT): /var/lib/kiln as root of the
 * host, else the user's data dir ($XDG_DATA_HOME/kiln, ~/.local/share/kiln). CI containers often
 * give neither: a uid with no passwd entry, HOME=/ (read-only to it), no XDG_DATA_HOME. Then the
 * store goes to a directory of the user's own under the temp dir, and kiln says so once: a build
 * goes on instead of failing, and the note names the flag that keeps the store elsewhere.
 */
import { accessSync, constants, lstatSync, mkdirSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { KilnError } from '../errors/kilnError.js';
import { privilege } from '../host/privilege.js';
import { writeStderr } from '../host/standardStreams.js';

let chosen: string | undefined;

/** The nearest existing ancestor of `path` (itself when it exists). */
function existingAncestor(path: string): string {
  for (let p = path; ; p = dirname(p)) {
    if (lstatSync(p, { throwIfNoEntry: false }) !== undefined || dirname(p) === p) return p;
  }
}

/** Whether kiln can make (or use) a directory at `path`: its nearest existing ancestor is writable. */
export function canCreateUnder(path: string): boolean {
  try {
    accessSync(existingAncestor(path), constants.W_OK | constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The home directory as Node finds it ($HOME, else the passwd entry), or undefined when there is none. */
function homeDir(env: NodeJS.ProcessEnv): string | undefined {
  if (env.HOME !== undefined && env.HOME !== '') return env.HOME;
  try {
    return homedir();
  } catch {
    return undefined; // no HOME and no passwd entry for this uid
  }
}

/**
 * A store dir of this user's own in the temp dir (`kiln-UID`): made 0700 when missing, and used
 * only when it is a real directory owned by this uid (another user could have made the name first).
 */
function privateTempRoot(env: NodeJS.ProcessEnv): string | undefined {
  const uid = process.getuid?.() ?? 0;
  const dir = join(env.TMPDIR !== undefined && env.TMPDIR !== '' ? env.TMPDIR : tmpdir(), `kiln-${uid}`);
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') return undefined;
  }
  const st = lstatSync(dir, { throwIfNoEntry: false });
  return st?.isDirectory() && st.uid === uid && (st.mode & 0o077) === 0 ? dir : undefined;
}

/** Where the store lives when nobody says: KILN_ROOT, /var/lib/kiln as root, else a writable data dir. */
export function defaultStoreRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.KILN_ROOT) return resolve(env.KILN_ROOT);
  if (privilege() === 'host-root') return '/var/lib/kiln';
  if (chosen !== undefined) return chosen;
  const home = homeDir(env);
  const candidates: { dir: string; from: string }[] = [];
  if (env.XDG_DATA_HOME) candidates.push({ dir: join(env.XDG_DATA_HOME, 'kiln'), from: `$XDG_DATA_HOME (${env.XDG_DATA_HOME})` });
  if (home !== undefined) candidates.push({ dir: join(home, '.local', 'share', 'kiln'), from: `the home directory (${home})` });
  const usable = candidates.find((c) => canCreateUnder(c.dir));
  if (usable !== undefined) return (chosen = usable.dir);
  const fallback = privateTempRoot(env);
  const tried = candidates.length > 0 ? candidates.map((c) => `${c.from} is not writable`).join(', ') : 'there is no $HOME, no passwd entry for this uid and no $XDG_DATA_HOME';
  if (fallback === undefined) {
    throw new KilnError('STORE', `no place for the image store: ${tried}, and no private directory could be made in ${tmpdir()} (give --root DIR or set KILN_ROOT to a writable directory)`, { exitCode: 73 });
  }
  writeStderr(`kiln: note: ${tried}: the store is ${fallback} (give --root DIR or set KILN_ROOT to keep images elsewhere)\n`);
  return (chosen = fallback);
}
