import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { runGraph, SingleFlight, type GraphTask } from '../../../../engine/schedule/scheduler.js';

function sleeper(id: string, deps: string[], ms: number, log: string[], fail?: Error): GraphTask<string> {
  return {
    id,
    deps,
    run: async (signal, got) => {
      log.push(`start ${id}`);
      try {
        for (const d of deps) assert.equal(got.get(d), `result ${d}`);
        await sleep(ms, undefined, { signal });
        if (fail) throw fail;
        return `result ${id}`;
      } finally {
        log.push(`end ${id}${signal.aborted ? ' (aborted)' : ''}`);
      }
    },
  };
}

test('independent tasks all start before any ends; a dependent starts only after all its deps end', async () => {
  const log: string[] = [];
  const tasks = ['a', 'b', 'c', 'd'].map((s) => sleeper(s, [], 50, log));
  tasks.push(sleeper('final', ['a', 'b', 'c', 'd'], 1, log));
  const results = await runGraph(tasks, { jobs: 4 });
  assert.deepEqual(log.slice(0, 4).sort(), ['start a', 'start b', 'start c', 'start d']);
  assert.deepEqual(log.slice(-2), ['start final', 'end final']);
  assert.equal(results.get('final'), 'result final');
  assert.equal(results.size, 5);
});

test('--jobs bounds how many run at once', async () => {
  let running = 0;
  let peak = 0;
  const tasks: GraphTask<number>[] = Array.from({ length: 6 }, (_, i) => ({
    id: `t${i}`,
    deps: [],
    run: async () => {
      peak = Math.max(peak, ++running);
      await sleep(10);
      running--;
      return i;
    },
  }));
  await runGraph(tasks, { jobs: 2 });
  assert.equal(peak, 2);
});

test('a chain runs in order (a step waits for its parent)', async () => {
  const log: string[] = [];
  await runGraph([sleeper('s3', ['s2'], 1, log), sleeper('s1', [], 1, log), sleeper('s2', ['s1'], 1, log)]);
  assert.deepEqual(log, ['start s1', 'end s1', 'start s2', 'end s2', 'start s3', 'end s3']);
});

test('the first failure aborts running siblings, waits for their cleanup, skips the rest, and is the error', async () => {
  const log: string[] = [];
  const boom = new Error('stage b failed');
  const p = runGraph(
    [sleeper('a', [], 5_000, log), sleeper('b', [], 20, log, boom), sleeper('c', [], 5_000, log), sleeper('after-a', ['a'], 1, log)],
    { jobs: 4 },
  );
  await assert.rejects(p, (e) => e === boom);
  assert.ok(log.includes('end a (aborted)') && log.includes('end c (aborted)'), log.join(', '));
  assert.ok(!log.includes('start after-a'));
});

test('an outer abort (Ctrl-C) cancels with its reason', async () => {
  const log: string[] = [];
  const ctl = new AbortController();
  const reason = new Error('interrupted');
  setTimeout(() => ctl.abort(reason), 20);
  await assert.rejects(runGraph([sleeper('a', [], 5_000, log)], { signal: ctl.signal }), (e) => e === reason);
  assert.deepEqual(log, ['start a', 'end a (aborted)']);
});

test('unknown deps and cycles are refused before anything runs', async () => {
  const log: string[] = [];
  await assert.rejects(runGraph([sleeper('a', ['nope'], 1, log)]), /unknown task nope/);
  await assert.rejects(runGraph([sleeper('a', ['b'], 1, log), sleeper('b', ['a'], 1, log)]), /cycle/);
  assert.deepEqual(log, []);
});

test('SingleFlight runs identical work once', async () => {
  const flight = new SingleFlight<number>();
  let runs = 0;
  const work = async (): Promise<number> => {
    runs++;
    await sleep(10);
    return 42;
  };
  const [x, y] = await Promise.all([flight.once('k', work), flight.once('k', work)]);
  assert.equal(x, 42);
  assert.equal(y, 42);
  assert.equal(runs, 1);
  await assert.rejects(flight.once('bad', async () => Promise.reject(new Error('x'))));
  assert.equal(await flight.once('bad', async () => 1), 1, 'a failure is not remembered');
});
