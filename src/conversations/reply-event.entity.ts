import { defineEntity, type InferEntity } from '@mikro-orm/core';
import { EncryptedJsonType } from '../db/encrypted-types.js';

/** One stored event of a reply's event log; replay reads these in sequence order. */
export const ReplyEventSchema = defineEntity({
  name: 'ReplyEvent',
  tableName: 'reply_events',
  primaryKeys: ['messageId', 'sequence'],
  properties: (p) => ({
    messageId: p.string().primary().length(36),
    sequence: p.integer().primary(),
    type: p.string().length(64),
    /** Encrypted at rest when DATA_ENCRYPTION_KEY is set: deltas carry reply text, tool events carry arguments and results. */
    payload: p.type(new EncryptedJsonType('reply_events.payload')).$type<Record<string, unknown>>(),
    createdAt: p.datetime(3),
  }),
});

export type ReplyEvent = InferEntity<typeof ReplyEventSchema>;
