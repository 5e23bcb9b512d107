import WebSocket from 'ws';

/** The graphql-ws subprotocol name. */
export const GRAPHQL_TRANSPORT_WS = 'graphql-transport-ws';

export interface RawSocket {
  socket: WebSocket;
  /** Every message received so far, parsed. */
  messages: Record<string, any>[];
  /** Resolves with the close code and reason once the server (or the client) closed the socket. */
  closed: Promise<{ code: number; reason: string }>;
  send(message: object | string): void;
  /** Resolves with the first message (already received or still to come) that matches. */
  nextMessage(matches: (message: Record<string, any>) => boolean, timeoutMs?: number): Promise<Record<string, any>>;
  close(): void;
}

export interface RawSocketOptions {
  protocol?: string | null;
  headers?: Record<string, string>;
  origin?: string;
}

/**
 * Opens a WebSocket without any GraphQL client, so tests can send frames the way an attacker would.
 * Rejects with the HTTP status when the server refuses the upgrade.
 */
export function openRawSocket(url: string, options: RawSocketOptions = {}): Promise<RawSocket> {
  const protocol = options.protocol === undefined ? GRAPHQL_TRANSPORT_WS : options.protocol;
  const socket = new WebSocket(url, protocol === null ? [] : [protocol], { headers: options.headers, origin: options.origin });
  const messages: Record<string, any>[] = [];
  const waiters: { matches: (message: Record<string, any>) => boolean; resolve: (message: Record<string, any>) => void }[] = [];

  socket.on('message', (data) => {
    const message = JSON.parse(String(data)) as Record<string, any>;
    messages.push(message);
    for (const waiter of [...waiters]) {
      if (waiter.matches(message)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(message);
      }
    }
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));

  return new Promise((resolve, reject) => {
    socket.once('unexpected-response', (_request, response) => reject(new Error(`upgrade rejected with HTTP ${response.statusCode}`)));
    socket.once('error', reject);
    socket.once('open', () => {
      socket.off('error', reject);
      socket.on('error', () => undefined);
      resolve({
        socket,
        messages,
        closed,
        send: (message) => socket.send(typeof message === 'string' ? message : JSON.stringify(message)),
        nextMessage: (matches, timeoutMs = 5_000) => {
          const earlier = messages.find(matches);
          if (earlier) return Promise.resolve(earlier);
          return new Promise((resolveMessage, rejectMessage) => {
            const timer = setTimeout(() => rejectMessage(new Error(`no matching message within ${timeoutMs} ms; got ${JSON.stringify(messages)}`)), timeoutMs);
            waiters.push({
              matches,
              resolve: (message) => {
                clearTimeout(timer);
                resolveMessage(message);
              },
            });
          });
        },
        close: () => socket.close(),
      });
    });
  });
}

/** Opens a socket, sends connection_init with the credential and waits for the ack. */
export async function openAuthenticatedSocket(url: string, token: string): Promise<RawSocket> {
  const raw = await openRawSocket(url);
  raw.send({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } });
  await raw.nextMessage((message) => message.type === 'connection_ack');
  return raw;
}

/** Sends connection_init with the given payload and returns how the server answered: ack, or the close. */
export async function tryConnectionInit(url: string, payload: unknown): Promise<{ acknowledged: boolean; code?: number; reason?: string }> {
  const raw = await openRawSocket(url);
  raw.send({ type: 'connection_init', ...(payload === undefined ? {} : { payload }) });
  const outcome = await Promise.race([
    raw.nextMessage((message) => message.type === 'connection_ack').then(() => ({ acknowledged: true })),
    raw.closed.then((closed) => ({ acknowledged: false, ...closed })),
  ]);
  raw.close();
  return outcome;
}
