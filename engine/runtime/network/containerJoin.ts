/**
 * `--network container:NAME`: the child joins the network namespace of that container's PID 1
 * before it mounts anything, and gets copies of its hostname, hosts and resolv.conf (docker
 * shares the other container's files).
 */
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { KilnError } from '../../errors/kilnError.js';
import { nothingToDo, type EtcPaths, type PreparedNetwork } from './networkRequest.js';

const MAX_COPIED = 64 * 1024;

function copyFromContainer(pid: number, file: string, to: string): void {
  let text = '';
  try {
    // Through /proc/PID/root: symlinks resolve inside that container's root, never the host's.
    text = readFileSync(`/proc/${pid}/root/etc/${file}`, 'utf8').slice(0, MAX_COPIED);
  } catch {
    // the other container removed its file: an empty one
  }
  writeFileSync(to, text);
}

export function joinContainer(pid: number, etc: EtcPaths): PreparedNetwork {
  let fd: number;
  try {
    fd = openSync(`/proc/${pid}/ns/net`, 'r');
  } catch {
    throw new KilnError('CONTAINER_NOT_RUNNING', 'cannot join the network of a container that is not running', { exitCode: 125 });
  }
  copyFromContainer(pid, 'hosts', etc.hosts);
  copyFromContainer(pid, 'hostname', etc.hostname);
  copyFromContainer(pid, 'resolv.conf', etc.resolvConf);
  let open = true;
  const release = async (): Promise<void> => {
    if (open) closeSync(fd);
    open = false;
  };
  return { newNamespace: false, native: { joinNetnsFd: fd }, etc, ports: [], attach: nothingToDo, release };
}
