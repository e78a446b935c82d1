import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveUser } from '../../../../engine/runtime/users.js';
import { KilnError } from '../../../../engine/errors/kilnError.js';

const PASSWD = 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n# comment\nbroken line\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n';
const GROUP = 'root:x:0:\nwheel:x:10:app,other\napp:x:1000:\nstaff:x:50: app \nnogroup:x:65534:\n';

test('empty spec is root with root\'s passwd entry', () => {
  assert.deepEqual(resolveUser('', PASSWD, GROUP), { uid: 0, gid: 0, additionalGids: [0], home: '/root' });
});

test('a name: uid, primary gid, groups listing the user, home', () => {
  assert.deepEqual(resolveUser('app', PASSWD, GROUP), { uid: 1000, gid: 1000, additionalGids: [1000, 10, 50], home: '/home/app' });
});

test('an explicit group replaces the primary gid and drops the member groups', () => {
  assert.deepEqual(resolveUser('app:wheel', PASSWD, GROUP), { uid: 1000, gid: 10, additionalGids: [10], home: '/home/app' });
  assert.deepEqual(resolveUser('app:4242', PASSWD, GROUP), { uid: 1000, gid: 4242, additionalGids: [4242], home: '/home/app' });
});

test('numeric uids need no passwd entry; known ones take its gid', () => {
  assert.deepEqual(resolveUser('1234', PASSWD, GROUP), { uid: 1234, gid: 0, additionalGids: [0], home: '/' });
  assert.deepEqual(resolveUser('1000', PASSWD, GROUP), { uid: 1000, gid: 1000, additionalGids: [1000, 10, 50], home: '/home/app' });
  assert.deepEqual(resolveUser('1234:5678', undefined, undefined), { uid: 1234, gid: 5678, additionalGids: [5678], home: '/' });
});

test('unknown names and out-of-range ids are user errors', () => {
  assert.throws(() => resolveUser('ghost', PASSWD, GROUP), (e: unknown) => e instanceof KilnError && /unable to find user ghost: no matching entries in passwd file/.test(e.message));
  assert.throws(() => resolveUser('app:ghosts', PASSWD, GROUP), (e: unknown) => e instanceof KilnError && /unable to find group ghosts/.test(e.message));
  assert.throws(() => resolveUser('99999999999', PASSWD, GROUP), /out of range/);
  assert.throws(() => resolveUser('app', undefined, undefined), /unable to find user app/);
});
