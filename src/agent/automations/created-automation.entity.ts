import { defineEntity, type InferEntity } from '@mikro-orm/core';
import { EncryptedJsonType } from '../../db/encrypted-types.js';

/** An automation this service created in Home Assistant; only these can be deleted through the agent. */
export const CreatedAutomationSchema = defineEntity({
  name: 'CreatedAutomation',
  tableName: 'created_automations',
  properties: (p) => ({
    id: p.string().primary().length(36),
    ownerId: p.string().length(255),
    /** The id in Home Assistant's automation config, fresh for every creation. */
    automationId: p.string().length(255),
    /** The automation.* entity Home Assistant made for it; null until it appeared. */
    entityId: p.string().length(255).nullable(),
    /** NOTE: stored plain even with DATA_ENCRYPTION_KEY, because an encrypted alias can exceed the 255-character column. */
    alias: p.string().length(255),
    /** Encrypted at rest when DATA_ENCRYPTION_KEY is set. */
    config: p.type(new EncryptedJsonType('created_automations.config')).$type<Record<string, unknown>>(),
    /** The confirmed tool call that created it. */
    toolCallId: p.string().length(36),
    createdAt: p.datetime(3),
    deletedAt: p.datetime(3).nullable(),
  }),
});

export type CreatedAutomation = InferEntity<typeof CreatedAutomationSchema>;
