import type { Logger } from './logger.js';

/**
 * A dependency check: resolves when the dependency responds, throws otherwise. It must stop work when
 * `signal` aborts. The error message is logged, never sent; `describeFailure` gives the public text.
 */
export interface ReadinessProbe {
  check(signal: AbortSignal): Promise<void>;
  /** A short reason that is safe to show without credentials, such as "rejected the API key". */
  describeFailure?(error: unknown): string | undefined;
}

export interface CheckResult {
  status: 'up' | 'down' | 'not_configured';
  /** How long the check took, in milliseconds. */
  latencyMs?: number;
  /** Reason for a failed check, in words safe to show to anyone who can reach /ready. */
  reason?: string;
}

export interface ReadinessReport {
  status: 'ready' | 'not_ready' | 'stopping';
  checkedAt: string;
  checks: Record<string, CheckResult>;
}

export interface ReadinessOptions {
  /** Probes by name; undefined marks a dependency that is not configured, which does not count. */
  probes: Record<string, ReadinessProbe | undefined>;
  logger: Logger;
  /** Time each probe may take, in milliseconds. @default 2000 */
  timeoutMs?: number;
  /** How long a report is reused, in milliseconds, so frequent polling does not load the dependencies. @default 5000 */
  cacheMs?: number;
}

/**
 * Decides whether this instance should get traffic: every configured dependency (database, Redis, Home
 * Assistant, model endpoint) must respond. Probes run in parallel, each with a timeout, and the report is
 * cached; concurrent requests share one round of probes. During shutdown the report reads `stopping` at
 * once, so a load balancer stops sending new work.
 */
export class Readiness {
  private cached: { report: ReadinessReport; expiresAt: number } | undefined;
  private inFlight: Promise<ReadinessReport> | undefined;
  private stopping = false;
  private readonly lastStatus = new Map<string, CheckResult['status']>();
  private readonly timeoutMs: number;
  private readonly cacheMs: number;

  constructor(private readonly options: ReadinessOptions) {
    this.timeoutMs = options.timeoutMs ?? 2_000;
    this.cacheMs = options.cacheMs ?? 5_000;
  }

  /** Marks the instance as shutting down; every later report is `stopping`. */
  markStopping(): void {
    this.stopping = true;
  }

  async report(): Promise<ReadinessReport> {
    if (this.stopping) return { status: 'stopping', checkedAt: new Date().toISOString(), checks: {} };
    if (this.cached && this.cached.expiresAt > Date.now()) return this.cached.report;
    this.inFlight ??= this.runProbes().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async runProbes(): Promise<ReadinessReport> {
    const entries = await Promise.all(Object.entries(this.options.probes).map(async ([name, probe]) => [name, await this.runProbe(name, probe)] as const));
    const checks = Object.fromEntries(entries);
    const ready = entries.every(([, result]) => result.status !== 'down');
    const report: ReadinessReport = { status: ready ? 'ready' : 'not_ready', checkedAt: new Date().toISOString(), checks };
    this.cached = { report, expiresAt: Date.now() + this.cacheMs };
    return report;
  }

  private async runProbe(name: string, probe: ReadinessProbe | undefined): Promise<CheckResult> {
    if (!probe) return { status: 'not_configured' };
    const controller = new AbortController();
    const startedAt = performance.now();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.timeoutMs);
    });

    let result: CheckResult;
    try {
      const outcome = await Promise.race([probe.check(controller.signal).then(() => 'up' as const), timedOut]);
      const latencyMs = Math.round(performance.now() - startedAt);
      result = outcome === 'up' ? { status: 'up', latencyMs } : { status: 'down', latencyMs, reason: `no answer within ${this.timeoutMs} ms` };
      if (outcome === 'timeout') this.logChange(name, result, undefined);
    } catch (error) {
      result = { status: 'down', latencyMs: Math.round(performance.now() - startedAt), reason: probe.describeFailure?.(error) ?? 'not reachable' };
      this.logChange(name, result, error);
    } finally {
      clearTimeout(timer);
      controller.abort();
    }
    if (result.status === 'up') this.logChange(name, result, undefined);
    return result;
  }

  /** Logs when a dependency goes down or comes back, not on every probe. */
  private logChange(name: string, result: CheckResult, error: unknown): void {
    const previous = this.lastStatus.get(name);
    this.lastStatus.set(name, result.status);
    if (previous === result.status || (previous === undefined && result.status === 'up')) return;
    if (result.status === 'down') {
      this.options.logger.warn(
        {
          event: 'readiness.down',
          dependency: name,
          reason: result.reason,
          err: error instanceof Error ? { message: error.message, name: error.name } : undefined,
        },
        `Readiness check of ${name} failed`,
      );
    } else {
      this.options.logger.info({ event: 'readiness.up', dependency: name }, `Readiness check of ${name} passes again`);
    }
  }
}
