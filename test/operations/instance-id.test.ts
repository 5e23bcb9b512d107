import { describe, expect, it } from 'vitest';
import { InstanceSchema } from '../../src/db/instance.entity.js';
import { openDatabase } from '../../src/db/orm.js';
import { startTestServer } from '../support/server.js';
import { createTestDatabase } from '../support/services.js';

const ENV = { INSTANCE_ID: 'kitchen-node', INSTANCE_HEARTBEAT_SECONDS: '1' };

describe('INSTANCE_ID', () => {
  it('refuses an id a running instance uses', async () => {
    const database = await createTestDatabase();
    const first = await startTestServer({ database, env: ENV });
    try {
      await expect(startTestServer({ database, env: ENV })).rejects.toThrow(
        'INSTANCE_ID kitchen-node is used by a running instance. Give each instance its own INSTANCE_ID, or leave it unset.',
      );
      // The running instance keeps its row and still responds.
      expect((await fetch(`${first.url}/health`)).status).toBe(200);
    } finally {
      await first.close();
      await database.remove();
    }
  });

  it('takes over the id of a crashed process', async () => {
    const database = await createTestDatabase();
    // A row with a fresh heartbeat that never moves on, as a process killed a moment ago leaves it.
    const db = await openDatabase(database.url);
    const now = new Date();
    await db.fork().insert(InstanceSchema, { id: 'kitchen-node', hostname: 'gone', pid: 1, startedAt: now, heartbeatAt: now, encryptionKeyId: null });
    await db.close();

    const server = await startTestServer({ database, env: ENV });
    try {
      expect(server.logs.some((line) => line.event === 'instance.id_check')).toBe(true);
      expect((await fetch(`${server.url}/health`)).status).toBe(200);
    } finally {
      await server.close();
      await database.remove();
    }
  });
});
