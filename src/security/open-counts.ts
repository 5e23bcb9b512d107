/**
 * Counts what each user has open on this instance (streams, sockets), so a limit per user can be
 * checked. A user whose count falls to zero is dropped, so the map only holds users with something open.
 */
export class OpenCounts {
  private readonly counts = new Map<string, number>();

  /**
   * Counts one more for `userId` unless that would exceed `limit`. Returns the function that gives it
   * back, which is safe to call more than once, or undefined when the user is at the limit.
   */
  take(userId: string, limit: number): (() => void) | undefined {
    const open = this.counts.get(userId) ?? 0;
    if (open >= limit) return undefined;
    this.counts.set(userId, open + 1);
    let returned = false;
    return () => {
      if (returned) return;
      returned = true;
      const left = (this.counts.get(userId) ?? 1) - 1;
      if (left > 0) this.counts.set(userId, left);
      else this.counts.delete(userId);
    };
  }
}
