import type { Caller } from '../auth/caller.js';
import { hasScope } from '../auth/caller.js';
import { MessageSchema } from '../conversations/message.entity.js';
import { ToolCallSchema, type ToolCall } from '../conversations/tool-call.entity.js';
import type { Database } from '../db/orm.js';
import type { Logger } from '../observability/logger.js';
import { AppError } from '../security/errors.js';
import { REPLY_CONTROL_TOPIC } from './chat-events.js';
import type { EventBus } from './event-bus.js';

export type ConfirmationOutcome = 'APPROVED' | 'DENIED' | 'EXPIRED';

type ConfirmControl = { action: 'confirm'; toolCallId: string };

/**
 * How often a waiting turn reads its tool call again. A decision normally arrives at once over the bus;
 * this covers a bus message lost between instances.
 */
const POLL_INTERVAL_MS = 2_000;

/**
 * Confirmations of risky tool calls. The decision is stored with a conditional update on the tool call
 * (AWAITING_CONFIRMATION to RUNNING or REJECTED, before expiresAt), so exactly one decision or the
 * expiry wins, whichever instance receives it. The instance that runs the turn learns of it through the
 * reply-control topic and reads the stored decision.
 */
export class ToolConfirmations {
  private readonly waiters = new Map<string, () => void>();
  private readonly stopControl: () => void;

  constructor(
    private readonly db: Database,
    private readonly bus: EventBus,
    private readonly logger: Logger,
  ) {
    this.stopControl = bus.subscribe(REPLY_CONTROL_TOPIC, (payload) => {
      const control = payload as Partial<ConfirmControl> | undefined;
      if (control?.action === 'confirm' && typeof control.toolCallId === 'string') this.waiters.get(control.toolCallId)?.();
    });
  }

  /**
   * Waits for the decision on a tool call in AWAITING_CONFIRMATION. At `expiresAt` the call becomes
   * EXPIRED, unless a decision was stored first. An abort rejects with the signal's reason and leaves the
   * tool call for the turn to end.
   */
  async wait(toolCallId: string, expiresAt: Date, signal: AbortSignal): Promise<ConfirmationOutcome> {
    for (;;) {
      const decided = await this.readOutcome(toolCallId);
      if (decided) return decided;
      const remaining = expiresAt.getTime() - Date.now();
      if (remaining <= 0) {
        const expired = await this.db
          .fork()
          .nativeUpdate(ToolCallSchema, { id: toolCallId, status: 'AWAITING_CONFIRMATION' }, { status: 'EXPIRED', finishedAt: new Date() });
        if (expired > 0) return 'EXPIRED';
        continue;
      }
      await this.sleep(toolCallId, Math.min(remaining, POLL_INTERVAL_MS), signal);
    }
  }

  /**
   * Approves or declines a tool call of the caller that waits for a confirmation, and wakes the turn that
   * waits for it, on whichever instance it runs. Returns the tool call as stored after the decision.
   */
  async confirm(caller: Caller, toolCallId: string, approve: boolean): Promise<ToolCall> {
    const em = this.db.fork();
    const row = await em.findOne(ToolCallSchema, { id: toolCallId, ownerId: caller.userId });
    if (!row) throw AppError.notFound('Tool call');
    if (approve && !hasScope(caller, 'control')) throw AppError.forbidden('Approving an action needs the control scope.');
    if (row.status !== 'AWAITING_CONFIRMATION') throw await this.notAwaiting(row);
    if (row.expiresAt && row.expiresAt.getTime() <= Date.now()) throw expiredError(row.expiresAt);

    const now = new Date();
    const updated = await em.nativeUpdate(
      ToolCallSchema,
      { id: toolCallId, ownerId: caller.userId, status: 'AWAITING_CONFIRMATION', expiresAt: { $gt: now } },
      { status: approve ? 'RUNNING' : 'REJECTED', decision: approve ? 'APPROVED' : 'DENIED', decidedBy: caller.userId, decidedAt: now },
    );
    const current = await this.db.fork().findOneOrFail(ToolCallSchema, { id: toolCallId });
    if (updated === 0) {
      if (current.status === 'AWAITING_CONFIRMATION' && current.expiresAt) throw expiredError(current.expiresAt);
      throw await this.notAwaiting(current);
    }

    this.bus.publish(REPLY_CONTROL_TOPIC, { action: 'confirm', toolCallId } satisfies ConfirmControl);
    this.logger.info(
      { event: 'tool.confirmation', toolCallId, messageId: current.messageId, userId: caller.userId, decision: current.decision },
      'Tool call confirmation stored',
    );
    return current;
  }

  close(): void {
    this.stopControl();
    for (const wake of this.waiters.values()) wake();
  }

  private async readOutcome(toolCallId: string): Promise<ConfirmationOutcome | undefined> {
    const row = await this.db.fork().findOne(ToolCallSchema, { id: toolCallId }, { fields: ['status', 'decision'] });
    if (!row || row.status === 'EXPIRED') return 'EXPIRED';
    if (row.decision === 'APPROVED') return 'APPROVED';
    if (row.decision === 'DENIED') return 'DENIED';
    return row.status === 'AWAITING_CONFIRMATION' ? undefined : 'EXPIRED';
  }

  private sleep(toolCallId: string, milliseconds: number, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const finish = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        this.waiters.delete(toolCallId);
      };
      const timer = setTimeout(() => {
        finish();
        resolve();
      }, milliseconds);
      const onAbort = () => {
        finish();
        reject(signal.reason);
      };
      if (signal.aborted) {
        onAbort();
        return;
      }
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.set(toolCallId, () => {
        finish();
        resolve();
      });
    });
  }

  private async notAwaiting(row: ToolCall): Promise<AppError> {
    if (row.decision) {
      const when = row.decidedAt ? ` at ${row.decidedAt.toISOString()}` : '';
      return AppError.conflict(`This action was already ${row.decision === 'APPROVED' ? 'approved' : 'declined'}${when}.`);
    }
    if (row.status === 'EXPIRED' && row.expiresAt) return expiredError(row.expiresAt);
    if (row.summary) {
      const reply = await this.db.fork().findOne(MessageSchema, { id: row.messageId }, { fields: ['status'] });
      return AppError.conflict(
        `This action can no longer be confirmed: its reply ended${reply ? ` (${reply.status})` : ''} before it was confirmed, for example by a cancellation or a server restart. Nothing was done; ask the agent again.`,
      );
    }
    return AppError.conflict('This tool call does not wait for a confirmation.');
  }
}

function expiredError(expiresAt: Date): AppError {
  return AppError.conflict(`The confirmation expired at ${expiresAt.toISOString()}. Nothing was done; ask the agent again.`);
}
