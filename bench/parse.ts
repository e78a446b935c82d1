/**
 * Parser benchmark: a generated 10,000-line Dockerfile (every instruction kind, continuation
 * lines, comments, JSON and shell forms, heredocs), parsed in-process. Prints the cold first
 * parse (includes building the lexer and parser once), the median warm parse and the median
 * parse + toRecipe, and the median wall time of `kiln parse --dump` on the file as a user runs it.
 *
 *   node dist/bench/parse.js [--runs N] [--lines N]
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median, timeCommand } from './measure.js';

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  const v = i >= 0 ? Number(process.argv[i + 1]) : NaN;
  return Number.isFinite(v) && v > 0 ? v : fallback;
}

/** A Dockerfile of about `lines` lines mixing every construct the parser handles. */
export function generateDockerfile(lines: number): string {
  const out: string[] = ['# syntax=docker/dockerfile:1', 'ARG BASE=alpine:3.19'];
  let stage = 0;
  while (out.length < lines) {
    out.push(`FROM \${BASE} AS stage${stage}`, `# stage ${stage} builds part ${stage}`);
    out.push(`ENV PART=${stage} PATH="/opt/p${stage}/bin:$PATH"`, `LABEL org.example.part="${stage}" version=1.${stage}`);
    out.push('RUN --mount=type=cache,target=/var/cache/apk apk add --no-cache \\', '    curl \\', '    # tools', '    git \\', '    make');
    out.push(`COPY --chown=1000:1000 --chmod=644 src/part${stage}/ /opt/p${stage}/`);
    out.push('RUN <<EOF', 'set -e', `echo building ${stage}`, 'make -C /opt', 'EOF');
    out.push(`WORKDIR /opt/p${stage}`, 'USER 1000:1000', 'EXPOSE 8080/tcp 9090/udp', 'VOLUME ["/data"]');
    out.push('HEALTHCHECK --interval=30s --timeout=3s --retries=3 CMD ["wget", "-q", "-O-", "http://localhost:8080/"]');
    out.push('SHELL ["/bin/sh", "-c"]', 'STOPSIGNAL SIGTERM', `ARG REV=${stage}`, 'ONBUILD RUN echo triggered');
    out.push('CMD ["/opt/app", "--serve"]', 'ENTRYPOINT ["/sbin/tini", "--"]', '');
    stage++;
  }
  return out.slice(0, lines).join('\n') + '\n';
}

function msSince(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/** CPU time (user + system) of this process since `start`: less skewed by a busy machine than wall time. */
function cpuMsSince(start: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(start);
  return (d.user + d.system) / 1000;
}

/** CPU time of this process's waited-for children (Linux /proc), in ms. */
function childrenCpuMs(): number {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After the command name: field 14/15 of the full line are cutime/cstime (clock ticks, 100/s).
    return (Number(fields[13]) + Number(fields[14])) * 10;
  } catch {
    return NaN;
  }
}

async function main(): Promise<void> {
  const runs = option('--runs', 15);
  const lines = option('--lines', 10_000);
  const text = generateDockerfile(lines);

  const t0 = process.hrtime.bigint();
  const { parseDockerfile } = await import('../grammar/parser.js');
  const { toRecipe } = await import('../grammar/instructions.js');
  const importMs = msSince(t0);
  const t1 = process.hrtime.bigint();
  const c1 = process.cpuUsage();
  const cold = parseDockerfile(text);
  const coldMs = msSince(t1);
  const coldCpu = cpuMsSince(c1);

  const parseTimes: number[] = [];
  const parseCpu: number[] = [];
  const recipeTimes: number[] = [];
  for (let i = 0; i < runs; i++) {
    let t = process.hrtime.bigint();
    const c = process.cpuUsage();
    const df = parseDockerfile(text);
    parseTimes.push(msSince(t));
    parseCpu.push(cpuMsSince(c));
    t = process.hrtime.bigint();
    toRecipe(parseDockerfile(text));
    recipeTimes.push(msSince(t));
    if (df.instructions.length !== cold.instructions.length) throw new Error('parse results differ between runs');
  }

  const dir = mkdtempSync(join(tmpdir(), 'kiln-bench-parse-'));
  const cliTimes: number[] = [];
  const cliCpu: number[] = [];
  try {
    const file = join(dir, 'Dockerfile');
    writeFileSync(file, text);
    const kiln = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'kiln');
    for (let i = 0; i < Math.min(runs, 7); i++) {
      const before = childrenCpuMs();
      const r = await timeCommand([kiln, 'parse', '--dump', file], process.env);
      if (!r.ok) throw new Error(r.error);
      cliTimes.push(r.ms);
      cliCpu.push(childrenCpuMs() - before);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const f = (n: number | undefined): string => (n === undefined ? 'n/a' : `${n.toFixed(1)} ms`);
  process.stdout.write([
    `parse bench: ${lines}-line Dockerfile, ${cold.instructions.length} instructions, ${runs} runs`,
    `  importing the grammar modules (unbundled): ${f(importMs)}`,
    `  first parse (builds lexer+parser, cold JIT): ${f(coldMs)} wall, ${f(coldCpu)} CPU`,
    `  parse, median:                            ${f(median(parseTimes))} wall, ${f(median(parseCpu))} CPU (min ${f(Math.min(...parseTimes))} wall)`,
    `  parse + toRecipe, median:                 ${f(median(recipeTimes))}`,
    `  kiln parse --dump (whole process), median: ${f(median(cliTimes))} wall, ${f(median(cliCpu))} CPU`,
    `  (load average ${loadavg().map((l) => l.toFixed(1)).join(' ')} on ${cpus().length} CPUs while measuring)`,
    '',
  ].join('\n'));
}

await main();
