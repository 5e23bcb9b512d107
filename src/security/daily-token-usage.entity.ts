import { defineEntity, type InferEntity } from '@mikro-orm/core';

/** Model tokens a user spent on one UTC day, the basis of TOKEN_BUDGET_PER_DAY. */
export const DailyTokenUsageSchema = defineEntity({
  name: 'DailyTokenUsage',
  tableName: 'token_usage',
  primaryKeys: ['userId', 'day'],
  properties: (p) => ({
    userId: p.string().primary().length(255),
    /** The UTC date, as YYYY-MM-DD. */
    day: p.string().primary().length(10),
    /** Every token charged that day: prompt and completion, measured or estimated. */
    tokens: p.bigint('number'),
    /** The part of `tokens` counted locally because the endpoint reported no usage. */
    estimatedTokens: p.bigint('number'),
  }),
});

export type DailyTokenUsage = InferEntity<typeof DailyTokenUsageSchema>;
