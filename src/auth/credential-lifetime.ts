import type { EventBus } from '../agent/event-bus.js';
import type { Database } from '../db/orm.js';
import type { Logger } from '../observability/logger.js';
import { ApiKeySchema } from './api-key.entity.js';
import type { Caller } from './caller.js';

/** Bus topic on which every instance hears that an API key was revoked. */
export const apiKeyRevokedTopic = (keyId: string) => `api-key-revoked:${keyId}`;

export type CredentialEnd = 'expired' | 'revoked';

/** setTimeout fires at once for delays above this (about 24.8 days), so longer waits are chained. */
const MAX_TIMER_MS = 2_147_483_647;

/**
 * Tells long-lived connections when their credential stops being valid: a JWT when its `exp` (plus the
 * clock tolerance) passes, an API key when it is revoked on any instance. HTTP requests need none of
 * this, because each one authenticates again.
 */
export class CredentialLifetime {
  constructor(
    private readonly bus: EventBus,
    private readonly clockToleranceMs: number,
  ) {}

  /** Calls onEnd once when the caller's credential ends. Returns a function that stops watching. */
  watch(caller: Caller, onEnd: (reason: CredentialEnd) => void): () => void {
    let stopped = false;
    const stops: (() => void)[] = [];
    const end = (reason: CredentialEnd) => {
      if (stopped) return;
      stop();
      onEnd(reason);
    };
    const stop = () => {
      stopped = true;
      for (const stopOne of stops) stopOne();
    };

    const credential = caller.credential;
    if (credential.kind === 'jwt') {
      const endsAt = credential.expiresAt.getTime() + this.clockToleranceMs;
      let timer: NodeJS.Timeout;
      const arm = () => {
        const remaining = endsAt - Date.now();
        timer = setTimeout(() => (remaining > MAX_TIMER_MS ? arm() : end('expired')), Math.max(0, Math.min(remaining, MAX_TIMER_MS)));
        timer.unref();
      };
      arm();
      stops.push(() => clearTimeout(timer));
    } else {
      stops.push(this.bus.subscribe(apiKeyRevokedTopic(credential.keyId), () => end('revoked')));
    }
    return stop;
  }

  /** Checks whether the credential has ended by now, before new work starts on an old connection. */
  hasEnded(caller: Caller): boolean {
    return caller.credential.kind === 'jwt' && Date.now() > caller.credential.expiresAt.getTime() + this.clockToleranceMs;
  }
}

/**
 * Finds API keys revoked outside this process (by `npm run apikey -- revoke`, which writes only to the
 * database, or on another instance) and announces each on the bus once, so open sockets and streams of
 * that key end within one check interval. Revocations inside this process are announced at once by
 * ApiKeyService.revoke.
 */
export class RevocationPoller {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  /** Revocations already announced, with their time, kept for the look-back window. */
  private readonly announced = new Map<string, number>();
  private since = Date.now();

  /**
   * Revocations are searched this far back from the last check, because the process that revoked a key
   * may stamp it with a clock that runs slightly behind ours.
   */
  static readonly LOOK_BACK_MS = 60_000;

  constructor(
    private readonly db: Database,
    private readonly bus: EventBus,
    private readonly logger: Logger,
    private readonly intervalMs: number,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      this.running ??= this.check().finally(() => (this.running = undefined));
    }, this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** Looks for new revocations once. Returns the ids announced. */
  async check(): Promise<string[]> {
    const from = new Date(this.since - RevocationPoller.LOOK_BACK_MS);
    const checkedAt = Date.now();
    let rows: { id: string; revokedAt?: Date | null }[];
    try {
      rows = await this.db.fork().find(ApiKeySchema, { revokedAt: { $gte: from } }, { fields: ['id', 'revokedAt'] });
    } catch (error) {
      this.logger.error({ event: 'auth.revocation_check_failed', err: error }, 'Checking for revoked API keys failed; will retry');
      return [];
    }
    this.since = checkedAt;

    const fresh = rows.filter((row) => !this.announced.has(row.id));
    for (const row of fresh) {
      this.announced.set(row.id, row.revokedAt?.getTime() ?? checkedAt);
      this.bus.publish(apiKeyRevokedTopic(row.id), { keyId: row.id });
      this.logger.info({ event: 'auth.key_revoked', keyId: row.id }, 'API key revoked; closing its connections');
    }
    for (const [id, revokedAt] of this.announced) {
      if (revokedAt < from.getTime()) this.announced.delete(id);
    }
    return fresh.map((row) => row.id);
  }
}
