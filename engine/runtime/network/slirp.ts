/**
 * Rootless networking: an unprivileged user cannot make a bridge, a veth pair or NAT rules, so a
 * rootless container's network namespace gets a tap device served by slirp4netns, a user-space
 * TCP/IP stack that turns the container's connections into the user's own sockets on the host
 * (outbound) and listens on the host for published ports (`add_hostfwd` on its API socket). It
 * runs as rootless podman runs it: `--configure` (10.0.2.100/24, gateway 10.0.2.2, DNS forwarder
 * 10.0.2.3), MTU 65520, `--disable-host-loopback` (10.0.2.2 does not lead to the host's
 * 127.0.0.1), sandboxed and with its seccomp filter. It exits when its exit descriptor closes:
 * when the holder releases it, or dies.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { KilnError } from '../../errors/kilnError.js';
import type { PortBinding } from './ports.js';

export const SLIRP_ADDRESS = '10.0.2.100';
export const SLIRP_GATEWAY = '10.0.2.2';
export const SLIRP_DNS = '10.0.2.3';
const TAP = 'tap0';
const MTU = 65520;

const builtin = createRequire(import.meta.url);

export function slirpProgram(): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    const candidate = `${dir}/slirp4netns`;
    if (dir !== '' && existsSync(candidate)) return candidate;
  }
  return undefined;
}

export interface Slirp {
  close(): Promise<void>;
}

function failure(what: string, stderr: string): KilnError {
  const detail = stderr.trim().split('\n').filter((l) => !/^WARNING|^sent tapfd|^received tapfd/.test(l)).pop();
  return new KilnError('SLIRP', `slirp4netns ${what}${detail ? `: ${detail}` : ''}`, { exitCode: 125 });
}

/** One request on the API socket; its JSON answer. */
async function api(socket: string, request: object): Promise<{ return?: unknown; error?: { desc?: string } }> {
  const { connect } = builtin('node:net') as typeof import('node:net');
  return new Promise((resolve, reject) => {
    let text = '';
    const conn = connect(socket, () => conn.end(JSON.stringify(request)));
    conn.on('data', (c: Buffer) => { text += c.toString('utf8'); });
    conn.on('error', reject);
    conn.on('close', () => {
      try {
        resolve(JSON.parse(text) as { return?: unknown; error?: { desc?: string } });
      } catch {
        reject(new Error(`no answer from slirp4netns's API socket (${text})`));
      }
    });
  });
}

/**
 * Starts slirp4netns for process `pid`'s network namespace (the child waits at its gate), waits
 * until it has configured the tap device, and asks it to forward each published port.
 */
export async function startSlirp(program: string, pid: number, apiSocket: string, ports: readonly PortBinding[]): Promise<Slirp> {
  const { spawn } = builtin('node:child_process') as typeof import('node:child_process');
  const args = ['--configure', `--mtu=${MTU}`, '--disable-host-loopback', '--enable-sandbox', '--enable-seccomp',
    '--ready-fd=3', '--exit-fd=4', `--api-socket=${apiSocket}`, String(pid), TAP];
  const child: ChildProcess = spawn(program, args, { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => { stderr += c.toString('utf8'); });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const exitFd = child.stdio[4] as import('node:net').Socket;
  exitFd.on('error', () => undefined);
  const close = async (): Promise<void> => {
    exitFd.destroy();
    await exited;
  };
  try {
    await new Promise<void>((resolve, reject) => {
      const ready = child.stdio[3] as import('node:net').Socket;
      ready.on('data', () => resolve());
      ready.on('error', () => undefined);
      child.on('error', (err) => reject(failure(`could not start (${err.message})`, stderr)));
      void exited.then(() => reject(failure('exited before the network was up', stderr)));
    });
    for (const p of ports) {
      const answer = await api(apiSocket, {
        execute: 'add_hostfwd',
        arguments: { proto: p.proto, host_addr: p.hostIp === '' ? '0.0.0.0' : p.hostIp, host_port: p.hostPort, guest_port: p.containerPort },
      });
      if (answer.error) throw new KilnError('PORT_IN_USE', `Bind for ${p.hostIp || '0.0.0.0'}:${p.hostPort} failed: ${answer.error.desc ?? 'slirp4netns refused it'}`, { exitCode: 125 });
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { close };
}
