import type { Builder } from '../builder.js';
import type { Refs } from './refs.js';

export function addUserDataOperations(builder: Builder, refs: Refs): void {
  builder.queryField('exportMyData', (t) =>
    t.field({
      type: 'JSON',
      description:
        'Everything stored about the caller as one JSON document: conversations with their messages, tool calls and reply events, API keys (without secrets), automations the agent created and daily token usage.',
      authScopes: { read: true },
      resolve: (_root, _args, context) => context.services.userData.export(context.caller.userId),
    }),
  );

  builder.mutationField('deleteMyData', (t) =>
    t.field({
      type: refs.DeletePayload,
      description:
        'Deletes everything stored about the caller: every conversation with its messages, tool calls and reply events, every API key of the caller (including the one making this request), and the records of automations the agent created (the automations stay in Home Assistant). Daily token counts stay, so the budget of the day holds. Streaming replies are cancelled first. `id` is the user id; `deleted` is false when nothing was stored.',
      authScopes: { chat: true },
      resolve: async (_root, _args, context) => {
        const deleted = await context.services.userData.delete(context.caller.userId);
        return { id: context.caller.userId, deleted: deleted.conversations + deleted.messages + deleted.apiKeys + deleted.createdAutomations > 0 };
      },
    }),
  );
}
