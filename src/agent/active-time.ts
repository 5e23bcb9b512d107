/**
 * Measures the time since a turn started without the time spent waiting for a user's confirmation, so
 * the time to first token reflects the server and the model, not how fast a person responded.
 */
export class ActiveTime {
  private readonly startedAt = performance.now();
  private openWaits = 0;
  private waitStartedAt = 0;
  private waitedMs = 0;

  /** Marks the start of a wait and returns the function that ends it. Overlapping waits count once. */
  pause(): () => void {
    if (this.openWaits === 0) this.waitStartedAt = performance.now();
    this.openWaits += 1;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.openWaits -= 1;
      if (this.openWaits === 0) this.waitedMs += performance.now() - this.waitStartedAt;
    };
  }

  /** Milliseconds since the start, without the waits. */
  elapsedMs(): number {
    const now = performance.now();
    const openWaitMs = this.openWaits > 0 ? now - this.waitStartedAt : 0;
    return now - this.startedAt - this.waitedMs - openWaitMs;
  }
}
