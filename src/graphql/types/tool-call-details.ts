import type { ToolCallVerification } from '../../conversations/tool-call.entity.js';
import type { Builder } from '../builder.js';

type EntityVerification = ToolCallVerification['entities'][number];

/** Types that describe a tool call's verified effect and its confirmation. */
export function addToolCallDetails(builder: Builder) {
  const VerificationOutcome = builder.enumType('VerificationOutcome', {
    values: {
      CHANGED: { description: 'Every targeted entity reported a new state.' },
      PARTIAL: { description: 'Some targeted entities changed and some did not.' },
      UNCHANGED: { description: 'Home Assistant accepted the call, but no targeted entity changed.' },
      UNKNOWN_ENTITY: { description: 'The targeted entities do not exist in Home Assistant.' },
    } satisfies Record<ToolCallVerification['outcome'], unknown>,
  });
  const EntityOutcome = builder.enumType('EntityOutcome', {
    values: {
      CHANGED: { description: 'The entity reported a new state or new attributes.' },
      UNCHANGED: { description: 'No change was reported before the wait ended.' },
      UNKNOWN_ENTITY: { description: 'Home Assistant does not know the entity.' },
    } satisfies Record<EntityVerification['outcome'], unknown>,
  });

  const EntityVerificationRef = builder.objectRef<EntityVerification>('EntityVerification');
  builder.objectType(EntityVerificationRef, {
    fields: (t) => ({
      entityId: t.exposeString('entityId'),
      outcome: t.field({ type: EntityOutcome, resolve: (entity) => entity.outcome }),
      previousState: t.string({ nullable: true, resolve: (entity) => entity.previousState }),
      state: t.string({ nullable: true, description: 'The state after the call.', resolve: (entity) => entity.state }),
    }),
  });

  const ToolCallVerificationRef = builder.objectRef<ToolCallVerification>('ToolCallVerification');
  builder.objectType(ToolCallVerificationRef, {
    description: 'What a state-changing call did, from the state_changed events of its targets (or a read when none arrived).',
    fields: (t) => ({
      outcome: t.field({ type: VerificationOutcome, resolve: (verification) => verification.outcome }),
      entities: t.field({ type: [EntityVerificationRef], resolve: (verification) => verification.entities }),
    }),
  });

  const ToolCallConfirmationRef = builder.objectRef<{ approved: boolean; decidedAt: Date | string | null }>('ToolCallConfirmation');
  builder.objectType(ToolCallConfirmationRef, {
    fields: (t) => ({
      approved: t.exposeBoolean('approved'),
      decidedAt: t.field({ type: 'DateTime', nullable: true, resolve: (confirmation) => confirmation.decidedAt }),
    }),
  });

  return { ToolCallVerification: ToolCallVerificationRef, ToolCallConfirmation: ToolCallConfirmationRef };
}
