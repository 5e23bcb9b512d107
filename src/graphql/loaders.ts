import type { ConversationService } from '../conversations/conversation-service.js';
import type { ToolCall } from '../conversations/tool-call.entity.js';
import type { EntityManager } from '../db/orm.js';

/**
 * Collects keys requested in the same tick and loads them with one query, so listing 50 messages with
 * their tool calls costs two queries, not 51.
 */
class BatchLoader<Key, Value> {
  private pending: { key: Key; resolve: (value: Value) => void; reject: (error: unknown) => void }[] = [];

  constructor(
    private readonly loadMany: (keys: readonly Key[]) => Promise<Map<Key, Value>>,
    private readonly fallback: Value,
  ) {}

  load(key: Key): Promise<Value> {
    return new Promise((resolve, reject) => {
      this.pending.push({ key, resolve, reject });
      if (this.pending.length === 1) process.nextTick(() => void this.dispatch());
    });
  }

  private async dispatch(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    try {
      const values = await this.loadMany([...new Set(batch.map((item) => item.key))]);
      for (const item of batch) item.resolve(values.get(item.key) ?? this.fallback);
    } catch (error) {
      for (const item of batch) item.reject(error);
    }
  }
}

export interface Loaders {
  toolCallsByMessage: BatchLoader<string, ToolCall[]>;
}

export function createLoaders(em: EntityManager, conversations: ConversationService): Loaders {
  return {
    toolCallsByMessage: new BatchLoader((ids) => conversations.toolCalls(em, ids), []),
  };
}
