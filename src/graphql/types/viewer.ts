import { SCOPES } from '../../config.js';
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

  builder.objectType(refs.Viewer, {
    description: 'The authenticated caller.',
    fields: (t) => ({
      id: t.exposeID('userId', { description: 'The user id: the JWT subject, or the user an API key belongs to.' }),
      scopes: t.field({ type: [Scope], resolve: (caller) => SCOPES.filter((scope) => caller.scopes.has(scope)) }),
    }),
  });

  builder.queryField('viewer', (t) => t.field({ type: refs.Viewer, resolve: (_root, _args, context) => context.caller }));
}
