import type { ChatEvent } from './chat-events.js';

/** A reply being generated in this process. */
export interface ActiveReply {
  messageId: string;
  conversationId: string;
  ownerId: string;
  /** Every event emitted so far, so replays in this process need no database read. */
  events: ChatEvent[];
  controller: AbortController;
  /** Settles when the turn has stored its last event. */
  done: Promise<void>;
}

/** Reason a turn was aborted, which the runner reads from the signal. `deadline` means AGENT_TURN_DEADLINE_SECONDS passed. */
export type AbortReason = 'cancelled' | 'shutdown' | 'deadline';

export class ActiveReplies {
  private readonly replies = new Map<string, ActiveReply>();

  add(reply: ActiveReply): void {
    this.replies.set(reply.messageId, reply);
  }

  get(messageId: string): ActiveReply | undefined {
    return this.replies.get(messageId);
  }

  remove(messageId: string): void {
    this.replies.delete(messageId);
  }

  countForOwner(ownerId: string): number {
    let count = 0;
    for (const reply of this.replies.values()) if (reply.ownerId === ownerId) count += 1;
    return count;
  }

  hasConversation(conversationId: string): boolean {
    for (const reply of this.replies.values()) if (reply.conversationId === conversationId) return true;
    return false;
  }

  all(): ActiveReply[] {
    return [...this.replies.values()];
  }

  get size(): number {
    return this.replies.size;
  }
}
