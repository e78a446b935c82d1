/**
 * Store writes that run behind the caller, one after another in the order they were queued: a
 * build's next step starts while the last step's layer blob is still being fsynced and renamed
 * into place and its cache record written. Order is what keeps this safe: a cache record is
 * queued after the blobs it names, so it never lands before them; a write queued after a failed
 * one is skipped, and the failure is reported by settle(). Each write is itself atomic (temp,
 * fsync, rename): a process killed meanwhile leaves only temp files, which the next store open
 * sweeps away.
 */
export class WriteBehind {
  private tail: Promise<void> = Promise.resolve();
  private failure: { error: unknown } | undefined;

  /** Queues `write`; the promise settles when it has run (or was skipped) and never rejects. */
  add(write: () => Promise<void>): Promise<void> {
    const ran = this.tail.then(async () => {
      if (this.failure) return;
      try {
        await write();
      } catch (error) {
        this.failure = { error };
      }
    });
    this.tail = ran;
    return ran;
  }

  /**
   * Waits until every queued write has run; throws the first failure, once: writes queued after
   * this call run again (the failed batch has been skipped and reported as a whole).
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
