import type { Database } from '../../db/orm.js';
import { uuidv7 } from '../../db/uuid.js';
import { CreatedAutomationSchema, type CreatedAutomation } from './created-automation.entity.js';

/** Records the automations this service created, per owner. */
export class CreatedAutomations {
  constructor(private readonly db: Database) {}

  async record(entry: Pick<CreatedAutomation, 'ownerId' | 'automationId' | 'entityId' | 'alias' | 'config' | 'toolCallId'>): Promise<CreatedAutomation> {
    const em = this.db.fork();
    const row = em.create(CreatedAutomationSchema, { ...entry, id: uuidv7(), createdAt: new Date(), deletedAt: null });
    await em.flush();
    return row;
  }

  /** Finds an automation the owner created and has not deleted, by its automation id or its entity id. */
  async findActive(ownerId: string, reference: string): Promise<CreatedAutomation | undefined> {
    const row = await this.db.fork().findOne(CreatedAutomationSchema, {
      ownerId,
      deletedAt: null,
      $or: [{ automationId: reference }, { entityId: reference }],
    });
    return row ?? undefined;
  }

  async markDeleted(id: string): Promise<void> {
    await this.db.fork().nativeUpdate(CreatedAutomationSchema, { id }, { deletedAt: new Date() });
  }
}
