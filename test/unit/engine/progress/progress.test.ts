import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { Progress } from '../../../../engine/progress/progress.js';
import { PlainSink } from '../../../../engine/progress/plain.js';
import { JsonSink } from '../../../../engine/progress/json.js';
import { TtySink } from '../../../../engine/progress/tty.js';
import type { ProgressSink } from '../../../../engine/progress/events.js';

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

/** A fixed script of events with a fake clock: two steps interleaved, one cached, one failing. */
async function script(sink: ProgressSink): Promise<void> {
  let t = 1_000_000;
  const p = new Progress(sink, () => t);
  const a = p.step('[a 1/2] RUN make', 'a');
  const b = p.step('[b 1/1] RUN false', 'b');
  const c = p.step('[a 2/2] COPY . /src', 'a');
  p.started(a);
  t += 100;
  p.started(b);
  p.output(a, 'stdout', 'cc -o app');
  t += 212;
  p.output(a, 'stdout', ' main.c\nlinking\n');
  p.output(b, 'stderr', Buffer.from('oops'));
  t += 288;
  p.error(b, 'process "/bin/sh -c false" did not complete successfully: exit code: 1');
  t += 800;
  p.done(a);
  p.note(c, 'HIT');
  p.cached(c);
  await p.close();
}

test('plain: #N headers, #N-prefixed output with elapsed time, DONE with duration, CACHED, ERROR', async () => {
  const out = new Capture();
  await script(new PlainSink(out));
  assert.equal(
    out.text,
    [
      '#1 [a 1/2] RUN make',
      '#2 [b 1/1] RUN false',
      '#1 0.312 cc -o app main.c',
      '#1 0.312 linking',
      '#2 0.500 oops',
      '#2 ERROR: process "/bin/sh -c false" did not complete successfully: exit code: 1',
      '',
      '#1 DONE 1.4s',
      '',
      '#3 HIT',
      '#3 [a 2/2] COPY . /src',
      '#3 CACHED',
      '',
      '',
    ].join('\n'),
  );
});

test('json: one parseable object per event, with id, name, stage and times', async () => {
  const out = new Capture();
  await script(new JsonSink(out));
  const events = out.text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(events.map((e) => `${e.event}#${e.id}`), ['started#1', 'started#2', 'output#1', 'output#1', 'output#2', 'error#2', 'done#1', 'note#3', 'cached#3']);
  const done = events[6] as Record<string, unknown>;
  assert.equal(done.stage, 'a');
  assert.equal(done.name, '[a 1/2] RUN make');
  assert.equal(done.duration, 1.4);
  assert.equal(done.started, new Date(1_000_000).toISOString());
  assert.equal((events[5] as Record<string, unknown>).error, 'process "/bin/sh -c false" did not complete successfully: exit code: 1');
  assert.equal((events[8] as Record<string, unknown>).cached, true);
  assert.equal(events.filter((e) => e.event === 'output').map((e) => e.output).join(''), 'cc -o app main.c\nlinking\noops');
});

test('tty: running steps show a timer and their output tail, finished ones collapse to one line', async () => {
  let now = 0;
  const out = new Capture();
  const tty = new TtySink(out, { columns: 60, rows: 30, now: () => now, live: false });
  const p = new Progress(tty, () => now);
  const a = p.step('[a 1/1] RUN make', 'a');
  const b = p.step('[b 1/1] RUN test', 'b');
  p.started(a);
  p.started(b);
  for (let i = 1; i <= 9; i++) p.output(a, 'stdout', `line ${i}\n`);
  now = 1500;
  const frame = tty.frame().map((l) => l.replace(/\x1b\[[0-9;]*m/g, ''));
  assert.equal(frame[0], '[+] Building 1.5s (0/2)');
  assert.equal(frame[1], ` => [a 1/1] RUN make${' '.repeat(60 - 20 - 5)} 1.5s`);
  assert.deepEqual(frame.slice(2, 8), [4, 5, 6, 7, 8, 9].map((i) => ` => => # line ${i}`), 'only the last six lines');
  p.done(a);
  const after = tty.frame().map((l) => l.replace(/\x1b\[[0-9;]*m/g, ''));
  assert.equal(after.length, 3, 'finished step collapsed, running one has no output');
  assert.match(after[1] as string, /^ => \[a 1\/1\] RUN make +1\.5s$/);
  tty.render();
  now = 2000;
  p.done(b);
  await p.close();
  // The second frame moves the cursor back over the first and redraws in place.
  assert.match(out.text, /\x1b\[3A/);
  assert.match(out.text, /\[\+\] Building 2\.0s \(2\/2\)/);
});

test('tty: a frame never grows past the terminal height', () => {
  const tty = new TtySink(new Capture(), { columns: 80, rows: 10, live: false });
  const p = new Progress(tty);
  for (let i = 0; i < 30; i++) p.done(p.step(`[s ${i}/30] RUN true`, 's'));
  assert.equal(tty.frame().length, 9);
});

/** A build check's warning on the Dockerfile step, then a hidden step (ENV) that shows nothing. */
async function warned(sink: ProgressSink): Promise<void> {
  const p = new Progress(sink, () => 0);
  const definition = p.step('[internal] load build definition from Dockerfile', 'internal');
  p.started(definition);
  p.warning(definition, {
    rule: 'StageNameCasing', message: "Stage name 'Base' should be lowercase", description: 'Stage names should be lowercase',
    url: 'https://docs.docker.com/go/dockerfile/rule/stage-name-casing/', line: 1, text: "StageNameCasing: Stage name 'Base' should be lowercase (line 1)",
  });
  p.done(definition);
  const env = p.hidden('ENV A=1', '0');
  p.started(env);
  p.note(env, 'HIT');
  p.done(env);
  const run = p.step('[2/2] RUN true', '0');
  p.started(run);
  p.done(run);
  await p.close();
}

test('warnings: plain prints them under their step and again after the build; a hidden step prints nothing and takes no #N', async () => {
  const out = new Capture();
  await warned(new PlainSink(out));
  assert.equal(out.text, [
    '#1 [internal] load build definition from Dockerfile',
    "#1 WARN: StageNameCasing: Stage name 'Base' should be lowercase (line 1)",
    '#1 DONE 0.0s',
    '',
    '#2 [2/2] RUN true',
    '#2 DONE 0.0s',
    '',
    "WARN: StageNameCasing: Stage name 'Base' should be lowercase (line 1)",
    '',
  ].join('\n'));
});

test('warnings: json has a warning event with the rule, line and URL, and no summary; tty lists them under the step and after', async () => {
  const out = new Capture();
  await warned(new JsonSink(out));
  const events = out.text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(events.map((e) => `${e.event}#${e.id}`), ['started#1', 'warning#1', 'done#1', 'started#2', 'done#2']);
  assert.deepEqual({ ...events[1], time: undefined }, {
    event: 'warning', id: 1, name: '[internal] load build definition from Dockerfile', stage: 'internal', time: undefined,
    warning: "StageNameCasing: Stage name 'Base' should be lowercase (line 1)", rule: 'StageNameCasing', message: "Stage name 'Base' should be lowercase",
    description: 'Stage names should be lowercase', url: 'https://docs.docker.com/go/dockerfile/rule/stage-name-casing/', line: 1,
  });
  const tty = new Capture();
  await warned(new TtySink(tty, { columns: 100, rows: 30, now: () => 0, live: false }));
  const text = tty.text.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');
  assert.match(text, /=> \[internal\] load build definition from Dockerfile +0\.0s\n => WARN: StageNameCasing: Stage name 'Base' should be lowercase \(line 1\)\n/);
  assert.match(text, /\nWARN: StageNameCasing: Stage name 'Base' should be lowercase \(line 1\)\n$/);
  assert.doesNotMatch(text, /ENV A=1/);
});
