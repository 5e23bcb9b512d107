import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { hasScope, type Caller } from '../auth/caller.js';
import type { TokenUsage } from '../conversations/message.entity.js';

/** Every metric of this service starts with this, beside the standard process_, nodejs_ and graphql_ ones. */
export const METRIC_PREFIX = 'ha_ai_agent_';

/**
 * A coarse class of callers for token metrics, which separates tokens by privilege without one label
 * value per user: `admin`, `control` (may change devices) or `chat` (read-only agent).
 */
export type UserClass = 'admin' | 'control' | 'chat';

export function userClassOf(caller: Caller): UserClass {
  if (caller.scopes.has('admin')) return 'admin';
  return hasScope(caller, 'control') ? 'control' : 'chat';
}

/** Callbacks of one reply, for the reply metrics. */
export interface ReplyObserver {
  /** The first text delta reached subscribers. */
  firstText(): void;
  /** The reply ended with this status and usage. */
  ended(status: string, usage: TokenUsage | null | undefined): void;
}

/** Outcome of one Home Assistant request, for its latency histogram. */
export type HomeAssistantOutcome = 'ok' | 'rejected' | 'unavailable' | 'timeout' | 'aborted';

/**
 * The service's Prometheus metrics, in a registry of their own: one per app, so several apps in one
 * process (as in tests) never collide in prom-client's global registry.
 */
export class Metrics {
  readonly registry = new Registry();

  readonly operations = new Counter({
    name: `${METRIC_PREFIX}graphql_operations_total`,
    help: 'GraphQL operations started, by operation type and root field.',
    labelNames: ['type', 'field'] as const,
    registers: [this.registry],
  });

  readonly errors = new Counter({
    name: `${METRIC_PREFIX}graphql_errors_total`,
    help: 'Errors sent to clients, by error code (extensions.code).',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });

  readonly rateLimitRejections = new Counter({
    name: `${METRIC_PREFIX}rate_limit_rejections_total`,
    help: 'Requests rejected by a rate limit or token budget, by error code (RATE_LIMITED or BUDGET_EXHAUSTED).',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });

  readonly activeSubscriptions = new Gauge({
    name: `${METRIC_PREFIX}active_subscriptions`,
    help: 'GraphQL subscriptions open on this instance, by root field.',
    labelNames: ['field'] as const,
    registers: [this.registry],
  });

  readonly firstToken = new Histogram({
    name: `${METRIC_PREFIX}time_to_first_token_seconds`,
    help: 'Time from the start of a reply to its first text delta, without time spent waiting for tool call confirmations, in seconds.',
    buckets: [0.1, 0.25, 0.5, 1, 2, 3, 5, 8, 13, 20, 30, 60],
    registers: [this.registry],
  });

  readonly tokens = new Counter({
    name: `${METRIC_PREFIX}model_tokens_total`,
    help: 'Model tokens used by replies, by user class (admin, control, chat) and kind (prompt, completion).',
    labelNames: ['user_class', 'kind'] as const,
    registers: [this.registry],
  });

  readonly replies = new Counter({
    name: `${METRIC_PREFIX}replies_total`,
    help: 'Replies that ended, by final status.',
    labelNames: ['status'] as const,
    registers: [this.registry],
  });

  readonly homeAssistantRequests = new Histogram({
    name: `${METRIC_PREFIX}home_assistant_request_duration_seconds`,
    help: 'Home Assistant requests by operation and outcome, with their duration in seconds; the count is the number of calls.',
    labelNames: ['operation', 'outcome'] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /** Counts an error sent to a client; rate-limit and budget codes also count as rejections. */
  clientError(code: string): void {
    this.errors.inc({ code });
    if (code === 'RATE_LIMITED' || code === 'BUDGET_EXHAUSTED') this.rateLimitRejections.inc({ code });
  }

  homeAssistantRequest(operation: string, outcome: HomeAssistantOutcome, seconds: number): void {
    this.homeAssistantRequests.observe({ operation, outcome }, seconds);
  }

  /**
   * Starts observing one reply; call when the reply starts. `elapsedMs` returns the time since the start
   * that counts toward the first token. The turn runner leaves out confirmation waits there.
   */
  observeReply(userClass: UserClass, elapsedMs?: () => number): ReplyObserver {
    const startedAt = performance.now();
    const elapsed = elapsedMs ?? (() => performance.now() - startedAt);
    let sawText = false;
    return {
      firstText: () => {
        if (sawText) return;
        sawText = true;
        this.firstToken.observe(elapsed() / 1000);
      },
      ended: (status, usage) => {
        this.replies.inc({ status });
        if (!usage) return;
        this.tokens.inc({ user_class: userClass, kind: 'prompt' }, usage.promptTokens);
        this.tokens.inc({ user_class: userClass, kind: 'completion' }, usage.completionTokens);
      },
    };
  }
}
