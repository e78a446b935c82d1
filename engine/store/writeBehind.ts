/**
 * Store writes that run behind the caller: a build's next step starts while the last step's
 * layer blob is still being fsynced and moved into place and its cache record written.
 *
 * A write comes in two halves. `prepare` runs at once, beside other writes' preparations: temp
 * files written and fsynced (concurrent fsyncs share the disk's journal commits). `publish`
 * moves them into place, strictly in the order the writes were queued and only after every
 * earlier write has been published — so a cache record, queued after the blobs it names, never
 * lands before them. A write whose preparation failed, or that comes after a failed write, is
 * discarded instead, and settle() reports the failure. Each file is still written atomically
 * (temp, fsync, rename): a process killed meanwhile leaves only temp files, which the next open
 * of the store sweeps away.
 */
export interface BehindWrite {
  /** Runs at once: the temp files written and fsynced. */
  prepare(): Promise<void>;
  /** Runs once every write queued before has been published: the renames into place. */
  publish(): Promise<void>;
  /** Runs instead of publish when this write's preparation or an earlier write failed. */
  discard(): Promise<void>;
}

export class WriteBehind {
  private tail: Promise<void> = Promise.resolve();
  private failure: { error: unknown } | undefined;

  /** Queues `write`; the promise settles when it is published (or discarded) and never rejects. */
  add(write: BehindWrite): Promise<void> {
    const prepared = write.prepare().then(() => undefined, (error: unknown) => ({ error }));
    const done = Promise.all([this.tail, prepared]).then(async ([, failed]) => {
      if (failed) this.failure ??= failed;
      if (!this.failure) {
        try {
          await write.publish();
          return;
        } catch (error) {
          this.failure = { error };
        }
      }
      await write.discard().catch(() => undefined);
    });
    this.tail = done;
    return done;
  }

  /**
   * Waits until every queued write is published or discarded; throws the first failure, once:
   * writes queued after this call are published again (the failed batch was discarded and
   * reported as a whole).
   */
  async settle(): Promise<void> {
    let seen: Promise<void>;
    do {
      seen = this.tail;
      await seen;
    } while (seen !== this.tail);
    const failed = this.failure;
    this.failure = undefined;
    if (failed) throw failed.error;
  }
}
