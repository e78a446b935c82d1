/**
 * The typed instruction layer: what toRecipe builds, and each validation error with
 * BuildKit's message (flags, argument counts, stage names, mounts, HEALTHCHECK, SHELL,
 * ONBUILD) including the "did you mean" suggestions for instructions and flags.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDockerfile } from '../../../grammar/parser.js';
import { toRecipe } from '../../../grammar/instructions.js';
import { ParseError } from '../../../grammar/parseError.js';
import { MountError, parseMount } from '../../../grammar/mount.js';
import { parseGoDuration } from '../../../grammar/goDuration.js';
import { parseExposedPorts } from '../../../grammar/ports.js';
import type { CopyInstruction, HealthcheckInstruction, RunInstruction } from '../../../grammar/recipe.js';

const recipe = (text: string) => toRecipe(parseDockerfile(text));

function rejects(text: string, message: string | RegExp, line?: number): void {
  let err: unknown;
  try { recipe(text); } catch (e) { err = e; }
  assert.ok(err instanceof ParseError, `expected ParseError for ${JSON.stringify(text)}, got ${String(err)}`);
  if (typeof message === 'string') assert.equal(err.message, message, text);
  else assert.match(err.message, message, text);
  if (line !== undefined) assert.equal(err.line, line, text);
}

test('stages, meta args and typed instructions', () => {
  const r = recipe([
    'ARG BASE=alpine', 'FROM --platform=$BUILDPLATFORM ${BASE} AS Build',
    'RUN --mount=type=cache,target=/root/.cache,id=go --network=none go build', 'COPY --from=build --chmod=755 --link a b /dst/',
    'COPY <<-EOF /etc/x', '\tx=1', 'EOF', 'ADD --checksum=sha256:00 --keep-git-dir --unpack=false https://x/y /z',
    'HEALTHCHECK --interval=1m30s --timeout=500ms --start-period=0 --retries=2 CMD curl -f x', 'SHELL ["bash", "-c"]',
    'ENTRYPOINT ["a"]', 'CMD b c', 'ONBUILD RUN <<E', 'hi', 'E', 'FROM build', 'STOPSIGNAL SIGKILL',
  ].join('\n') + '\n');
  assert.equal(r.metaArgs[0]?.args[0]?.key, 'BASE');
  assert.equal(r.stages.length, 2);
  const [s0, s1] = r.stages;
  assert.deepEqual([s0?.name, s0?.from.image, s0?.from.platform, s1?.from.image, s1?.name], ['build', '${BASE}', '$BUILDPLATFORM', 'build', undefined]);
  const run = s0?.instructions[0] as RunInstruction;
  assert.deepEqual(run.mounts[0], { type: 'cache', readonly: false, target: '/root/.cache', id: 'go' });
  assert.equal(run.network, 'none');
  assert.deepEqual(run.command, { form: 'shell', text: 'go build' });
  const copy = s0?.instructions[1] as CopyInstruction;
  assert.deepEqual([copy.from, copy.chmod, copy.link, copy.sources, copy.dest], ['build', '755', true, ['a', 'b'], '/dst/']);
  const hd = s0?.instructions[2] as CopyInstruction;
  assert.deepEqual([hd.sources, hd.heredocs[0]?.name, hd.heredocs[0]?.content], [[], 'EOF', 'x=1\n']);
  const add = s0?.instructions[3] as CopyInstruction;
  assert.deepEqual([add.kind, add.checksum, add.keepGitDir, add.unpack], ['ADD', 'sha256:00', true, false]);
  const hc = s0?.instructions[4] as HealthcheckInstruction;
  assert.deepEqual([hc.test, hc.interval, hc.timeout, hc.startPeriod, hc.retries], [['CMD-SHELL', 'curl -f x'], 90e9, 500e6, 0, 2]);
  assert.deepEqual(s0?.instructions.slice(5, 8).map((i) => i.kind), ['SHELL', 'ENTRYPOINT', 'CMD']);
  const onbuild = s0?.instructions[8];
  assert.equal(onbuild?.kind === 'ONBUILD' ? onbuild.expression : '', 'RUN <<E\nhi\nE');
});

test('unknown instructions and flags come with suggestions', () => {
  rejects('FROM a\nRUNN x\n', 'unknown instruction: RUNN (did you mean RUN?)', 2);
  rejects('FROM a\ncopi a b\n', 'unknown instruction: copi (did you mean copy?)');
  rejects('FROM a\nFROBNICATE\n', 'unknown instruction: FROBNICATE');
  rejects('FROM a\nCopi a b\n', 'unknown instruction: Copi (did you mean copy?)');
  rejects('FROM a\nCOPY --chwon=1 a b\n', 'unknown flag: --chwon (did you mean chown?)');
  rejects('FROM a\nADD --from=x a b\n', 'unknown flag: --from');
  rejects('FROM a\nRUN --mout=type=bind x\n', 'unknown flag: --mount'.replace('--mount', '--mout (did you mean mount?)'));
  rejects('FROM --platfrom=x a\n', 'unknown flag: --platfrom (did you mean platform?)');
  rejects('FROM a\nCMD --x y\n', 'unknown flag: --x');
});

test('flag values: booleans, missing values, duplicates', () => {
  rejects('FROM a\nCOPY --link=maybe a b\n', 'expecting boolean value for flag --link, not: maybe');
  rejects('FROM a\nCOPY --link= a b\n', 'missing a value on flag: --link');
  rejects('FROM a\nCOPY --chown a b\n', 'missing a value on flag: --chown');
  rejects('FROM a\nCOPY --chown=a --chown=b a b\n', 'duplicate flag specified: --chown');
  assert.deepEqual((recipe('FROM a\nCOPY --exclude=*.md --exclude=x a b\n').stages[0]?.instructions[0] as CopyInstruction).exclude, ['*.md', 'x']);
});

test('argument counts and shapes', () => {
  rejects('FROM\n', 'FROM requires either one or three arguments');
  rejects('FROM a b\n', 'FROM requires either one or three arguments');
  rejects('FROM a AS 1x\n', 'invalid name for build stage: "1x", name can\'t start with a number or contain symbols');
  rejects('FROM a\nCOPY x\n', 'COPY requires at least two arguments, but only one was provided. Destination could not be determined');
  rejects('FROM a\nCOPY x <<EOF\nEOF\n', 'COPY cannot accept a heredoc as a destination');
  rejects('FROM a\nUSER\n', 'USER requires exactly one argument');
  rejects('FROM a\nWORKDIR\n', 'WORKDIR requires exactly one argument');
  rejects('FROM a\nENV\n', 'ENV requires at least one argument');
  rejects('FROM a\nLABEL =x\n', 'LABEL names can not be blank');
  rejects('FROM a\nARG =x\n', 'ARG names can not be blank');
  rejects('FROM a\nEXPOSE\n', 'EXPOSE requires at least one argument');
  rejects('FROM a\nEXPOSE 80/foo\n', 'invalid port: "80/foo": invalid proto: foo');
  rejects('FROM a\nEXPOSE 99999\n', 'invalid containerPort: 99999');
  rejects('FROM a\nEXPOSE abc\n', 'invalid containerPort: abc');
  assert.deepEqual(parseExposedPorts(['8000-8002/UDP', '127.0.0.1:80:80', '"9"'.slice(1, 2)]), ['8000/udp', '8001/udp', '8002/udp', '80/tcp', '9/tcp']);
  assert.equal(recipe('FROM a\nEXPOSE 80 $P "443/tcp"\n').stages[0]?.instructions.length, 1);
  rejects('FROM a\nVOLUME []\n', 'VOLUME requires at least one argument');
  rejects('FROM a\nVOLUME [""]\n', 'VOLUME specified can not be an empty string');
  rejects('FROM a\nSHELL /bin/sh -c\n', 'SHELL requires the arguments to be in JSON form');
  rejects('FROM a\nSHELL []\n', 'SHELL requires at least one argument');
  rejects('FROM a\nSTOPSIGNAL SIGFOO\n', 'Invalid signal: SIGFOO');
  rejects('FROM a\nONBUILD ONBUILD RUN x\n', 'Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed');
  rejects('FROM a\nONBUILD from b\n', 'FROM isn\'t allowed as an ONBUILD trigger');
  rejects('RUN x\nFROM a\n', 'no build stage in current context', 1);
  rejects('ARG x\n', 'dockerfile contains no stages to build');
  assert.deepEqual(recipe('FROM a\nSTOPSIGNAL 9\nSTOPSIGNAL rtmin+3\nSTOPSIGNAL $S\nARG --ignored x\n').stages[0]?.instructions.length, 4);
});

test('HEALTHCHECK validation', () => {
  rejects('FROM a\nHEALTHCHECK\n', 'HEALTHCHECK requires at least one argument');
  rejects('FROM a\nHEALTHCHECK NONE x\n', 'HEALTHCHECK NONE takes no arguments');
  rejects('FROM a\nHEALTHCHECK CMD\n', 'Missing command after HEALTHCHECK CMD');
  rejects('FROM a\nHEALTHCHECK TEST x\n', 'Unknown type "TEST" in HEALTHCHECK (try CMD)');
  rejects('FROM a\nHEALTHCHECK --interval=10 CMD x\n', 'time: missing unit in duration "10"');
  rejects('FROM a\nHEALTHCHECK --timeout=10us CMD x\n', 'Interval "timeout" cannot be less than 1ms');
  rejects('FROM a\nHEALTHCHECK --retries=-1 CMD x\n', '--retries cannot be negative (-1)');
  rejects('FROM a\nHEALTHCHECK --retries=x CMD x\n', 'strconv.ParseInt: parsing "x": invalid syntax');
  assert.deepEqual((recipe('FROM a\nHEALTHCHECK CMD ["a","b"]\n').stages[0]?.instructions[0] as HealthcheckInstruction).test, ['CMD', 'a', 'b']);
  assert.equal(parseGoDuration('1h2m3.5s'), 3723.5e9);
  rejects('FROM a\nHEALTHCHECK --interval=1constructor CMD x\n', 'time: unknown unit "constructor" in duration "1constructor"');
  assert.equal(parseGoDuration('-1.5ms'), -1.5e6);
});

test('RUN flags and mounts', () => {
  rejects('FROM a\nRUN --network=bridge x\n', 'invalid network mode "bridge"');
  rejects('FROM a\nRUN --security=root x\n', 'security "root" is not valid');
  rejects('FROM a\nRUN --device=nvidia.com/gpu=all x\n', 'device feature is only supported in Dockerfile frontend 1.14.0-labs or later');
  rejects('FROM a\nRUN --device=a,foo=b x\n', "unexpected key 'foo' in 'foo=b'");
  rejects('FROM a\nRUN --mount=type=foo x\n', 'unsupported mount type "foo"');
  rejects('FROM a\nRUN --mount=type=cahce x\n', 'unsupported mount type "cahce" (did you mean cache?)');
  rejects('FROM a\nRUN --mount=type=bind,taget=/x x\n', "unexpected key 'taget' in 'taget=/x' (did you mean target?)");
  rejects('FROM a\nRUN --mount=type=bind,from=$X x\n', "'from' doesn't support variable expansion, define alias stage instead");
  rejects('FROM a\nRUN --mount=type=bind,mode=0700 x\n', 'mode not allowed for "bind" type mounts');
  rejects('FROM a\nRUN --mount=type=tmpfs,sharing=locked x\n', 'invalid cache sharing set for tmpfs mount');
  rejects('FROM a\nRUN --mount=type=secret x\n', 'invalid secret mount. one of source, target required');
  rejects('FROM a\nRUN --mount=type=cache,required x\n', "unexpected key 'required' for mount type 'cache'");
  rejects('FROM a\nCOPY --from=$X a b\n', 'variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround');
  const run = recipe('FROM a\nRUN --mount=type=secret,id=tok,env=TOKEN,required --mount=type=tmpfs,target=/t,size=64m --mount=type=ssh --mount=target=/$D x\n').stages[0]?.instructions[0] as RunInstruction;
  assert.deepEqual(run.mounts.slice(0, 3), [
    { type: 'secret', readonly: true, id: 'tok', env: 'TOKEN', required: true },
    { type: 'tmpfs', readonly: false, target: '/t', size: 64 * 1024 * 1024 },
    { type: 'ssh', readonly: true },
  ]);
  assert.equal(run.mountSpecs[3], 'target=/$D');
  assert.deepEqual(run.mounts[3], { type: 'bind', readonly: true, target: '/$D' });
  const vars = recipe('FROM a\nRUN --mount=type=cache,id=$ID,target=/c/$X,mode=$M,from=base x\n').stages[0]?.instructions[0] as RunInstruction;
  assert.deepEqual(vars.mounts[0], { type: 'cache', readonly: false, id: '$ID', target: '/c/$X', from: 'base' });
  assert.deepEqual(parseMount('target=/$D,"src=a,b"', (v) => v.replace('$D', 'data')), { type: 'bind', readonly: true, target: '/data', source: 'a,b' });
  assert.throws(() => parseMount('type=bind,x"y'), MountError);
});
