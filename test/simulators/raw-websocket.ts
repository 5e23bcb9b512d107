import { WebSocket } from 'ws';

/**
 * A bare WebSocket client that queues every JSON frame, for tests that need to see exact frames or
 * misbehave on purpose (reused ids, commands before auth) in ways a real client library never does.
 */
export class RawWebSocket {
  private readonly frames: unknown[] = [];
  private readonly waiters: ((frame: unknown) => void)[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as unknown;
      const waiter = this.waiters.shift();
      if (waiter) {
        waiter(frame);
      } else {
        this.frames.push(frame);
      }
    });
    this.closed = new Promise((resolve) => {
      socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    });
  }

  static async connect(url: string): Promise<RawWebSocket> {
    const socket = new WebSocket(url);
    const client = new RawWebSocket(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    return client;
  }

  /** Connects and completes the auth phase with the given token. */
  static async authenticated(url: string, token: string): Promise<RawWebSocket> {
    const client = await RawWebSocket.connect(url);
    await client.next();
    client.send({ type: 'auth', access_token: token });
    const reply = (await client.next()) as { type: string };
    if (reply.type !== 'auth_ok') {
      throw new Error(`Expected auth_ok, got ${JSON.stringify(reply)}`);
    }
    return client;
  }

  send(frame: unknown): void {
    this.socket.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** Resolves with the next frame, or rejects after `timeoutMs`. */
  next<T = Record<string, unknown>>(timeoutMs = 2000): Promise<T> {
    const queued = this.frames.shift();
    if (queued !== undefined) {
      return Promise.resolve(queued as T);
    }
    return new Promise<T>((resolve, reject) => {
      const waiter = (frame: unknown) => {
        clearTimeout(timer);
        resolve(frame as T);
      };
      const timer = setTimeout(() => {
        const index = this.waiters.indexOf(waiter);
        if (index !== -1) {
          this.waiters.splice(index, 1);
        }
        reject(new Error(`No frame within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  close(): void {
    this.socket.close();
  }
}
