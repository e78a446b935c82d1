/**
 * The layer writer's own header encoding gives the bytes tar-stream's packer gives for the same
 * entries (layers written before and after keep their diff_ids): short, prefix-split, unsplittable
 * and non-ASCII names, long link targets, big owners, devices, PAX records and data padding.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pack as tarPack } from 'tar-stream';
import { END_OF_ARCHIVE, fitsUstar, headerBlocks, padding, writeUstarHeader, type TarHeader } from '../../../../engine/layer/tarHeader.js';

async function viaTarStream(entries: { h: TarHeader; body?: Buffer }[]): Promise<Buffer> {
  const p = tarPack();
  const chunks: Buffer[] = [];
  const reading = (async () => { for await (const c of p) chunks.push(c as Buffer); })();
  for (const { h, body } of entries) {
    const header = { ...h, mode: h.mode | (h.type === 'directory' ? 0o040000 : 0o100000), uname: '', gname: '', ...(h.pax ? { pax: h.pax } : {}) };
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null): void => (err ? reject(err) : resolve());
      if (h.type === 'file') p.entry(header, body ?? Buffer.alloc(0), cb);
      else p.entry(header, cb);
    });
  }
  p.finalize();
  await reading;
  return Buffer.concat(chunks);
}

function viaOwnEncoder(entries: { h: TarHeader; body?: Buffer }[]): Buffer {
  const out: Buffer[] = [];
  for (const { h, body } of entries) {
    const size = h.type === 'file' ? body?.length ?? 0 : 0;
    out.push(...headerBlocks({ ...h, size }));
    if (body) out.push(body, padding(body.length));
  }
  out.push(END_OF_ARCHIVE);
  return Buffer.concat(out);
}

const t0 = new Date(1_600_000_000_000);
function entry(name: string, more: Partial<TarHeader> = {}): TarHeader {
  return { name, mode: 0o644, uid: 0, gid: 0, size: 0, mtime: t0, type: 'file', linkname: '', devmajor: 0, devminor: 0, ...more };
}

test('header blocks match tar-stream byte for byte', async () => {
  const deep = `${'d'.repeat(60)}/${'e'.repeat(60)}/${'f'.repeat(50)}`;
  const entries: { h: TarHeader; body?: Buffer }[] = [
    { h: entry('dir/', { type: 'directory', mode: 0o2775, mtime: new Date(0) }) },
    { h: entry('dir/file', { mode: 0o4755, uid: 1000, gid: 1000 }), body: Buffer.from('hello\n') },
    { h: entry('dir/empty') , body: Buffer.alloc(0) },
    { h: entry('dir/block', { mode: 0o600 }), body: Buffer.alloc(512, 1) },
    { h: entry('dir/odd'), body: Buffer.alloc(1000, 2) },
    { h: entry(deep), body: Buffer.from('deep\n') },
    { h: entry('n'.repeat(150)), body: Buffer.from('long\n') },
    { h: entry('ünï/cödé'), body: Buffer.from('u\n') },
    { h: entry('link', { type: 'symlink', mode: 0o777, linkname: 'dir/file' }) },
    { h: entry('longlink', { type: 'symlink', mode: 0o777, linkname: 't'.repeat(120) }) },
    { h: entry('hard', { type: 'link', linkname: 'dir/file' }) },
    { h: entry('big-owner', { uid: 0o7777777, gid: 5_000_000, pax: { gid: '5000000', uid: String(0o7777777) } }), body: Buffer.from('x') },
    { h: entry('cap', { pax: { 'SCHILY.xattr.security.capability': 'abc' } }), body: Buffer.from('c') },
    { h: entry('dev/null', { type: 'character-device', mode: 0o666, devmajor: 1, devminor: 3 }) },
    { h: entry('dev/sda', { type: 'block-device', mode: 0o660, devmajor: 8, devminor: 0 }) },
    { h: entry('fifo', { type: 'fifo', mode: 0o600, mtime: new Date(1_234_567_890_000) }) },
    { h: entry('.wh.gone', { mode: 0o600, mtime: new Date(0) }), body: Buffer.alloc(0) },
    { h: entry('ünï/', { type: 'directory', mode: 0o755, pax: {} }) },
  ];
  const expected = await viaTarStream(entries);
  const actual = viaOwnEncoder(entries);
  assert.equal(actual.length, expected.length);
  assert.ok(actual.equals(expected), 'bytes differ');
});

test('a header written in place is the block headerBlocks gives; one that needs PAX is not written', () => {
  const plain = [
    entry('dir/file', { mode: 0o4755, uid: 1000, gid: 1000, size: 6 }),
    entry(`${'d'.repeat(60)}/${'e'.repeat(60)}/${'f'.repeat(50)}`, { size: 5 }),
    entry('big', { size: 0o77777777777, mtime: new Date(0o7777777777 * 1000) }),
    entry('link', { type: 'symlink', mode: 0o777, linkname: 'dir/file' }),
    entry('dev/null', { type: 'character-device', mode: 0o666, devmajor: 1, devminor: 3 }),
  ];
  for (const h of plain) {
    const buf = Buffer.alloc(1024, 0xff);
    assert.ok(fitsUstar(h), h.name);
    assert.ok(writeUstarHeader(buf, 256, h), h.name);
    assert.ok(buf.subarray(256, 768).equals(headerBlocks(h)[0] as Buffer), `${h.name}: bytes differ`);
    assert.ok(buf.subarray(0, 256).every((b) => b === 0xff) && buf.subarray(768).every((b) => b === 0xff), `${h.name}: wrote outside its block`);
  }
  for (const h of [entry('n'.repeat(150)), entry('ünï'), entry('cap', { pax: { 'SCHILY.xattr.security.capability': 'abc' } }), entry('l', { type: 'symlink', linkname: 't'.repeat(120) })]) {
    const buf = Buffer.alloc(512, 0xff);
    assert.equal(fitsUstar(h), false, h.name);
    assert.equal(writeUstarHeader(buf, 0, h), false, h.name);
    assert.ok(buf.every((b) => b === 0xff), `${h.name}: wrote something`);
  }
});
