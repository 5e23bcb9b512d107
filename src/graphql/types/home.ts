import { z } from 'zod';
import type { ContextSection } from '../../home-assistant/home-context.js';
import type { HomeContextSnapshot } from '../../home-assistant/home-assistant.js';
import type { Builder } from '../builder.js';
import { uuidArgument } from './ids.js';
import type { Refs } from './refs.js';

/** The `home` query, which shows what the agent knows about the home, and `confirmToolCall`. */
export function addHomeOperations(builder: Builder, refs: Refs): void {
  const EntityListDetail = builder.enumType('EntityListDetail', {
    description: 'How much of the entity list fit the token budget.',
    values: {
      FULL: { description: 'Every exposed entity with its name and device class.' },
      PRIMARY: { description: 'Entities of the domains people act on are listed; sensors and the like are counted.' },
      PRIMARY_IDS: { description: 'As PRIMARY, but without names.' },
      COUNTS: { description: 'Only counts per area and domain; the search tool finds the entities.' },
    },
  });

  const Section = builder.objectRef<ContextSection>('HomeContextSection');
  builder.objectType(Section, {
    description: 'One part of the home context as the prompt contains it.',
    fields: (t) => ({
      name: t.exposeString('name', { description: 'summary, entities or states.' }),
      tokens: t.exposeInt('tokens', { description: 'Tokens of the text, counted with the o200k tokenizer.' }),
      text: t.exposeString('text'),
    }),
  });

  const HomeContext = builder.objectRef<HomeContextSnapshot>('HomeContext');
  builder.objectType(HomeContext, {
    description: 'What the agent knows about the home: the context its prompt gets, its size and its age.',
    fields: (t) => ({
      configured: t.boolean({ description: 'Whether HA_URL and HA_TOKEN are set.', resolve: (home) => home.status.configured }),
      available: t.boolean({
        description: 'Whether Home Assistant is connected and the home has been read; tools fail while it is not.',
        resolve: (home) => home.status.connected,
      }),
      problem: t.string({ nullable: true, description: 'Why Home Assistant is not available.', resolve: (home) => home.status.problem ?? null }),
      haVersion: t.string({ nullable: true, resolve: (home) => home.status.haVersion ?? null }),
      updatedAt: t.field({
        type: 'DateTime',
        nullable: true,
        description: 'When the states were last known to be current.',
        resolve: (home) => home.asOf ?? null,
      }),
      ageSeconds: t.int({
        nullable: true,
        description: 'Seconds since updatedAt: 0 while connected, growing while Home Assistant is unreachable.',
        resolve: (home) => (home.asOf ? Math.max(0, Math.round((Date.now() - home.asOf.getTime()) / 1000)) : null),
      }),
      syncedAt: t.field({
        type: 'DateTime',
        nullable: true,
        description: 'When the whole home was last read.',
        resolve: (home) => home.status.syncedAt ?? null,
      }),
      maxTokens: t.exposeInt('maxTokens', { description: 'HA_CONTEXT_MAX_TOKENS.' }),
      totalTokens: t.exposeInt('totalTokens', { description: 'Tokens of the context as sent, at most maxTokens.' }),
      entityListDetail: t.field({
        type: EntityListDetail,
        nullable: true,
        resolve: (home) => (home.detail ? (home.detail.toUpperCase().replace('-', '_') as 'FULL' | 'PRIMARY' | 'PRIMARY_IDS' | 'COUNTS') : null),
      }),
      entityCount: t.exposeInt('totalEntities', { description: 'Entities in the home.' }),
      exposedEntityCount: t.exposeInt('exposedEntities', { description: 'Entities the agent may see and act on.' }),
      sections: t.field({ type: [Section], resolve: (home) => home.sections }),
      text: t.string({
        description: 'The context blocks exactly as the prompt contains them.',
        resolve: (home) => [home.stableBlock, home.volatileBlock].filter(Boolean).join('\n'),
      }),
    }),
  });

  builder.queryField('home', (t) =>
    t.field({
      type: HomeContext,
      description: 'What the agent knows about the home. With refresh, the whole home is read from Home Assistant first.',
      authScopes: { read: true },
      args: { refresh: t.arg.boolean({ defaultValue: false }) },
      resolve: (_root, args, context) => context.services.home.get({ refresh: args.refresh ?? false }),
    }),
  );

  builder.mutationField('confirmToolCall', (t) =>
    t.field({
      type: refs.ToolCall,
      description:
        'Approves or declines an action that waits for a confirmation (status AWAITING_CONFIRMATION). Only the user whose reply asked may answer, once, before expiresAt. Approved, the action runs and the reply continues; follow it with replyStream. Returns the tool call as stored after the decision: RUNNING when approved, REJECTED when declined.',
      authScopes: { chat: true },
      args: {
        toolCallId: t.arg.id({ required: true }),
        approve: t.arg.boolean({ required: true }),
      },
      validate: z.object({ toolCallId: uuidArgument, approve: z.boolean() }),
      resolve: (_root, args, context) => context.services.confirmations.confirm(context.caller, String(args.toolCallId), args.approve),
    }),
  );
}
