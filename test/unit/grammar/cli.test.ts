/**
 * `kiln parse` as a user runs it: the dump on stdout, `-` for standard input, `--json`,
 * and on a bad recipe `FILE:LINE:COL: message`, the offending line and a caret, exit 1,
 * no stack trace.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kilnBin } from '../../support/env.js';

const kiln = (args: string[], input?: string) => spawnSync(process.execPath, [kilnBin, ...args], { input, encoding: 'utf8' });

test('kiln parse: dump, stdin, json, errors with caret and exit codes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-parse-cli-'));
  try {
    const good = join(dir, 'Dockerfile');
    writeFileSync(good, 'FROM alpine AS base\nRUN --mount=type=cache,target=/c echo "hi"\n');
    let r = kiln(['parse', '--dump', good]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, '(from "alpine" "AS" "base")\n(run ["--mount=type=cache,target=/c"] "echo \\"hi\\"")\n');

    r = kiln(['parse', '-'], 'FROM a\nCMD ["x"]\n');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, '(from "a")\n(cmd "x")\n');

    r = kiln(['parse', '--json', good]);
    assert.equal(r.status, 0, r.stderr);
    const ast = JSON.parse(r.stdout) as { instructions: { name: string }[] };
    assert.deepEqual(ast.instructions.map((i) => i.name), ['FROM', 'RUN']);

    const bad = join(dir, 'bad.Dockerfile');
    writeFileSync(bad, 'FROM a\n  CMD ["a", 1]\n');
    r = kiln(['parse', bad]);
    assert.equal(r.status, 1);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, `${bad}:2:3: when using JSON array syntax, arrays must be comprised of strings only\n    CMD ["a", 1]\n    ^\n`);

    r = kiln(['parse', '-'], 'FROM a\nRUN <<EOF\nnever ends\n');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^<stdin>:2:1: unterminated heredoc\n/);
    assert.doesNotMatch(r.stderr, /at .*\.js/);

    r = kiln(['parse', '--check', '-'], 'FROM a\nCOPY --chwon=1 a b\n');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^<stdin>:2:1: unknown flag: --chwon \(did you mean chown\?\)\n/);

    r = kiln(['parse', '--dumb', good]);
    assert.equal(r.status, 2);
    r = kiln(['parse', join(dir, 'missing')]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /no such file or directory/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
