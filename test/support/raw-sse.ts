import { connect } from 'node:net';

export interface SseEvent {
  event: string;
  data: any;
}

export interface RawSseStream {
  status: number;
  headers: Headers;
  /** Events received so far; `data` is parsed JSON when it is JSON. */
  events: SseEvent[];
  /** The whole body as text, for leak checks. */
  text(): string;
  /** Resolves when the server ends the response. */
  done: Promise<void>;
  cancel(): void;
}

/**
 * Sends one GraphQL-over-SSE request (distinct connections mode) with plain fetch and parses the event
 * stream as it arrives. A non-stream answer (such as a 401 JSON body) ends up in `text()`.
 */
export async function openRawSse(
  url: string,
  query: string,
  variables: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Promise<RawSseStream> {
  const controller = new AbortController();
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...headers },
    body: JSON.stringify({ query, variables }),
    signal: controller.signal,
  });
  const events: SseEvent[] = [];
  let raw = '';
  let buffer = '';
  const decoder = new TextDecoder();
  const done = (async () => {
    if (!response.body) return;
    try {
      const reader = response.body.getReader();
      for (;;) {
        const { done: ended, value: chunk } = await reader.read();
        if (ended) break;
        const text = decoder.decode(chunk, { stream: true });
        raw += text;
        buffer += text;
        let boundary = buffer.indexOf('\n\n');
        while (boundary >= 0) {
          const block = buffer.slice(0, boundary);
          buffer = buffer.slice(boundary + 2);
          boundary = buffer.indexOf('\n\n');
          const event = /^event: (.*)$/m.exec(block)?.[1];
          if (!event) continue;
          const data = /^data: ?(.*)$/m.exec(block)?.[1] ?? '';
          let parsed: unknown = data;
          try {
            parsed = data === '' ? null : JSON.parse(data);
          } catch {
            // Keep the raw text.
          }
          events.push({ event, data: parsed });
        }
      }
    } catch (error) {
      if (!controller.signal.aborted) throw error;
    }
  })();
  return { status: response.status, headers: response.headers, events, text: () => raw, done, cancel: () => controller.abort() };
}

/**
 * Writes one GraphQL-over-SSE POST on a raw TCP socket and destroys the socket `delayMs` after the write
 * returns, before reading anything, like a client that goes away right after sending.
 */
export async function postSseAndDisconnect(
  url: string,
  query: string,
  variables: Record<string, unknown>,
  headers: Record<string, string>,
  delayMs: number,
): Promise<void> {
  const target = new URL(url);
  const body = JSON.stringify({ query, variables });
  const lines = [
    `POST ${target.pathname} HTTP/1.1`,
    `Host: ${target.host}`,
    'Content-Type: application/json',
    'Accept: text/event-stream',
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
  ];
  const socket = connect(Number(target.port), target.hostname);
  socket.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.write(`${lines.join('\r\n')}\r\n\r\n${body}`);
  if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
  socket.destroy();
}
