import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseArgs, type CommandSpec } from '../../../../engine/cli/args.js';
import { KilnError } from '../../../../engine/errors/kilnError.js';

const spec: CommandSpec = {
  name: 'demo',
  usage: '[OPTIONS] IMAGE [COMMAND] [ARG...]',
  minArgs: 1,
  stopAtFirstPositional: true,
  flags: [
    { name: 'tag', short: 't', kind: 'list', description: '' },
    { name: 'quiet', short: 'q', kind: 'bool', description: '' },
    { name: 'interactive', short: 'i', kind: 'bool', description: '' },
    { name: 'file', short: 'f', kind: 'string', description: '' },
  ],
};

test('long, short, attached and clustered flags', () => {
  const a = parseArgs(spec, ['-t', 'a', '--tag=b', '-tc', '-qi', '--file', 'F', 'img', '-x', '--y']);
  assert.deepEqual(a.lists.get('tag'), ['a', 'b', 'c']);
  assert.ok(a.bools.has('quiet') && a.bools.has('interactive'));
  assert.equal(a.strings.get('file'), 'F');
  assert.deepEqual(a.positionals, ['img', '-x', '--y']);
});

test('unknown flag is a usage error with a suggestion and exit 2', () => {
  assert.throws(() => parseArgs(spec, ['--tagg', 'x', 'img']), (e: unknown) => {
    assert.ok(e instanceof KilnError);
    assert.equal(e.exitCode, 2);
    assert.match(e.message, /unknown flag: --tagg \(did you mean --tag\?\)/);
    return true;
  });
});

test('missing value and missing positional are usage errors', () => {
  assert.deepEqual(parseArgs(spec, ['img', '--file']).positionals, ['img', '--file']);
  assert.throws(() => parseArgs({ ...spec, stopAtFirstPositional: false }, ['img', '--file']), /flag needs an argument/);
  assert.throws(() => parseArgs(spec, ['-q']), /requires at least 1 argument/);
});
