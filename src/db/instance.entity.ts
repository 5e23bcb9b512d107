import { defineEntity, type InferEntity } from '@mikro-orm/core';

/**
 * A running server process. Each instance refreshes its heartbeat while it runs and deletes its row on a
 * clean shutdown. A reply whose instance has no recent heartbeat has lost its generator.
 */
export const InstanceSchema = defineEntity({
  name: 'Instance',
  tableName: 'instances',
  properties: (p) => ({
    id: p.string().primary().length(64),
    hostname: p.string().length(255),
    pid: p.integer(),
    startedAt: p.datetime(3),
    heartbeatAt: p.datetime(3),
    /** The key this instance encrypts new data with; null when it stores data plain. */
    encryptionKeyId: p.string().length(32).nullable(),
  }),
});

export type Instance = InferEntity<typeof InstanceSchema>;

/** Missed heartbeats after which an instance counts as gone. */
const MISSED_HEARTBEATS = 4;

/** Returns the silence in milliseconds after which an instance with this heartbeat interval counts as gone. */
export function instanceTimeoutMs(heartbeatMs: number): number {
  return heartbeatMs * MISSED_HEARTBEATS;
}
