/** `kiln rm CONTAINER...`: removes stopped containers and their writable layers (-f kills running ones first). */
import type { CommandSpec, ParsedArgs } from './args.js';
import { openStore } from './openStore.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { ContainerRecords } from '../runtime/containerRecords.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export const spec: CommandSpec = {
  name: 'rm',
  ownUserNamespace: 'if-mapped',
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  minArgs: 1,
  flags: [
    { name: 'force', short: 'f', kind: 'bool', description: 'Force the removal of a running container (stops the kiln process running it)' },
  ],
};

export async function run(args: ParsedArgs): Promise<number> {
  const store = await openStore();
  const records = new ContainerRecords(store.root);
  let status = 0;
  for (const wanted of args.positionals) {
    const c = await records.find(wanted).catch((err: Error) => { process.stderr.write(`Error response from daemon: ${err.message}\n`); return null; });
    if (c === null) { status = 1; continue; }
    if (!c) {
      process.stderr.write(`Error response from daemon: No such container: ${wanted}\n`);
      status = 1;
      continue;
    }
    if (c.state === 'running') {
      if (!args.bools.has('force')) {
        process.stderr.write(`Error response from daemon: cannot remove container "${c.name}": container is running: stop the container before removing or force remove\n`);
        status = 1;
        continue;
      }
      // Kill the container's PID 1; the kiln process running it then cleans up and exits.
      if (c.pid) {
        try { process.kill(c.pid, 'SIGKILL'); } catch { /* already gone */ }
      }
      for (let i = 0; i < 500 && c.ownerPid && alive(c.ownerPid); i++) await sleep(20);
    }
    await records.remove(c.id);
    process.stdout.write(`${wanted}\n`);
  }
  return status;
}
