import type { Database } from '../db/orm.js';
import { DailyTokenUsageSchema } from './daily-token-usage.entity.js';
import { AppError } from './errors.js';

export interface BudgetStatus {
  /** Tokens allowed per UTC day; undefined when TOKEN_BUDGET_PER_DAY is unset. */
  limit: number | undefined;
  /** Tokens charged today, measured and estimated. */
  used: number;
  /** The part of `used` counted locally because the endpoint reported no usage. */
  estimatedTokens: number;
  /** Tokens left today, never below 0; undefined without a limit. */
  remaining: number | undefined;
  /** The next UTC midnight, when `used` starts again from 0. */
  resetsAt: Date;
}

/** Returns the UTC date of an instant, as YYYY-MM-DD. */
export function utcDay(instant: Date): string {
  return instant.toISOString().slice(0, 10);
}

export function nextUtcMidnight(instant: Date): Date {
  return new Date(Date.UTC(instant.getUTCFullYear(), instant.getUTCMonth(), instant.getUTCDate() + 1));
}

/**
 * Daily token budgets per user. A turn may start while today's total is below the limit. What it spends
 * is charged when it ends, so a turn that starts just under the limit can finish above it.
 */
export class TokenBudget {
  constructor(
    private readonly db: Database,
    private readonly limitPerDay: number | undefined,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async status(userId: string): Promise<BudgetStatus> {
    const now = this.now();
    const row = await this.db.fork().findOne(DailyTokenUsageSchema, { userId, day: utcDay(now) });
    const used = row?.tokens ?? 0;
    return {
      limit: this.limitPerDay,
      used,
      estimatedTokens: row?.estimatedTokens ?? 0,
      remaining: this.limitPerDay === undefined ? undefined : Math.max(0, this.limitPerDay - used),
      resetsAt: nextUtcMidnight(now),
    };
  }

  /** Throws BUDGET_EXHAUSTED when the user has no tokens left today. */
  async assertAvailable(userId: string): Promise<void> {
    if (this.limitPerDay === undefined) return;
    const status = await this.status(userId);
    if (status.remaining === 0) throw AppError.budgetExhausted(status.resetsAt, this.now());
  }

  /**
   * Adds tokens to today's total in one upsert statement, so concurrent charges of one user do not
   * overwrite each other. `estimatedTokens` is the part of `tokens` that was counted locally.
   */
  async charge(userId: string, tokens: number, estimatedTokens: number): Promise<void> {
    if (tokens <= 0) return;
    const knex = this.db.fork().getKnex();
    await knex('token_usage')
      .insert({ user_id: userId, day: utcDay(this.now()), tokens, estimated_tokens: estimatedTokens })
      .onConflict(['user_id', 'day'])
      .merge({
        tokens: knex.raw('token_usage.tokens + excluded.tokens'),
        estimated_tokens: knex.raw('token_usage.estimated_tokens + excluded.estimated_tokens'),
      });
  }
}
