import type { Builder } from '../builder.js';
import type { Refs } from './refs.js';

export function addUserDataOperations(builder: Builder, refs: Refs): void {
  builder.queryField('exportMyData', (t) =>
    t.field({
      type: 'JSON',
      description:
        'Everything stored about the caller as one JSON document: conversations with their messages, tool calls and reply events, and API keys (without secrets).',
      authScopes: { read: true },
      resolve: (_root, _args, context) => context.services.userData.export(context.caller.userId),
    }),
  );

  builder.mutationField('deleteMyData', (t) =>
    t.field({
      type: refs.DeletePayload,
      description:
        'Deletes everything stored about the caller: every conversation with its messages, tool calls and reply events, and every API key of the caller, including the one making this request. Streaming replies are cancelled first. `id` is the user id; `deleted` is false when nothing was stored.',
      authScopes: { chat: true },
      resolve: async (_root, _args, context) => {
        const deleted = await context.services.userData.delete(context.caller.userId);
        return { id: context.caller.userId, deleted: deleted.conversations + deleted.messages + deleted.apiKeys > 0 };
      },
    }),
  );
}
