/**
 * The json-file log as moby writes it (escaping, entries cut at newlines and 16 KiB, RFC 3339
 * times), reading it back (tail offsets, entries from an offset), and `kiln logs`' time flags.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jsonStringOfBytes, LineCutter, logLine, MAX_ENTRY_BYTES } from '../../../../engine/runtime/lifecycle/jsonLog.js';
import { parseRfc3339, rfc3339Nano, rfc3339NanoFixed } from '../../../../engine/runtime/lifecycle/logClock.js';
import { parseLogLine, readEntriesFrom, tailOffset, type LogEntry } from '../../../../engine/runtime/lifecycle/logReader.js';
import { parseTimeFlag } from '../../../../engine/cli/logs.js';

const T = 1_796_600_733_489_018_150n; // 2026-12-06T23:45:33.48901815Z

test('entries are escaped as moby\'s jsonlog encoder escapes them (its own test vectors)', () => {
  const enc = (s: string | Buffer): string => jsonStringOfBytes(Buffer.isBuffer(s) ? s : Buffer.from(s)).toString();
  assert.equal(enc('"A log line with \\"'), '"\\"A log line with \\\\\\""');
  assert.equal(enc('A log line with \r'), '"A log line with \\r"');
  assert.equal(enc('A log line with & < >'), '"A log line with \\u0026 \\u003c \\u003e"');
  assert.equal(enc('A log line with utf8 : 🚀 ψ ω β'), '"A log line with utf8 : 🚀 ψ ω β"');
  assert.equal(enc('tab\there\u0001\n'), '"tab\\u0009here\\u0001\\n"');
  assert.equal(enc(Buffer.from([0x61, 0xff, 0x62, 0xed, 0xa0, 0x80])), '"a\\ufffdb\\ufffd\\ufffd\\ufffd"', 'each invalid byte (and a UTF-8 surrogate) is U+FFFD');
  assert.equal(enc('\u2028\u2029'), '"\\u2028\\u2029"');
});

test('a log line: log, stream and time in moby\'s order, RFC 3339 with trailing zeros dropped', () => {
  assert.equal(logLine(Buffer.from('hello\n'), 'stdout', T).toString(), '{"log":"hello\\n","stream":"stdout","time":"2026-12-06T23:45:33.48901815Z"}\n');
  assert.equal(rfc3339Nano(1_796_600_733_000_000_000n), '2026-12-06T23:45:33Z', 'no fraction when it is zero');
  assert.equal(rfc3339NanoFixed(T), '2026-12-06T23:45:33.489018150Z', '`docker logs -t` keeps nine digits');
  assert.equal(parseRfc3339('2026-12-06T23:45:33.48901815Z'), T);
  assert.equal(parseRfc3339('2026-12-07T00:45:33.48901815+01:00'), T);
  assert.equal(parseRfc3339('not a time'), undefined);
});

test('output is cut into entries as moby\'s copier cuts it', () => {
  const got: string[] = [];
  const cut = new LineCutter((text) => got.push(text.toString()));
  cut.push(Buffer.from('one\ntw'));
  cut.push(Buffer.from('o\nthree'));
  assert.deepEqual(got, ['one\n', 'two\n']);
  cut.end();
  assert.deepEqual(got, ['one\n', 'two\n', 'three'], 'what is left at the end is logged without a newline');
  const long: Buffer[] = [];
  const times: bigint[] = [];
  const cutLong = new LineCutter((text, time) => { long.push(Buffer.from(text)); times.push(time); });
  cutLong.push(Buffer.alloc(MAX_ENTRY_BYTES * 2 + 10, 0x61));
  cutLong.push(Buffer.from('\n'));
  assert.deepEqual(long.map((b) => b.length), [MAX_ENTRY_BYTES, MAX_ENTRY_BYTES, 11], 'a long line in 16 KiB pieces, the last with the newline');
  assert.equal(new Set(times).size, 1, 'the pieces of one line share its first piece\'s time');
});

test('reading back: entries from an offset, the offset of the last N lines, lines cut short skipped', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-logtest-'));
  try {
    const file = join(dir, 'x-json.log');
    const lines = Array.from({ length: 5 }, (_, i) => logLine(Buffer.from(`line ${i}\n`), i % 2 ? 'stderr' : 'stdout', T + BigInt(i)).toString());
    writeFileSync(file, lines.join(''));
    const read = (offset: number): string[] => {
      const out: LogEntry[] = [];
      readEntriesFrom(file, offset, (e) => out.push(e));
      return out.map((e) => `${e.stream}:${e.text.toString().trim()}`);
    };
    assert.deepEqual(read(0), ['stdout:line 0', 'stderr:line 1', 'stdout:line 2', 'stderr:line 3', 'stdout:line 4']);
    assert.deepEqual(read(tailOffset(file, 2)), ['stderr:line 3', 'stdout:line 4']);
    assert.deepEqual(read(tailOffset(file, 0)), []);
    assert.deepEqual(read(tailOffset(file, 99)), read(0));
    appendFileSync(file, '{"log":"half');
    assert.deepEqual(read(0).length, 5, 'a line still being written is not an entry yet');
    assert.equal(parseLogLine('{"log":"x","stream":"stdin","time":"2026-12-06T23:45:33Z"}'), undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--since / --until: durations before now, Unix seconds, RFC 3339', () => {
  const now = T;
  assert.equal(parseTimeFlag('42m', '--since', now), now - 42n * 60n * 1_000_000_000n);
  assert.equal(parseTimeFlag('1h30m', '--since', now), now - 90n * 60n * 1_000_000_000n);
  assert.equal(parseTimeFlag('1796600733.5', '--since', now), 1_796_600_733_500_000_000n);
  assert.equal(parseTimeFlag('2026-12-06T23:45:33.48901815Z', '--since', now), T);
  assert.throws(() => parseTimeFlag('yesterday', '--since', now), /failed to parse value as time or duration/);
});
