/**
 * The store under stress, for minutes (`npm run bench -- --soak MINUTES`, not part of the
 * time-limited test suite): several workers run random kiln commands against one store at the
 * same time — builds (cold and cached, multi-stage with stage views, FROM an image in a local
 * registry), runs (some with --memory, so with limits), pulls from a local registry, saves,
 * loads, tags, rmi and prune — and a random share of them is killed with SIGKILL at a random
 * moment. A command that was not killed must succeed. At the end: `kiln check --full` finds no
 * problem, no mount under the soak's directory or a soak kiln's container state dir is left in
 * the host's mount table, no cgroup of a soak kiln is left under the kiln cgroup parents, no
 * temp file or lease is left in the store (nor a container of a killed `run --rm`, a container
 * state dir, an archive's temp file), and every image that survived saves to an archive that
 * docker loads (under a unique tag, removed afterwards).
 *
 *   node dist/bench/run.js --soak MINUTES [--workers N] [--kill-rate 0.2]
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { kilnBin } from '../harness/kilnBinary.js';
import { registryAvailable, startRegistry, type TestRegistry } from '../harness/registry.js';
import { cgroupsOwnedBy, mountPoints } from '../test/support/containers.js';
import { haveBusybox, makeContext, writeRootfsTar } from './fixtures.js';

interface SoakOptions {
  minutes: number;
  workers: number;
  killRate: number;
}

function parseSoakOptions(argv: string[]): SoakOptions {
  const o: SoakOptions = { minutes: 10, workers: 3, killRate: 0.2 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    if (a === '--soak' && v !== undefined && !v.startsWith('--')) (o.minutes = Number(v)), i++;
    else if (a === '--soak') continue;
    else if (a === '--workers' && v) (o.workers = Math.max(1, Number(v))), i++;
    else if (a === '--kill-rate' && v) (o.killRate = Math.min(1, Math.max(0, Number(v)))), i++;
    else throw new Error(`unknown argument ${a} (see the comment at the top of bench/soak.ts)`);
  }
  if (!Number.isFinite(o.minutes) || o.minutes <= 0) throw new Error('--soak MINUTES: a positive number of minutes');
  return o;
}

interface Outcome {
  code: number | null;
  killed: boolean;
  stderr: string;
}

/** Counters of the whole soak, by operation. */
class Tally {
  readonly ops = new Map<string, { runs: number; kills: number; failures: number }>();
  readonly failures: string[] = [];
  /** Pids of every kiln this soak started: their cgroups and state must all be gone at the end. */
  readonly pids = new Set<number>();

  count(op: string, o: Outcome, argv: string[]): void {
    const t = this.ops.get(op) ?? { runs: 0, kills: 0, failures: 0 };
    t.runs++;
    if (o.killed) t.kills++;
    else if (o.code !== 0) {
      t.failures++;
      this.failures.push(`kiln ${argv.join(' ')}: exit ${o.code}\n${o.stderr.trim().split('\n').slice(-6).join('\n')}`);
    }
    this.ops.set(op, t);
  }

  total(field: 'runs' | 'kills' | 'failures'): number {
    return [...this.ops.values()].reduce((n, t) => n + t[field], 0);
  }
}

const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)] as T;

class Soak {
  readonly work = mkdtempSync(join(tmpdir(), 'kiln-soak-'));
  readonly store = join(this.work, 'store');
  readonly archives = join(this.work, 'archives');
  readonly tally = new Tally();
  registry: TestRegistry | undefined;
  pulled = '';
  private stopAt = 0;

  constructor(readonly o: SoakOptions) {
    mkdirSync(this.archives);
  }

  /** Runs kiln; with `mayKill`, SIGKILLs it at a random moment as often as the kill rate says. */
  kiln(args: string[], mayKill = false): Promise<Outcome> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [kilnBin, ...args], { env: { ...process.env, KILN_ROOT: this.store }, stdio: ['ignore', 'ignore', 'pipe'] });
      if (child.pid !== undefined) this.tally.pids.add(child.pid);
      let stderr = '';
      child.stderr.on('data', (c: Buffer) => { stderr = (stderr + c.toString()).slice(-8000); });
      let killed = false;
      const killer = mayKill && Math.random() < this.o.killRate
        ? setTimeout(() => { killed = child.kill('SIGKILL'); }, Math.random() * 2500)
        : undefined;
      child.on('close', (code) => {
        if (killer) clearTimeout(killer);
        resolve({ code, killed: killed && code === null, stderr });
      });
    });
  }

  async must(args: string[]): Promise<string> {
    const r = await this.kiln(args);
    if (r.code !== 0) throw new Error(`kiln ${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
    return r.stderr;
  }

  async setUp(): Promise<void> {
    const base = makeContext(join(this.work, 'base'), writeRootfsTar(this.work));
    writeFileSync(join(base, 'Dockerfile'), 'FROM scratch\nADD rootfs.tar /\nCMD ["sh"]\n');
    await this.must(['build', '-q', '-t', 'soak/base', base]);
    if (registryAvailable()) {
      this.registry = await startRegistry();
      this.pulled = `${this.registry.host}/soak/pulled:1`;
      const ctx = join(this.work, 'pushed');
      mkdirSync(ctx, { recursive: true });
      writeFileSync(join(ctx, 'Dockerfile'), 'FROM soak/base\nRUN dd if=/dev/urandom of=/pulled bs=64k count=16 2>/dev/null\n');
      await this.must(['build', '-q', '-t', this.pulled, ctx]);
      await this.must(['push', this.pulled]);
    }
  }

  /** One worker: random operations until the time is up. Its images are its own (tags soak/wN:…). */
  async worker(n: number): Promise<void> {
    const mine: string[] = [];
    const archives: string[] = [];
    let k = 0;
    const ctx = join(this.work, `ctx-${n}`);
    mkdirSync(ctx, { recursive: true });
    writeFileSync(join(ctx, 'file.txt'), `worker ${n}\n`);
    while (Date.now() < this.stopAt) {
      const tag = `soak/w${n}:${++k}`;
      const op = pick(['build', 'build', 'build', 'run', 'run', 'pull', 'save', 'load', 'rmi', 'tag', 'prune']);
      switch (op) {
        case 'build': {
          const recipe = pick(['layers', 'stages', 'cached', ...(this.registry ? ['registry'] : [])]);
          writeFileSync(join(ctx, 'Dockerfile'), recipeText(recipe, this.pulled));
          const args = ['build', '-q', '--build-arg', `NONCE=${recipe === 'cached' ? n : `${n}-${k}-${Math.random()}`}`, '-t', tag, ctx];
          const r = await this.kiln(args, true);
          this.tally.count(`build (${recipe})`, r, args);
          if (r.code === 0) mine.push(tag);
          break;
        }
        case 'run': {
          const image = mine.length > 0 && Math.random() < 0.7 ? pick(mine) : 'soak/base';
          const args = ['run', '--rm', ...(Math.random() < 0.5 ? ['--memory', '64m'] : []), image, 'sh', '-c', `ls / >/dev/null; sleep 0.${Math.floor(Math.random() * 9)}`];
          this.tally.count('run', await this.kiln(args, true), args);
          break;
        }
        case 'pull': {
          if (!this.registry) break;
          const args = ['pull', '-q', this.pulled];
          this.tally.count('pull', await this.kiln(args, true), args);
          break;
        }
        case 'save': {
          if (mine.length === 0) break;
          const file = join(this.archives, `w${n}-${k}.tar`);
          const args = ['save', '-o', file, pick(mine)];
          const r = await this.kiln(args, true);
          this.tally.count('save', r, args);
          if (r.code === 0) archives.push(file);
          else if (!r.killed || existsSync(file)) rmSync(file, { force: true });
          break;
        }
        case 'load': {
          if (archives.length === 0) break;
          const args = ['load', '-q', '-i', pick(archives)];
          this.tally.count('load', await this.kiln(args, true), args);
          break;
        }
        case 'rmi': {
          if (mine.length === 0) break;
          const victim = mine.splice(Math.floor(Math.random() * mine.length), 1)[0] as string;
          const args = ['rmi', victim];
          const r = await this.kiln(args, true);
          this.tally.count('rmi', r, args);
          break; // killed, it may or may not be gone: either way no later operation names it
        }
        case 'tag': {
          if (mine.length === 0) break;
          const args = ['tag', pick(mine), tag];
          const r = await this.kiln(args, true);
          this.tally.count('tag', r, args);
          if (r.code === 0) mine.push(tag);
          break;
        }
        case 'prune': {
          const args = ['prune', ...(Math.random() < 0.5 ? ['--all'] : [])];
          this.tally.count('prune', await this.kiln(args, true), args);
          break;
        }
      }
    }
  }

  async run(): Promise<void> {
    this.stopAt = Date.now() + this.o.minutes * 60_000;
    await Promise.all(Array.from({ length: this.o.workers }, (_, n) => this.worker(n)));
  }

  /** What must hold once every worker is done; each entry is a problem. */
  async verdicts(): Promise<{ problems: string[]; loaded: number }> {
    const problems: string[] = [];
    // The next commands sweep what killed ones left: a container (cgroups), a prune (temp files
    // beside records), a save into the archives dir (a killed save's temp file).
    await this.must(['run', '--rm', 'soak/base', 'true']);
    await this.must(['prune']);
    const checked = spawnSync(process.execPath, [kilnBin, 'check', '--full'], { env: { ...process.env, KILN_ROOT: this.store }, encoding: 'utf8' });
    if (checked.status !== 0 || !/no problems found/.test(checked.stdout)) problems.push(`kiln check --full: exit ${checked.status}\n${checked.stdout}${checked.stderr}`);
    const mounts = mountPoints().filter((m) => {
      const state = /\/kiln-ctr-(\d+)-/.exec(m); // a container start's state dir
      return m.startsWith(`${this.work}/`) || (state !== null && this.tally.pids.has(Number(state[1])));
    });
    if (mounts.length > 0) problems.push(`mounts left: ${mounts.join(', ')}`);
    const cgroups = cgroupsOwnedBy((pid) => this.tally.pids.has(pid));
    if (cgroups.length > 0) problems.push(`cgroups left: ${cgroups.join(', ')}`);
    const temps = this.leftovers();
    if (temps.length > 0) problems.push(`temp files left: ${temps.join(', ')}`);
    const loaded = await this.loadEveryImageInDocker(problems);
    return { problems, loaded };
  }

  /** Temp files, scratch dirs, leases and container state that a soak kiln left. */
  private leftovers(): string[] {
    const found: string[] = [];
    const walk = (dir: string): void => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        if (/\.tmp(-|$)/.test(e.name) || /^\..*\.tmp$/.test(e.name)) found.push(p);
        if (e.isDirectory() && !p.startsWith(join(this.store, 'snapshots')) && !p.startsWith(join(this.store, 'containers'))) walk(p);
      }
    };
    walk(this.store);
    walk(this.archives);
    for (const d of ['tmp', 'leases', 'containers']) { // every soak run is --rm
      const dir = join(this.store, d);
      if (existsSync(dir)) for (const name of readdirSync(dir)) found.push(join(dir, name));
    }
    for (const lock of ['lock', 'lock.break']) if (existsSync(join(this.store, lock))) found.push(join(this.store, lock));
    for (const root of ['/dev/shm', tmpdir()]) {
      for (const name of existsSync(root) ? readdirSync(root) : []) {
        const m = /^kiln-ctr-(\d+)-/.exec(name);
        if (m && this.tally.pids.has(Number(m[1]))) found.push(join(root, name));
      }
    }
    return found;
  }

  /** Every image still in the store, saved under a unique tag and loaded by docker (then removed there). */
  private async loadEveryImageInDocker(problems: string[]): Promise<number> {
    if (spawnSync('/usr/bin/docker', ['info'], { stdio: 'ignore' }).status !== 0) {
      problems.push('docker is not available: the surviving images could not be loaded into it');
      return 0;
    }
    const ids = spawnSync(process.execPath, [kilnBin, 'images', '-q', '--no-trunc'], { env: { ...process.env, KILN_ROOT: this.store }, encoding: 'utf8' }).stdout.split('\n').filter((l) => l !== '');
    let loaded = 0;
    for (const [i, id] of [...new Set(ids)].entries()) {
      const tag = `kiln-soak-${process.pid}/image:${i}`;
      const file = join(this.archives, `docker-${i}.tar`);
      await this.must(['tag', id, tag]);
      await this.must(['save', '-o', file, tag]);
      const load = spawnSync('/usr/bin/docker', ['load', '-i', file], { encoding: 'utf8' });
      if (load.status !== 0 || !load.stdout.includes(tag)) problems.push(`docker load of ${id} (${file}): ${load.stderr || load.stdout}`);
      else loaded++;
      const inspected = spawnSync('/usr/bin/docker', ['image', 'inspect', '-f', '{{.Id}}', tag], { encoding: 'utf8' }).stdout.trim();
      if (load.status === 0 && inspected !== id) problems.push(`docker gives ${tag} the ID ${inspected}, kiln ${id}`);
      spawnSync('/usr/bin/docker', ['rmi', tag], { stdio: 'ignore' });
      rmSync(file, { force: true });
    }
    return loaded;
  }

  async tearDown(): Promise<void> {
    await this.registry?.stop();
    rmSync(this.work, { recursive: true, force: true });
  }
}

/** The recipes builds pick from: layers (RUN and COPY), stages (COPY --from a stage of several layers: a mounted view), cached (the same build again), registry (FROM a pulled image). */
function recipeText(kind: string, pulled: string): string {
  switch (kind) {
    case 'stages':
      return [
        'FROM soak/base AS parts', 'ARG NONCE', 'RUN mkdir /parts && echo "$NONCE" > /parts/nonce', 'COPY file.txt /parts/file.txt',
        'RUN dd if=/dev/urandom of=/parts/random bs=64k count=8 2>/dev/null',
        'FROM soak/base', 'COPY --from=parts /parts /parts', 'RUN cat /parts/nonce /parts/file.txt > /joined', '',
      ].join('\n');
    case 'registry':
      return `FROM ${pulled}\nARG NONCE\nRUN echo "$NONCE" > /nonce && test -s /pulled\n`;
    default:
      return ['FROM soak/base', 'ARG NONCE', 'RUN echo "$NONCE" > /nonce && dd if=/dev/urandom of=/random bs=64k count=4 2>/dev/null', 'COPY file.txt /file.txt', 'RUN cat /nonce /file.txt > /both', ''].join('\n');
  }
}

function report(soak: Soak, o: SoakOptions, minutes: number, loaded: number, problems: string[]): string {
  const t = soak.tally;
  const rows = [...t.ops.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([op, c]) => `| ${op} | ${c.runs} | ${c.kills} | ${c.failures} |`);
  return [
    `soak: ${minutes.toFixed(1)} minutes, ${o.workers} workers, kill rate ${o.killRate}; load average at the end ${loadavg().map((l) => l.toFixed(2)).join(' ')}`,
    '',
    '| operation | runs | killed (SIGKILL) | failures |',
    '| --- | --- | --- | --- |',
    ...rows,
    `| all | ${t.total('runs')} | ${t.total('kills')} | ${t.total('failures')} |`,
    '',
    `after it: kiln check --full ${problems.some((p) => p.startsWith('kiln check')) ? 'FOUND PROBLEMS' : 'clean'}; surviving images loaded by docker: ${loaded}`,
    ...t.failures.map((f) => `FAILED: ${f}`),
    ...problems.map((p) => `PROBLEM: ${p}`),
    '',
  ].join('\n');
}

export async function runSoak(argv: string[]): Promise<void> {
  const o = parseSoakOptions(argv);
  if (process.getuid?.() !== 0 || !haveBusybox()) throw new Error('the soak needs root (build containers, cgroups) and /bin/busybox (busybox-static)');
  const soak = new Soak(o);
  try {
    await soak.setUp();
    const started = Date.now();
    await soak.run();
    const minutes = (Date.now() - started) / 60_000;
    const { problems, loaded } = await soak.verdicts();
    process.stdout.write(report(soak, o, minutes, loaded, problems));
    if (problems.length > 0 || soak.tally.total('failures') > 0) process.exitCode = 1;
  } finally {
    await soak.tearDown();
  }
}
