/** Raised by AsyncQueue.take when a consumer fell too far behind and the queue dropped it. */
export class QueueOverflowError extends Error {
  constructor(readonly capacity: number) {
    super(`Subscriber fell more than ${capacity} events behind.`);
    this.name = 'QueueOverflowError';
  }
}

export type Taken<T> = { kind: 'item'; value: T } | { kind: 'end' } | { kind: 'timeout' };

/**
 * A single-consumer queue with a fixed capacity. A producer never blocks: when a slow consumer lets the
 * queue fill up, the queue fails instead of growing, and the consumer can resume from the last sequence
 * it saw. This keeps memory per subscriber bounded.
 */
export class AsyncQueue<T> {
  private readonly items: T[] = [];
  private waiter: { resolve: (taken: Taken<T>) => void; reject: (error: Error) => void } | undefined;
  private failure: Error | undefined;
  private ended = false;

  constructor(private readonly capacity: number) {}

  push(item: T): void {
    if (this.ended || this.failure) return;
    const waiter = this.takeWaiter();
    if (waiter) {
      waiter.resolve({ kind: 'item', value: item });
      return;
    }
    if (this.items.length >= this.capacity) {
      this.fail(new QueueOverflowError(this.capacity));
      return;
    }
    this.items.push(item);
  }

  /** Ends the queue after the items already in it. */
  end(): void {
    this.ended = true;
    if (this.items.length === 0) this.takeWaiter()?.resolve({ kind: 'end' });
  }

  fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    this.items.length = 0;
    this.takeWaiter()?.reject(error);
  }

  get size(): number {
    return this.items.length;
  }

  /** Waits for the next item. Rejects after fail(); gives `timeout` when nothing arrived within timeoutMs. */
  take(timeoutMs?: number): Promise<Taken<T>> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.items.length > 0) return Promise.resolve({ kind: 'item', value: this.items.shift() as T });
    if (this.ended) return Promise.resolve({ kind: 'end' });

    return new Promise((resolve, reject) => {
      const timer = timeoutMs === undefined ? undefined : setTimeout(() => this.takeWaiter()?.resolve({ kind: 'timeout' }), timeoutMs);
      this.waiter = {
        resolve: (taken) => {
          clearTimeout(timer);
          resolve(taken);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
    });
  }

  private takeWaiter() {
    const waiter = this.waiter;
    this.waiter = undefined;
    return waiter;
  }
}
