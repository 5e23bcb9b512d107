import { connect, createServer, type Socket } from 'node:net';

export interface TcpProxy {
  /** The proxy's port on 127.0.0.1. */
  port: number;
  /** Replaces the URL's host and port with the proxy's. */
  urlFor(url: string): string;
  /** Cuts every open connection and refuses new ones, as if the service went away. */
  cutOff(): void;
  /** Forwards connections again. */
  restore(): void;
  /** Holds every reply of the service back this long, as from a slow or distant server; 0 turns it off. */
  setDelay(ms: number): void;
  close(): Promise<void>;
}

/**
 * Starts a loopback TCP proxy in front of one service, so a test can make that service go away for one server
 * without stopping it for everyone else who uses it.
 */
export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let open = true;
  let delayMs = 0;

  const server = createServer((client) => {
    if (!open) {
      client.destroy();
      return;
    }
    const upstream = connect(target);
    sockets.add(client);
    sockets.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    // Timers of one length fire in the order they were set, so delayed chunks keep their order.
    upstream.on('data', (chunk: Buffer) => {
      if (delayMs === 0) client.write(chunk);
      else setTimeout(() => client.writable && client.write(chunk), delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const cutOff = () => {
    open = false;
    for (const socket of sockets) socket.destroy();
    sockets.clear();
  };

  return {
    port,
    urlFor(url) {
      const parsed = new URL(url);
      parsed.hostname = '127.0.0.1';
      parsed.port = String(port);
      return parsed.toString();
    },
    cutOff,
    setDelay(ms) {
      delayMs = ms;
    },
    restore() {
      open = true;
    },
    async close() {
      cutOff();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
