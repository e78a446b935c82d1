/**
 * Seeded mutation fuzzing: mutations of BuildKit's parser corpus (deleted and inserted
 * characters, stray quotes, escapes, heredoc markers, flags, directives, swapped lines) must
 * each either parse (parse + dump + toRecipe) or fail with a ParseError — never with any
 * other exception. Deterministic: the same seed gives the same inputs on every run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { prerequisite } from '../../support/env.js';
import { corpus } from '../../support/corpora.js';
import { parseDockerfile } from '../../../grammar/parser.js';
import { dumpDockerfile } from '../../../grammar/dump.js';
import { toRecipe } from '../../../grammar/instructions.js';
import { ParseError } from '../../../grammar/parseError.js';
import { ExpansionError, expandWord, expandWords } from '../../../grammar/expand.js';

/** mulberry32: a small deterministic PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const parserCorpus = corpus('buildkit-parser');
const corpusDir = parserCorpus.dir;
const seeds: string[] = [];
for (const sub of parserCorpus.present ? ['testfiles', 'testfiles-negative'] : []) {
  for (const name of readdirSync(join(corpusDir, sub))) seeds.push(readFileSync(join(corpusDir, sub, name, 'Dockerfile'), 'utf8'));
}
seeds.push(
  'FROM alpine AS build\nRUN <<EOF\necho hi\nEOF\nCOPY <<-A <<"B" /dst/\n\ta\nA\nb\nB\nONBUILD RUN <<X\nx\nX\n',
  '# syntax=docker/dockerfile:1\n# escape=`\nFROM x\nRUN a `\n  b\nHEALTHCHECK --interval=5s --retries=3 CMD ["true"]\n',
  'ARG V=1\nFROM busybox:${V} AS a\nRUN --mount=type=cache,target=/c --network=none echo $V\nCOPY --from=a --chmod=755 --link /x /y\nADD --checksum=sha256:abc --unpack=true http://x/y.tar /z\nSHELL ["/bin/sh", "-c"]\nSTOPSIGNAL SIGTERM\nEXPOSE 80/tcp 53/udp\nVOLUME ["/v"]\nUSER 1:1\nWORKDIR /w\nENV A=1 B="2 3"\nLABEL a=b\nCMD ["x"]\nENTRYPOINT x\n',
);

const INSERTS = ['"', "'", '\\', '`', '$', '{', '}', '[', ']', '=', '-', '--', '<<', '<<EOF', '<<-EOF', '<<"EOF"', '3<<EOF', '\nEOF\n',
  '\n', '\r\n', '\r', '\t', ' ', '#', '\n# escape=`\n', '# syntax=x\n', '\\\n', '\\\n\n', '${', '${x:-', '${x/', ':?', '%%', '##',
  '--mount=type=', '--from=', '--chmod=', '--platform=', ' AS ', 'ONBUILD ', 'HEALTHCHECK ', 'NONE', 'CMD', '\ufeff', '\u00a0', '\u0000', 'é', '♥'];

function mutate(src: string, rand: () => number): string {
  let s = src;
  const steps = 1 + Math.floor(rand() * 4);
  for (let k = 0; k < steps; k++) {
    const pos = Math.floor(rand() * (s.length + 1));
    const op = Math.floor(rand() * 6);
    if (op === 0 && s.length > 0) {
      const len = 1 + Math.floor(rand() * 3);
      s = s.slice(0, pos) + s.slice(pos + len);
    } else if (op === 1 || op === 2) {
      const ins = INSERTS[Math.floor(rand() * INSERTS.length)] as string;
      s = s.slice(0, pos) + ins + s.slice(pos);
    } else if (op === 3) {
      const lines = s.split('\n');
      const a = Math.floor(rand() * lines.length);
      const b = Math.floor(rand() * lines.length);
      [lines[a], lines[b]] = [lines[b] as string, lines[a] as string];
      s = lines.join('\n');
    } else if (op === 4) {
      const lines = s.split('\n');
      const a = Math.floor(rand() * lines.length);
      lines.splice(a, 0, lines[Math.floor(rand() * lines.length)] as string);
      s = lines.join('\n');
    } else {
      s = s.slice(0, pos) + String.fromCharCode(32 + Math.floor(rand() * 95)) + s.slice(pos);
    }
  }
  return s;
}

const RUNS = 4000;

test(`grammar fuzz: ${RUNS} seeded mutations of the corpus parse or fail with ParseError`, (t) => {
  if (!prerequisite(t, parserCorpus.present, parserCorpus.missing)) return;
  const rand = prng(0x6b696c6e);
  let parsed = 0, recipes = 0, rejected = 0;
  for (let n = 0; n < RUNS; n++) {
    const input = mutate(seeds[Math.floor(rand() * seeds.length)] as string, rand);
    try {
      const df = parseDockerfile(input);
      parsed++;
      dumpDockerfile(df);
      JSON.stringify(df);
      toRecipe(df);
      recipes++;
    } catch (e) {
      if (!(e instanceof ParseError)) {
        assert.fail(`input #${n} threw ${(e as Error).stack ?? String(e)}\n--- input ---\n${JSON.stringify(input)}`);
      }
      assert.ok(e.line >= 1 && e.column >= 1, `ParseError position for input #${n}`);
      rejected++;
    }
  }
  assert.equal(recipes + rejected, RUNS);
  assert.ok(recipes > 0 && rejected > 0, `both outcomes occur (parsed ${parsed}, recipes ${recipes}, rejected ${rejected})`);
});

test('expansion fuzz: 3000 seeded words expand or fail with ExpansionError', () => {
  const rand = prng(42);
  const alphabet = ['$', '{', '}', ':', '-', '+', '?', '#', '%', '/', '\\', '"', "'", 'a', 'b', 'X', '*', ' ', '_', '1', '@'];
  const env = (name: string): string | undefined => (name === 'a' ? 'abcabc' : name === 'X' ? '' : undefined);
  for (let n = 0; n < 3000; n++) {
    let w = '';
    const len = Math.floor(rand() * 14);
    for (let i = 0; i < len; i++) w += alphabet[Math.floor(rand() * alphabet.length)];
    for (const fn of [expandWord, expandWords]) {
      try {
        fn(w, env);
      } catch (e) {
        assert.ok(e instanceof ExpansionError, `word ${JSON.stringify(w)} threw ${String(e)}`);
      }
    }
  }
});
