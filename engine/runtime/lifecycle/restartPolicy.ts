/**
 * `--restart no|on-failure[:N]|always|unless-stopped`, decided as moby's restart manager decides:
 * after each exit, restart unless the policy says no, the container was stopped by hand (stop,
 * kill) or on-failure ran out of retries; wait 100 ms before the first restart, doubling up to
 * a minute, back to 100 ms after a run of ten seconds or more.
 *
 * Without a daemon there is no daemon restart: `always` and `unless-stopped` differ in docker
 * only in what happens when dockerd starts again, so here they act the same.
 */
import { KilnError } from '../../errors/kilnError.js';

export interface RestartPolicy {
  name: 'no' | 'on-failure' | 'always' | 'unless-stopped';
  /** on-failure only: 0 means no limit. */
  maximumRetryCount: number;
}

export const NO_RESTART: RestartPolicy = { name: 'no', maximumRetryCount: 0 };

export function parseRestartPolicy(text: string): RestartPolicy {
  const [name, count, ...rest] = text.split(':');
  const bad = (why: string): KilnError => new KilnError('USAGE', `invalid restart policy "${text}": ${why}`, { exitCode: 125 });
  if (rest.length > 0) throw bad('too many colons');
  switch (name) {
    case '':
    case 'no':
      if (count !== undefined) throw bad('maximum retry count cannot be used with restart policy \'no\'');
      return NO_RESTART;
    case 'always':
    case 'unless-stopped':
      if (count !== undefined) throw bad(`maximum retry count cannot be used with restart policy '${name}'`);
      return { name, maximumRetryCount: 0 };
    case 'on-failure': {
      const n = count === undefined ? 0 : Number(count);
      if (!Number.isInteger(n) || n < 0 || (count !== undefined && !/^\d+$/.test(count))) throw bad('maximum retry count must be a non-negative integer');
      return { name, maximumRetryCount: n };
    }
    default:
      throw bad('use no, on-failure[:max-retries], always or unless-stopped');
  }
}

const FIRST_DELAY_MS = 100;
const MAX_DELAY_MS = 60_000;

/** One container's restart decisions over its supervisor's life. */
export class RestartManager {
  private delay = 0;

  constructor(private readonly policy: RestartPolicy, private restartCount = 0) {}

  get count(): number {
    return this.restartCount;
  }

  /**
   * The delay before restarting, or undefined when the container stays down. `canceled`: a stop,
   * or a kill with SIGKILL or the stop signal, asked for no restart; `stoppedByHand`: any kill
   * (only unless-stopped looks at it), as moby's ExitOnNext and HasBeenManuallyStopped.
   */
  decide(exitCode: number, by: { canceled: boolean; stoppedByHand: boolean }, ranForMs: number): number | undefined {
    if (this.policy.name === 'no' || by.canceled) return undefined;
    if (ranForMs >= 10_000) this.delay = 0;
    this.delay = this.delay === 0 ? FIRST_DELAY_MS : Math.min(MAX_DELAY_MS, this.delay * 2);
    let restart = false;
    if (this.policy.name === 'always') restart = true;
    else if (this.policy.name === 'unless-stopped') restart = !by.stoppedByHand;
    else {
      const max = this.policy.maximumRetryCount;
      restart = exitCode !== 0 && (max === 0 || this.restartCount < max);
    }
    if (!restart) return undefined;
    this.restartCount++;
    return this.delay;
  }
}
