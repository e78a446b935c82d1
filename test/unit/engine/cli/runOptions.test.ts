import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  checkContainerName, composeArgv, mergeEnv, parseBytes, parseCpus, parseEnvFile, parseEnvFlag, parseMemory, parsePidsLimit, parseTmpfs, parseVolume,
} from '../../../../engine/cli/runOptions.js';

test('sizes in docker\'s units', () => {
  assert.equal(parseMemory('64m'), 64 * 1024 * 1024);
  assert.equal(parseMemory('1g'), 1024 ** 3);
  assert.equal(parseMemory('1.5G'), 1.5 * 1024 ** 3);
  assert.equal(parseBytes('512k', 'x'), 512 * 1024);
  assert.equal(parseBytes('100', 'x'), 100);
  assert.equal(parseBytes('10mb', 'x'), 10 * 1024 * 1024);
  assert.throws(() => parseMemory('lots'), /expected a size/);
  assert.throws(() => parseMemory('1m'), /Minimum memory limit allowed is 6MB/);
});

test('cpus and pids-limit', () => {
  assert.equal(parseCpus('1.5'), 1.5);
  assert.throws(() => parseCpus('0'), /--cpus/);
  assert.equal(parsePidsLimit('30'), 30);
  assert.equal(parsePidsLimit('-1'), undefined);
  assert.throws(() => parsePidsLimit('x'), /--pids-limit/);
});

test('-v SRC:DST[:ro] and --tmpfs', () => {
  assert.deepEqual(parseVolume('/h:/c'), { type: 'bind', source: '/h', target: '/c', readonly: false });
  assert.deepEqual(parseVolume('/h:/c:ro'), { type: 'bind', source: '/h', target: '/c', readonly: true });
  assert.deepEqual(parseVolume('/h:/c:rw,z'), { type: 'bind', source: '/h', target: '/c', readonly: false });
  assert.throws(() => parseVolume('data:/c'), /named volumes are not supported/);
  assert.throws(() => parseVolume('/h:c'), /must be absolute/);
  assert.throws(() => parseVolume('/h'), /invalid volume specification/);
  assert.throws(() => parseVolume('/h:/c:bogus'), /invalid mode: bogus/);
  assert.deepEqual(parseTmpfs('/run'), { type: 'tmpfs', target: '/run' });
  assert.deepEqual(parseTmpfs('/run:rw,size=1m'), { type: 'tmpfs', target: '/run', size: 1024 * 1024 });
  assert.throws(() => parseTmpfs('run'), /must be absolute/);
});

test('env files, -e and merging (later wins, first position kept)', () => {
  assert.deepEqual(parseEnvFile('# c\n\nA=1\n  B=two words\nHOSTVAR\nUNSET\n', { HOSTVAR: 'h' }), ['A=1', 'B=two words', 'HOSTVAR=h']);
  assert.throws(() => parseEnvFile('=x\n', {}), /invalid environment variable/);
  assert.equal(parseEnvFlag('K=V=W', {}), 'K=V=W');
  assert.equal(parseEnvFlag('HOME', { HOME: '/h' }), 'HOME=/h');
  assert.equal(parseEnvFlag('NOPE', {}), undefined);
  assert.deepEqual(mergeEnv(['PATH=/a', 'X=1'], ['Y=2', 'PATH=/b']), ['PATH=/b', 'X=1', 'Y=2']);
});

test('Entrypoint and Cmd combine as docker combines them', () => {
  const img = { Entrypoint: ['/ep'], Cmd: ['c1', 'c2'] };
  assert.deepEqual(composeArgv(img, undefined, []), ['/ep', 'c1', 'c2']);
  assert.deepEqual(composeArgv(img, undefined, ['x']), ['/ep', 'x']);
  assert.deepEqual(composeArgv(img, 'sh', []), ['sh']);
  assert.deepEqual(composeArgv(img, 'sh', ['-c', 'true']), ['sh', '-c', 'true']);
  assert.deepEqual(composeArgv(img, '', ['ls']), ['ls']);
  assert.deepEqual(composeArgv({ Cmd: ['sh'] }, undefined, []), ['sh']);
  assert.throws(() => composeArgv({ Entrypoint: null, Cmd: null }, undefined, []), /No command specified/);
});

test('container names', () => {
  assert.equal(checkContainerName('web_1.a-b'), 'web_1.a-b');
  assert.equal(checkContainerName('/web'), 'web');
  assert.throws(() => checkContainerName('-bad'), /Invalid container name/);
  assert.throws(() => checkContainerName('a'), /Invalid container name/);
});
