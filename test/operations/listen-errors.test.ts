import { describe, expect, it } from 'vitest';
import { startTestServer } from '../support/server.js';

describe('listening', () => {
  it('explains common listen failures', async () => {
    const first = await startTestServer();
    try {
      const port = new URL(first.url).port;
      await expect(startTestServer({ env: { PORT: port } })).rejects.toThrow(
        `Port ${port} on 127.0.0.1 is already in use. Stop the other process or set PORT to a free port.`,
      );
      // An address from the documentation range, which no interface here has.
      await expect(startTestServer({ env: { HOST: '192.0.2.1' } })).rejects.toThrow(
        'HOST 192.0.2.1 is not an address of this machine. Set HOST to 0.0.0.0 (every interface), 127.0.0.1 or one of its addresses.',
      );
      expect(first.logs.some((line) => line.event === 'websocket.error')).toBe(false);
    } finally {
      await first.close();
    }
  });
});
