/**
 * `kiln exec [-i] [-t] [-u USER] [-w DIR] [-e K=V] [--env-file F] CONTAINER COMMAND [ARG...]`:
 * runs a command in a running container (runtime/lifecycle/containerExec.ts) with the
 * container's environment (and -e on top), user and working directory unless given; kiln exits
 * with the command's status, or 126 when it could not be started, as `docker exec`.
 */
import { readFile } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import type { CommandSpec, ParsedArgs } from './args.js';
import { containerRecords } from './containerTargets.js';
import { mergeEnv, parseEnvFile, parseEnvFlag } from './runOptions.js';
import { KilnError } from '../errors/kilnError.js';
import { isLive } from '../runtime/containerRecords.js';
import { readImageFile } from '../runtime/imageFiles.js';
import { openContainerProcess } from '../runtime/lifecycle/containerControl.js';
import { freezerOf, isFrozen } from '../runtime/lifecycle/freezer.js';
import { readStoredContainer } from '../runtime/lifecycle/storedContainer.js';
import { resolveUser } from '../runtime/users.js';

export const spec: CommandSpec = {
  name: 'exec',
  usage: '[OPTIONS] CONTAINER COMMAND [ARG...]',
  minArgs: 2,
  stopAtFirstPositional: true,
  flags: [
    { name: 'interactive', short: 'i', kind: 'bool', description: 'Keep STDIN open even if not attached' },
    { name: 'tty', short: 't', kind: 'bool', description: 'Allocate a pseudo-TTY' },
    { name: 'user', short: 'u', kind: 'string', description: 'Username or UID (format: "<name|uid>[:<group|gid>]")' },
    { name: 'workdir', short: 'w', kind: 'string', description: 'Working directory inside the container' },
    { name: 'env', short: 'e', kind: 'list', description: 'Set environment variables', valueName: 'list' },
    { name: 'env-file', kind: 'list', description: 'Read in a file of environment variables', valueName: 'list' },
  ],
};

const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];
/** docker exec's status when the command could not be started. */
const CANNOT_START = 126;

export async function run(args: ParsedArgs): Promise<number> {
  const [name, ...argv] = args.positionals as [string, ...string[]];
  const tty = args.bools.has('tty');
  const interactive = args.bools.has('interactive');
  if (tty && interactive && !(await import('node:tty')).isatty(0)) throw new KilnError('USAGE', 'the input device is not a TTY', { exitCode: 1 });
  const workdir = args.strings.get('workdir');
  if (workdir !== undefined && !workdir.startsWith('/')) throw new KilnError('USAGE', `the working directory '${workdir}' is invalid, it needs to be an absolute path`, { exitCode: 1 });
  const records = await containerRecords();
  const rec = await records.get(name);
  if (isLive(rec) && rec.state === 'restarting') throw new KilnError('RESTARTING', `Container ${rec.id} is restarting, wait until the container is running`);
  if (isFrozen(freezerOf(rec.cgroupDirs)) && isLive(rec)) throw new KilnError('PAUSED', `Container ${name} is paused, unpause the container before exec`);
  const stored = readStoredContainer(records.containerDir(rec.id), rec.id);
  const pidfd = openContainerProcess(rec);
  if (pidfd === undefined || rec.pid === undefined) throw new KilnError('NOT_RUNNING', `Container ${rec.id} is not running`);

  const fileEnv: string[] = [];
  for (const f of args.lists.get('env-file') ?? []) fileEnv.push(...parseEnvFile(await readFile(f, 'utf8'), process.env));
  const flagEnv = (args.lists.get('env') ?? []).map((e) => parseEnvFlag(e, process.env)).filter((e): e is string => e !== undefined);
  const s = stored.spec;
  let user = s.user;
  const userFlag = args.strings.get('user');
  if (userFlag !== undefined) {
    // The container's own files (its writable layer over the image's), read without following links.
    const layers = s.rootfs.kind === 'dir' ? [s.rootfs.dir] : [s.rootfs.upperDir, ...s.rootfs.lowerDirs];
    try {
      user = resolveUser(userFlag, await readImageFile(layers, '/etc/passwd'), await readImageFile(layers, '/etc/group'));
    } catch (err) {
      if (err instanceof KilnError) throw new KilnError(err.code, err.message, { exitCode: CANNOT_START });
      throw err;
    }
  }
  const { execInContainer } = await import('../runtime/lifecycle/containerExec.js');
  const undo: (() => void)[] = [];
  try {
    return await execInContainer(pidfd, rec.pid, rec.cgroupDirs ?? [], s, {
      argv, env: mergeEnv(s.env, tty ? ['TERM=xterm'] : [], fileEnv, flagEnv), cwd: workdir ?? s.cwd, user, tty, interactive,
    }, {
      ...(tty ? { terminal: { ...(interactive ? { input: process.stdin } : {}), output: process.stdout } } : {}),
      onStart: (signal) => {
        for (const sig of FORWARDED) {
          const handler = (): void => signal(osConstants.signals[sig]);
          process.on(sig, handler);
          undo.push(() => process.off(sig, handler));
        }
      },
    });
  } catch (err) {
    if (err instanceof KilnError && (err.code === 'EXEC' || err.code === 'CONTAINER_START')) throw new KilnError(err.code, err.message, { exitCode: CANNOT_START });
    throw err;
  } finally {
    for (const u of undo) u();
  }
}
