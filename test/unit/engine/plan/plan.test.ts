import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ArgInstruction, Recipe, Stage, StageInstruction } from '../../../../grammar/recipe.js';
import type { Instruction } from '../../../../grammar/ast.js';
import { evaluateGlobalArgs, StageArgs } from '../../../../engine/plan/args.js';
import type { Lookup, WordExpander } from '../../../../engine/plan/expander.js';
import { planStages } from '../../../../engine/plan/graph.js';
import { automaticArgs } from '../../../../engine/plan/automaticArgs.js';
import { parsePlatform } from '../../../../engine/image/platform.js';

/** `$X` / `${X}` / `${X:-d}` only: enough to test scoping without the grammar. */
const expand = (text: string, lookup: Lookup): string =>
  text.replace(/\$\{(\w+):-([^}]*)\}|\$\{(\w+)\}|\$(\w+)/g, (_m, a: string, d: string, b: string, c: string) => {
    if (a !== undefined) { const v = lookup(a); return v === undefined || v === '' ? d : v; }
    return lookup(b ?? c) ?? '';
  });
const expander: WordExpander = { word: expand, words: (t, l) => expand(t, l).split(/\s+/).filter(Boolean), raw: expand };

const range = { start: { line: 1, column: 1 }, end: { line: 1, column: 1 } };
const source = {} as Instruction;
const arg = (...pairs: [string, string?][]): ArgInstruction => ({ kind: 'ARG', range, source, args: pairs.map(([key, value]) => (value === undefined ? { key } : { key, value })) });
const copyFrom = (from: string): StageInstruction => ({ kind: 'COPY', range, source, sources: ['/x'], dest: '/x', heredocs: [], from, link: false, parents: false, exclude: [] });
const stage = (index: number, image: string, name: string | undefined, instructions: StageInstruction[] = []): Stage => ({
  index, ...(name ? { name } : {}), from: { kind: 'FROM', range, source, image }, instructions,
});
const platform = parsePlatform('linux/amd64');
const auto = automaticArgs(platform, platform, 'default');

test('global ARGs: defaults expand earlier globals, --build-arg overrides, platform args are there', () => {
  const g = evaluateGlobalArgs([arg(['BASE', 'busybox']), arg(['TAG', '${BASE}-1']), arg(['V'])], new Map([['BASE', 'alpine']]), auto, expander);
  assert.equal(g.get('BASE'), 'alpine');
  assert.equal(g.get('TAG'), 'alpine-1');
  assert.equal(g.has('V'), true);
  assert.equal(g.get('V'), undefined);
  assert.equal(g.get('TARGETARCH'), 'amd64');
  assert.equal(g.get('TARGETPLATFORM'), 'linux/amd64');
});

test('stage ARGs: visible once declared, build-arg beats default, bare ARG imports the global, ENV wins', () => {
  const globals = new Map<string, string | undefined>([['VERSION', '1.0'], ['TARGETOS', 'linux']]);
  const args = new StageArgs(globals, new Map([['MODE', 'prod']]));
  assert.equal(args.lookup(undefined)('VERSION'), undefined, 'a global is not visible in a stage until declared');
  args.declare('VERSION', undefined, undefined, expander);
  assert.equal(args.lookup(undefined)('VERSION'), '1.0');
  args.declare('MODE', 'dev', undefined, expander);
  assert.equal(args.lookup(undefined)('MODE'), 'prod');
  args.declare('DIR', '/opt/$MODE', undefined, expander);
  assert.equal(args.lookup(undefined)('DIR'), '/opt/prod');
  const env = ['MODE=from-env', 'PATH=/bin'];
  assert.equal(args.lookup(env)('MODE'), 'from-env');
  assert.deepEqual(args.runEnv(env), ['MODE=from-env', 'PATH=/bin', 'VERSION=1.0', 'DIR=/opt/prod']);
  assert.equal(args.historyPrefix(env), '|3 VERSION=1.0 MODE=from-env DIR=/opt/prod ');
});

test('undeclared build-args do nothing, except the proxy variables which reach RUN', () => {
  const args = new StageArgs(new Map(), new Map([['UNUSED', 'x'], ['http_proxy', 'http://p:3128']]));
  assert.equal(args.lookup(undefined)('UNUSED'), undefined);
  assert.deepEqual(args.runEnv([]), ['http_proxy=http://p:3128', 'HTTP_PROXY=http://p:3128']);
  assert.equal(args.historyPrefix([]), '');
});

test('a proxy build arg reaches RUN under both spellings; a spelling given itself keeps its value', () => {
  const args = new StageArgs(new Map(), new Map([['HTTPS_PROXY', 'http://upper'], ['https_proxy', 'http://lower'], ['NO_PROXY', 'localhost']]));
  assert.deepEqual(args.runEnv([]), ['HTTPS_PROXY=http://upper', 'https_proxy=http://lower', 'NO_PROXY=localhost', 'no_proxy=localhost']);
  assert.deepEqual(args.runEnv(['no_proxy=from-env']), ['no_proxy=from-env', 'HTTPS_PROXY=http://upper', 'https_proxy=http://lower', 'NO_PROXY=localhost']);
});

test('a stage built FROM another inherits its ARGs; a fork does not leak back', () => {
  const parent = new StageArgs(new Map(), new Map());
  parent.declare('A', '1', undefined, expander);
  const child = parent.fork();
  child.declare('B', '2', undefined, expander);
  assert.equal(child.lookup(undefined)('A'), '1');
  assert.equal(parent.lookup(undefined)('B'), undefined);
});

const recipe = (stages: Stage[], metaArgs: ArgInstruction[] = []): Recipe => ({ metaArgs, stages, escape: '\\', directives: [], parseWarnings: [] });

test('graph: base stage, COPY --from by name and index, images and scratch; target prunes the rest', () => {
  const r = recipe([
    stage(0, 'busybox', 'base'),
    stage(1, 'base', 'build', [copyFrom('0')]),
    stage(2, 'scratch', 'unused'),
    stage(3, 'busybox', 'tools'),
    stage(4, 'scratch', 'final', [copyFrom('build'), copyFrom('tools'), copyFrom('alpine:3')]),
  ]);
  const plan = planStages(r, { globals: new Map(), namedContexts: new Set(), expander, dockerfileName: 'Dockerfile' });
  assert.equal(plan.target, 4);
  assert.deepEqual(plan.order, [0, 1, 3, 4]);
  assert.deepEqual([...(plan.stages[1]?.deps ?? [])].sort(), [0]);
  assert.deepEqual(plan.stages[1]?.base, { kind: 'stage', index: 0 });
  assert.deepEqual(plan.stages[2]?.base, { kind: 'scratch' });
  assert.deepEqual(plan.stages[0]?.base, { kind: 'image', ref: 'busybox' });
  const t = planStages(r, { globals: new Map(), target: 'BUILD', namedContexts: new Set(), expander, dockerfileName: 'Dockerfile' });
  assert.deepEqual(t.order, [0, 1]);
});

test('graph: the stages a stage reads, in the order its steps first read them, inherited triggers first, its base left out', () => {
  const r = recipe([
    stage(0, 'busybox', 'a'),
    stage(1, 'busybox', 'b'),
    stage(2, 'busybox', 'c'),
    stage(3, 'a', 'final', [copyFrom('c'), copyFrom('a'), copyFrom('alpine:3'), copyFrom('c'), copyFrom('1')]),
  ]);
  const plan = planStages(r, { globals: new Map(), namedContexts: new Set(), expander, dockerfileName: 'Dockerfile', triggerFroms: new Map([[3, ['b']]]) });
  assert.deepEqual(plan.stages[3]?.reads, [1, 2]);
  assert.deepEqual([...(plan.stages[3]?.deps ?? [])].sort(), [0, 1, 2]);
  assert.deepEqual(plan.stages[0]?.reads, []);
});

test('graph: FROM expands global ARGs; named contexts win; unknown target and $ in --from are errors', () => {
  const r = recipe([stage(0, '${IMG}', undefined), stage(1, 'ctx', 'b', [copyFrom('web')])]);
  const plan = planStages(r, { globals: new Map([['IMG', 'debian']]), namedContexts: new Set(['ctx', 'web']), expander, dockerfileName: 'Dockerfile' });
  assert.equal(plan.stages[0]?.baseName, 'debian');
  assert.deepEqual(plan.stages[1]?.base, { kind: 'context', name: 'ctx' });
  assert.deepEqual(plan.order, [1]);
  assert.throws(() => planStages(r, { globals: new Map([['IMG', 'x']]), target: 'nope', namedContexts: new Set(), expander, dockerfileName: 'Dockerfile' }), /target stage "nope" could not be found/);
  const bad = recipe([stage(0, 'scratch', 'a', [copyFrom('$X')])]);
  assert.throws(() => planStages(bad, { globals: new Map(), namedContexts: new Set(), expander, dockerfileName: 'Dockerfile' }), /variable expansion is not supported for --from/);
});

test('a later stage cannot be named by --from: it is an image reference', () => {
  const r = recipe([stage(0, 'scratch', 'a', [copyFrom('b')]), stage(1, 'scratch', 'b')]);
  const plan = planStages(r, { globals: new Map(), target: 'a', namedContexts: new Set(), expander, dockerfileName: 'Dockerfile' });
  assert.deepEqual(plan.order, [0]);
});

test('an ARG declared again keeps the place of its first declaration, with the new value (RUN\'s |N history)', () => {
  const args = new StageArgs(new Map(), new Map());
  args.declare('foo', 'bar', undefined, expander);
  args.declare('bar', '123', undefined, expander);
  args.declare('foo', 'bar2', undefined, expander);
  assert.equal(args.historyPrefix(undefined), '|2 foo=bar2 bar=123 ');
  assert.deepEqual(args.runEnv(undefined), ['foo=bar2', 'bar=123']);
});
