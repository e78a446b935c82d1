import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportRecords, importRecords, keysUsedSince, receiveRecords, sendRecords, type CacheCarrier } from '../../../cache/exchange.js';
import type { CacheRecord } from '../../../cache/record.js';
import { CacheIndex } from '../../../cache/recordIndex.js';
import { KilnError } from '../../../engine/errors/kilnError.js';
import { Store } from '../../../engine/store/store.js';

/** A carrier that keeps what is sent in memory, and says which layers were asked for. */
function memoryCarrier(): CacheCarrier & { sent?: { file: Buffer; diffIds: string[] }; asked: string[][] } {
  const carrier: CacheCarrier & { sent?: { file: Buffer; diffIds: string[] }; asked: string[][] } = {
    name: 'memory',
    asked: [],
    send: async (file, diffIds) => { carrier.sent = { file, diffIds: [...diffIds] }; },
    receiveFile: async () => (carrier.sent ? { bytes: carrier.sent.file, layers: carrier.sent.diffIds.length } : undefined),
    receiveLayers: async (diffIds) => { carrier.asked.push([...diffIds]); },
  };
  return carrier;
}

const layer = (c: string): string => `sha256:${c.repeat(64)}`;
const record = (k: string, diffIds: string[] = []): CacheRecord => ({ key: k.repeat(32), diffIds, config: { k }, createdAt: '2026-01-01T00:00:00.000Z' });

test('records sent are received as they were, sorted by key, their layers fetched once each in order', async () => {
  const carrier = memoryCarrier();
  const records = [record('b', [layer('2'), layer('1')]), record('a', [layer('1')]), record('c')];
  await sendRecords(records, carrier);
  assert.deepEqual(carrier.sent?.diffIds, [layer('2'), layer('1')]);
  const received = await receiveRecords(carrier);
  assert.deepEqual(received, [records[1], records[0], records[2]]);
  assert.deepEqual(carrier.asked, [[layer('2'), layer('1')]]);
});

test('nothing at the other end yet is no records, not an error', async () => {
  assert.deepEqual(await receiveRecords(memoryCarrier()), []);
});

test('a file kiln does not understand is NOT_A_CACHE; a malformed record is never sent', async () => {
  const carrier = memoryCarrier();
  carrier.sent = { file: Buffer.from('not json'), diffIds: [] };
  await assert.rejects(receiveRecords(carrier), (e: unknown) => e instanceof KilnError && e.code === 'NOT_A_CACHE' && /not JSON/.test(e.message));
  carrier.sent = { file: Buffer.from(JSON.stringify({ kilnCacheVersion: 2, records: [], diffIds: [] })), diffIds: [] };
  await assert.rejects(receiveRecords(carrier), (e: unknown) => e instanceof KilnError && e.code === 'NOT_A_CACHE' && /version 2/.test(e.message));
  // The file's layer list must match what travels with it.
  carrier.sent = { file: Buffer.from(JSON.stringify({ kilnCacheVersion: 1, records: [], diffIds: [layer('1')] })), diffIds: [] };
  await assert.rejects(receiveRecords(carrier), (e: unknown) => e instanceof KilnError && e.code === 'NOT_A_CACHE');
  await assert.rejects(sendRecords([{ ...record('a'), key: 'short' }], memoryCarrier()), (e: unknown) => e instanceof KilnError && e.code === 'BAD_CACHE_RECORD');
});

test('received records that are malformed or name a layer that did not travel are dropped', async () => {
  const carrier = memoryCarrier();
  const good = record('a', [layer('1')]);
  const file = { kilnCacheVersion: 1, records: [good, { ...record('b'), key: 'B'.repeat(32) }, record('c', [layer('9')]), { key: 'd'.repeat(32) }], diffIds: [layer('1')] };
  carrier.sent = { file: Buffer.from(JSON.stringify(file)), diffIds: [layer('1')] };
  assert.deepEqual(await receiveRecords(carrier), [good]);
});

test('export sends the index records of the keys asked for (the ones it has); import files them', async () => {
  const root = mkdtempSync(join(tmpdir(), 'kiln-exchange-'));
  try {
    const store = await Store.open({ root: join(root, 'a') });
    const index = new CacheIndex(store.root);
    const [old, used] = [record('e'), record('f')];
    await index.put(old);
    const past = new Date(Date.now() - 3600_000);
    utimesSync(join(index.dir, 'ee', `${old.key}.json`), past, past);
    const started = new Date();
    await index.put(used);
    const keys = await keysUsedSince(index, started);
    assert.deepEqual(keys, [used.key], 'only what the build touched');
    const carrier = memoryCarrier();
    assert.equal(await exportRecords(store, index, [...keys, '0'.repeat(32)], carrier), 1);
    const other = new CacheIndex(join(root, 'b'));
    assert.equal(await importRecords(other, carrier), 1);
    assert.deepEqual(await other.get(used.key), used);
    assert.equal(await other.get(old.key), undefined);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
