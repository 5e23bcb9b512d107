import { SCOPES } from '../../config.js';
import type { BudgetStatus } from '../../security/token-budget.js';
import type { Builder } from '../builder.js';
import type { Refs } from './refs.js';

export function addViewerType(builder: Builder, refs: Refs): void {
  const Scope = builder.enumType('Scope', {
    values: {
      chat: { description: 'Start chat turns and follow replies.' },
      read: { description: 'Read conversations and the home.' },
      control: { description: 'Let the agent change devices. Without it the agent only reads.' },
      admin: { description: 'Operator access; includes every other scope.' },
    } satisfies Record<(typeof SCOPES)[number], unknown>,
  });

  const TokenBudget = builder.objectRef<BudgetStatus>('TokenBudget').implement({
    description: "Model tokens the caller may spend per UTC day (TOKEN_BUDGET_PER_DAY) and what today's turns spent.",
    fields: (t) => ({
      limit: t.int({ nullable: true, description: 'Tokens allowed per day; null when there is no budget.', resolve: (budget) => budget.limit ?? null }),
      used: t.int({ description: 'Tokens charged today: prompt and completion of every turn that ended today.', resolve: (budget) => clampToInt(budget.used) }),
      remaining: t.int({
        nullable: true,
        description: 'Tokens left today, never below 0; null when there is no budget.',
        resolve: (budget) => (budget.remaining === undefined ? null : clampToInt(budget.remaining)),
      }),
      estimated: t.boolean({
        description: 'True when part of `used` was counted locally because the model endpoint reported no usage.',
        resolve: (budget) => budget.estimatedTokens > 0,
      }),
      estimatedTokens: t.int({
        description: 'The part of `used` counted locally with the o200k tokenizer.',
        resolve: (budget) => clampToInt(budget.estimatedTokens),
      }),
      resetsAt: t.field({
        type: 'DateTime',
        description: 'The next UTC midnight, when `used` starts again from 0. New turns fail with BUDGET_EXHAUSTED while `remaining` is 0.',
        resolve: (budget) => budget.resetsAt,
      }),
    }),
  });

  builder.objectType(refs.Viewer, {
    description: 'The authenticated caller.',
    fields: (t) => ({
      id: t.exposeID('userId', { description: 'The user id: the JWT subject, or the user an API key belongs to.' }),
      scopes: t.field({ type: [Scope], resolve: (caller) => SCOPES.filter((scope) => caller.scopes.has(scope)) }),
      tokenBudget: t.field({
        type: TokenBudget,
        description: "The caller's daily token budget and what today's turns spent.",
        resolve: (caller, _args, context) => context.services.budget.status(caller.userId),
      }),
    }),
  });

  builder.queryField('viewer', (t) => t.field({ type: refs.Viewer, resolve: (_root, _args, context) => context.caller }));
}

/** GraphQL Int is 32-bit. NOTE: a count above 2,147,483,647 tokens a day shows as that number. */
function clampToInt(value: number): number {
  return Math.min(value, 2_147_483_647);
}
