/**
 * Docker's reading of `--user` / the image's `User` (moby/sys/user GetExecUser): a name or
 * number, optionally `:group`; names are looked up in the image's /etc/passwd and /etc/group.
 * Pure: callers read the files (or pass undefined when the image has none).
 */
import { KilnError } from '../errors/kilnError.js';

export interface ResolvedUser {
  uid: number;
  gid: number;
  /**
   * Supplementary groups as docker sets them: the primary gid first, then (when no group was
   * given) the groups that list the user by name.
   */
  additionalGids: number[];
  /** Home directory from passwd ("/" when unknown); docker sets HOME from it. */
  home: string;
}

interface PasswdEntry { name: string; uid: number; gid: number; home: string }
interface GroupEntry { name: string; gid: number; members: string[] }

const MAX_ID = 2 ** 31 - 1;

function parseId(text: string): number | undefined {
  if (!/^[0-9]+$/.test(text)) return undefined;
  const n = Number(text);
  return n <= MAX_ID ? n : undefined;
}

function parsePasswd(text: string | undefined): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of (text ?? '').split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    const uid = parseId(f[2] ?? '');
    const gid = parseId(f[3] ?? '');
    if (f[0] === undefined || uid === undefined || gid === undefined) continue;
    out.push({ name: f[0], uid, gid, home: f[5] || '/' });
  }
  return out;
}

function parseGroup(text: string | undefined): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of (text ?? '').split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    const gid = parseId(f[2] ?? '');
    if (f[0] === undefined || gid === undefined) continue;
    out.push({ name: f[0], gid, members: (f[3] ?? '').split(',').map((m) => m.trim()).filter((m) => m !== '') });
  }
  return out;
}

export function resolveUser(spec: string, passwd: string | undefined, group: string | undefined): ResolvedUser {
  const colon = spec.indexOf(':');
  const userPart = colon < 0 ? spec : spec.slice(0, colon);
  const groupPart = colon < 0 ? '' : spec.slice(colon + 1);
  const users = parsePasswd(passwd);

  let uid = 0;
  let gid = 0;
  let home = '/';
  let matchedName: string | undefined;
  if (userPart === '') {
    const root = users.find((u) => u.uid === 0);
    if (root) { gid = root.gid; home = root.home; matchedName = root.name; }
  } else {
    const numeric = parseId(userPart);
    const byName = users.find((u) => u.name === userPart);
    if (byName) {
      ({ uid, gid, home } = byName);
      matchedName = byName.name;
    } else if (numeric !== undefined) {
      uid = numeric;
      const byUid = users.find((u) => u.uid === numeric);
      if (byUid) { gid = byUid.gid; home = byUid.home; matchedName = byUid.name; }
    } else if (/^-?[0-9]+$/.test(userPart)) {
      throw new KilnError('BAD_USER', `uid ${userPart} is out of range`);
    } else {
      throw new KilnError('BAD_USER', `unable to find user ${userPart}: no matching entries in passwd file`);
    }
  }

  const groups = parseGroup(group);
  let additionalGids: number[] = [];
  if (groupPart !== '') {
    const byName = groups.find((g) => g.name === groupPart);
    const numeric = parseId(groupPart);
    if (byName) gid = byName.gid;
    else if (numeric !== undefined) gid = numeric;
    else if (/^-?[0-9]+$/.test(groupPart)) throw new KilnError('BAD_USER', `gid ${groupPart} is out of range`);
    else throw new KilnError('BAD_USER', `unable to find group ${groupPart}: no matching entries in group file`);
  } else if (matchedName !== undefined) {
    const name = matchedName;
    additionalGids = [...new Set(groups.filter((g) => g.members.includes(name)).map((g) => g.gid))];
  }
  return { uid, gid, additionalGids: [...new Set([gid, ...additionalGids])], home };
}
