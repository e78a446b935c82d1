/**
 * `--chown` as BuildKit's file operations read it: `user[:group]`, each numeric or a name
 * looked up in the destination's /etc/passwd and /etc/group. A numeric user alone gets the
 * same number as group; a user name alone gets its primary group.
 */

export interface Owner { uid: number; gid: number }

export class UnknownOwnerError extends Error {}

interface PasswdEntry { name: string; uid: number; gid: number }

function parseDb(text: string | undefined, minFields: number): string[][] {
  if (text === undefined) return [];
  return text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => l.split(':')).filter((f) => f.length >= minFields);
}

export function parsePasswd(text: string | undefined): PasswdEntry[] {
  return parseDb(text, 4).map((f) => ({ name: f[0] as string, uid: Number(f[2]), gid: Number(f[3]) }))
    .filter((e) => Number.isInteger(e.uid) && Number.isInteger(e.gid));
}

export function parseGroup(text: string | undefined): { name: string; gid: number; members: string[] }[] {
  return parseDb(text, 3).map((f) => ({ name: f[0] as string, gid: Number(f[2]), members: (f[3] ?? '').split(',').filter((m) => m !== '') }))
    .filter((e) => Number.isInteger(e.gid));
}

const NUMERIC = /^[0-9]+$/;

export function resolveChown(spec: string, passwd: string | undefined, group: string | undefined): Owner {
  const colon = spec.indexOf(':');
  const userPart = colon < 0 ? spec : spec.slice(0, colon);
  const groupPart = colon < 0 ? undefined : spec.slice(colon + 1);
  let uid: number;
  let gid: number;
  if (NUMERIC.test(userPart)) {
    uid = Number(userPart);
    gid = uid;
  } else {
    const entry = parsePasswd(passwd).find((e) => e.name === userPart);
    if (!entry) throw new UnknownOwnerError(`unable to find user ${userPart}: no matching entries in passwd file`);
    uid = entry.uid;
    gid = entry.gid;
  }
  if (groupPart !== undefined && groupPart !== '') {
    if (NUMERIC.test(groupPart)) gid = Number(groupPart);
    else {
      const g = parseGroup(group).find((e) => e.name === groupPart);
      if (!g) throw new UnknownOwnerError(`unable to find group ${groupPart}: no matching entries in group file`);
      gid = g.gid;
    }
  }
  return { uid, gid };
}
