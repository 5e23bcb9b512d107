import { hostname } from 'node:os';
import type { Database } from '../db/orm.js';
import { InstanceSchema, instanceTimeoutMs } from '../db/instance.entity.js';
import { uuidv7 } from '../db/uuid.js';
import type { Logger } from '../observability/logger.js';

export interface InstanceRegistryOptions {
  /** A stable id (INSTANCE_ID); a new one per process when undefined. */
  id: string | undefined;
  heartbeatMs: number;
  /** The key this instance encrypts with, recorded so `db:reencrypt` can check every instance. */
  encryptionKeyId: string | undefined;
  logger: Logger;
  /** Clock, replaceable in tests. */
  now?: () => Date;
}

/**
 * This process's row in the `instances` table. The heartbeat shows other instances that the replies
 * marked with this id still have a generator. Heartbeats compare the writer's clock with the reader's,
 * so instances need clocks that agree within a few heartbeats (NTP).
 */
export class InstanceRegistry {
  readonly id: string;
  /** Silence after which an instance counts as gone, in milliseconds. */
  readonly timeoutMs: number;
  private timer: NodeJS.Timeout | undefined;
  private failing = false;
  private readonly now: () => Date;

  constructor(
    private readonly db: Database,
    private readonly options: InstanceRegistryOptions,
  ) {
    this.id = options.id ?? uuidv7();
    this.timeoutMs = instanceTimeoutMs(options.heartbeatMs);
    this.now = options.now ?? (() => new Date());
  }

  /** Writes this instance's row and starts the heartbeat. Throws when another live process has the id. */
  async start(): Promise<void> {
    if (this.options.id) await this.assertIdFree();
    await this.writeRow();
    this.timer = setInterval(() => void this.beat(), this.options.heartbeatMs);
    this.timer.unref();
  }

  /**
   * Refuses a fixed INSTANCE_ID that a running process still beats for, because two generators under one
   * id would end each other's replies. A recent heartbeat may also be left by a crashed process with this
   * id, so it waits one and a half heartbeats: only a heartbeat that moves on in that time means a live one.
   */
  private async assertIdFree(): Promise<void> {
    const heartbeat = async () => (await this.db.fork().findOne(InstanceSchema, { id: this.id }, { fields: ['heartbeatAt'] }))?.heartbeatAt.getTime();
    const first = await heartbeat();
    if (first === undefined || this.now().getTime() - first > this.timeoutMs) return;
    this.options.logger.info(
      { event: 'instance.id_check', instanceId: this.id },
      'Another process used this INSTANCE_ID recently; checking whether it is still running',
    );
    await new Promise((resolve) => setTimeout(resolve, this.options.heartbeatMs * 1.5));
    const second = await heartbeat();
    if (second !== undefined && second > first) {
      throw new Error(`INSTANCE_ID ${this.id} is used by a running instance. Give each instance its own INSTANCE_ID, or leave it unset.`);
    }
  }

  private async writeRow(): Promise<void> {
    const now = this.now();
    await this.db.fork().upsert(InstanceSchema, {
      id: this.id,
      hostname: hostname().slice(0, 255),
      pid: process.pid,
      startedAt: now,
      heartbeatAt: now,
      encryptionKeyId: this.options.encryptionKeyId ?? null,
    });
  }

  /** Ids of instances whose heartbeat is recent, this one included. */
  async liveIds(): Promise<Set<string>> {
    const since = new Date(this.now().getTime() - this.timeoutMs);
    const rows = await this.db.fork().find(InstanceSchema, { heartbeatAt: { $gt: since } }, { fields: ['id'] });
    return new Set([this.id, ...rows.map((row) => row.id)]);
  }

  /** Stops the heartbeat and removes the row, so other instances know at once that this one is gone. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    try {
      await this.db.fork().nativeDelete(InstanceSchema, { id: this.id });
    } catch (error) {
      this.options.logger.warn(
        { event: 'instance.remove_failed', instanceId: this.id, err: error },
        'Removing the instance row failed; it expires with its heartbeat',
      );
    }
  }

  private async beat(): Promise<void> {
    try {
      const updated = await this.db.fork().nativeUpdate(InstanceSchema, { id: this.id }, { heartbeatAt: this.now() });
      // The row disappears when another instance pruned it during a long pause; write it again.
      if (updated === 0) await this.writeRow();
      if (this.failing) this.options.logger.info({ event: 'instance.heartbeat_restored', instanceId: this.id }, 'Instance heartbeat restored');
      this.failing = false;
    } catch (error) {
      if (!this.failing)
        this.options.logger.warn({ event: 'instance.heartbeat_failed', instanceId: this.id, err: error }, 'Writing the instance heartbeat failed; retrying');
      this.failing = true;
    }
  }

  /** Deletes rows of instances silent for much longer than the timeout, which crashed without cleaning up. */
  async pruneGone(): Promise<number> {
    const before = new Date(this.now().getTime() - this.timeoutMs * 10);
    return this.db.fork().nativeDelete(InstanceSchema, { heartbeatAt: { $lt: before } });
  }
}
