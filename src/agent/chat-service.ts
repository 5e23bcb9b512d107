import { setMaxListeners } from 'node:events';
import type { Caller } from '../auth/caller.js';
import { hasScope } from '../auth/caller.js';
import type { Database } from '../db/orm.js';
import { uuidv7 } from '../db/uuid.js';
import { ConversationSchema, type Conversation } from '../conversations/conversation.entity.js';
import { MessageSchema, type Message } from '../conversations/message.entity.js';
import { titleFromMessage } from '../conversations/title.js';
import type { Logger } from '../observability/logger.js';
import { AppError } from '../security/errors.js';
import type { RateLimits } from '../security/rate-limit/rate-limits.js';
import type { TokenBudget } from '../security/token-budget.js';
import type { AbortReason, ActiveReplies, ActiveReply } from './active-replies.js';
import { conversationDeletedTopic, REPLY_CONTROL_TOPIC, type ChatEvent } from './chat-events.js';
import type { EventBus } from './event-bus.js';
import { assertMessageFits } from './prompt-builder.js';
import type { ReplyEventStore } from './reply-event-store.js';
import { assertReplySlot } from './reply-slots.js';
import { endUnownedReply } from './recovery.js';
import { followConversation, followReply, type StreamCloser } from './reply-stream.js';
import { systemPrompt } from './system-prompt.js';
import type { ToolRegistry } from './tools/registry.js';
import type { TurnRunner } from './turn-runner.js';
import { OpenCounts } from '../security/open-counts.js';

export interface ChatInput {
  message: string;
  conversationId?: string | null;
  refreshContext?: boolean | null;
  clientMessageId?: string | null;
}

export interface TurnStart {
  conversation: Conversation;
  userMessage: Message;
  reply: Message;
}

export interface ChatServiceDependencies {
  /** Called with the final status of a reply this service ends without its turn, for the reply metrics. */
  onReplyEnded?: (status: 'CANCELLED') => void;
  db: Database;
  bus: EventBus;
  logger: Logger;
  tools: ToolRegistry;
  /** Undefined when no model is configured; chat then fails with LLM_NOT_CONFIGURED. */
  runner: TurnRunner | undefined;
  active: ActiveReplies;
  store: ReplyEventStore;
  maxInputTokens: number;
  rateLimits: RateLimits;
  budget: TokenBudget;
  /** Replies one user may have STREAMING at once, across instances. */
  maxConcurrentReplies: number;
  /** Reply and conversation streams one user may have open at once in this process. */
  maxStreamsPerUser?: number;
  /** Recorded on each new reply, so other instances can tell whether its generator is alive. */
  instanceId?: string;
  /** Ids of the instances whose heartbeat is recent. */
  liveInstanceIds?: () => Promise<Set<string>>;
  /** Maximum time a tool call may run, in milliseconds; a live instance gets this long to end a reply cancelled elsewhere. */
  toolTimeoutMs?: number;
}

type ReplyControl = { action: 'cancel'; messageId: string };

/** How long a cancel waits for another instance to stop a reply before ending it here. */
const REMOTE_CANCEL_WAIT_MS = 3_000;

function isUniqueViolation(error: unknown): boolean {
  return error instanceof Error && error.name === 'UniqueConstraintViolationException';
}

/**
 * Returns the turn an earlier request with the same clientMessageId started, when this request is its
 * retry. A different message or conversation under the same key is a client bug, which silently getting
 * the other turn back would hide, so it is CONFLICT.
 */
function sameTurnOrConflict(earlier: TurnStart, input: ChatInput): TurnStart {
  const sameConversation = !input.conversationId || input.conversationId === earlier.conversation.id;
  if (earlier.userMessage.content === input.message && sameConversation) return earlier;
  throw AppError.conflict('This clientMessageId was already used for a different message. Use a new one for each message.');
}

/**
 * The entry point for chat turns and reply streams, independent of any transport. Every method takes
 * the caller and checks ownership before it touches data.
 */
export class ChatService {
  private accepting = true;
  private readonly stopControl: () => void;
  /** Aborted at shutdown to end every open reply and conversation stream. */
  private readonly streamsStop = new AbortController();
  private streams = 0;
  private readonly streamsByUser = new OpenCounts();

  constructor(private readonly deps: ChatServiceDependencies) {
    // Every open stream listens for shutdown on this one signal.
    setMaxListeners(0, this.streamsStop.signal);
    this.stopControl = deps.bus.subscribe(REPLY_CONTROL_TOPIC, (payload) => {
      const control = payload as ReplyControl;
      if (control.action === 'cancel') deps.active.get(control.messageId)?.controller.abort('cancelled' satisfies AbortReason);
    });
  }

  get activeReplies(): ActiveReplies {
    return this.deps.active;
  }

  /** Reply and conversation streams currently open in this process. */
  get openStreams(): number {
    return this.streams;
  }

  /**
   * Stores the user message and a STREAMING reply in one transaction, starts generating the reply in the
   * background and returns at once. A repeated clientMessageId returns the first turn instead, and is not
   * counted against the rate limit. Throws RATE_LIMITED, BAD_USER_INPUT (message too long for the model,
   * which still counts as a turn), BUDGET_EXHAUSTED or CONFLICT (too many replies streaming) before
   * anything is stored.
   */
  async startTurn(caller: Caller, input: ChatInput): Promise<TurnStart> {
    const { deps } = this;
    if (!deps.runner) throw AppError.llmNotConfigured();
    if (!this.accepting) throw AppError.llmUnavailable('The server is shutting down. Try again in a moment.');

    if (input.clientMessageId) {
      const earlier = await this.findTurnByClientMessageId(caller.userId, input.clientMessageId);
      if (earlier) return sameTurnOrConflict(earlier, input);
    }

    // Counted before the turn is stored and given back when it is not, so the limit counts started turns.
    // A message too long for the model keeps its count: counting its tokens costs CPU time, so a user
    // cannot send such messages faster than the chat limit allows.
    const releaseTurn = await deps.rateLimits.reserveChatTurn(caller.userId);
    assertMessageFits(
      { system: systemPrompt({ canControl: hasScope(caller, 'control') }), message: input.message, tools: deps.tools.definitions({ caller }) },
      deps.maxInputTokens,
    );

    let turn: TurnStart;
    try {
      await deps.budget.assertAvailable(caller.userId);
      turn = await this.storeTurn(caller, input);
    } catch (error) {
      await releaseTurn();
      // A concurrent request with the same clientMessageId may have stored the turn first: this one then
      // fails on the unique key, or on the reply slot that turn now holds.
      if (input.clientMessageId && (isUniqueViolation(error) || (error instanceof AppError && error.code === 'CONFLICT'))) {
        const earlier = await this.findTurnByClientMessageId(caller.userId, input.clientMessageId);
        if (earlier) return sameTurnOrConflict(earlier, input);
      }
      throw error;
    }

    this.launch(caller, turn, input);
    return turn;
  }

  /** Yields a reply's events after `after`, stored then live, and ends after its last event. */
  async followReply(caller: Caller, messageId: string, after: number): Promise<AsyncIterableIterator<ChatEvent>> {
    const release = this.reserveStream(caller.userId);
    try {
      const reply = await this.deps.db.fork().findOne(MessageSchema, { id: messageId, ownerId: caller.userId, role: 'ASSISTANT' });
      if (!reply) throw AppError.notFound('Reply');
    } catch (error) {
      release();
      throw error;
    }
    return this.track(release, (closer) =>
      followReply({ messageId, after, bus: this.deps.bus, store: this.deps.store, signal: this.streamsStop.signal, closer }),
    );
  }

  /**
   * Starts a turn and yields its reply's events, for transports that send the message and stream the
   * reply in one operation. The stream is reserved first, so a caller at the stream limit starts no turn.
   */
  async streamTurn(caller: Caller, input: ChatInput): Promise<AsyncIterableIterator<ChatEvent>> {
    const release = this.reserveStream(caller.userId);
    let turn: TurnStart;
    try {
      turn = await this.startTurn(caller, input);
    } catch (error) {
      release();
      throw error;
    }
    const messageId = turn.reply.id;
    return this.track(release, (closer) =>
      followReply({ messageId, after: 0, bus: this.deps.bus, store: this.deps.store, signal: this.streamsStop.signal, closer }),
    );
  }

  /**
   * Yields every event of every reply in the conversation from now on (live only, no replay), until the
   * conversation is deleted or the subscriber stops.
   */
  async followConversation(caller: Caller, conversationId: string): Promise<AsyncIterableIterator<ChatEvent>> {
    const release = this.reserveStream(caller.userId);
    try {
      const conversation = await this.deps.db.fork().findOne(ConversationSchema, { id: conversationId, ownerId: caller.userId }, { fields: ['id'] });
      if (!conversation) throw AppError.notFound('Conversation');
    } catch (error) {
      release();
      throw error;
    }
    return this.track(release, (closer) => followConversation(this.deps.bus, conversationId, { signal: this.streamsStop.signal, closer }));
  }

  /**
   * Deletes a conversation of the caller with everything stored in it. A reply still streaming there, on
   * this or another instance, is cancelled first and allowed to store its end, so no writer touches the
   * rows after they are gone.
   */
  async deleteConversation(caller: Caller, conversationId: string): Promise<boolean> {
    const em = this.deps.db.fork();
    const conversation = await em.findOne(ConversationSchema, { id: conversationId, ownerId: caller.userId });
    if (!conversation) return false;
    await this.cancelStreamingReplies({ ownerId: caller.userId, conversationId });
    const deleted = (await em.nativeDelete(ConversationSchema, { id: conversationId, ownerId: caller.userId })) > 0;
    if (deleted) this.deps.bus.publish(conversationDeletedTopic(conversationId), { conversationId });
    return deleted;
  }

  /**
   * Cancels a streaming reply of the caller: the model request and any tool that has not sent its change
   * to Home Assistant are aborted, the text so far is kept and the reply ends CANCELLED. A change already
   * sent finishes first and is stored with its outcome. A reply that has already ended gives CONFLICT.
   */
  async cancelReply(caller: Caller, messageId: string): Promise<Message> {
    const { db } = this.deps;
    const reply = await db.fork().findOne(MessageSchema, { id: messageId, ownerId: caller.userId, role: 'ASSISTANT' });
    if (!reply) throw AppError.notFound('Reply');
    if (reply.status !== 'STREAMING') throw AppError.conflict(`The reply has already ended (${reply.status}).`);

    await this.stopReply(messageId);

    const final = await db.fork().findOneOrFail(MessageSchema, { id: messageId });
    if (final.status !== 'CANCELLED') throw AppError.conflict(`The reply has already ended (${final.status}).`);
    return final;
  }

  /**
   * Cancels every STREAMING reply that matches, wherever it runs, and waits until each has ended. Used
   * before deleting data, so no generator writes into deleted rows.
   */
  async cancelStreamingReplies(where: { ownerId: string; conversationId?: string }): Promise<void> {
    const streaming = await this.deps.db.fork().find(MessageSchema, { ...where, role: 'ASSISTANT', status: 'STREAMING' }, { fields: ['id'] });
    await Promise.all(streaming.map((reply) => this.stopReply(reply.id)));
  }

  /**
   * Stops accepting turns, waits up to graceMs for running replies, then interrupts the rest. Open
   * streams end after the events they have received, so subscribers see a clean end of the operation.
   */
  async shutdown(graceMs: number): Promise<void> {
    this.accepting = false;
    const running = this.deps.active.all();
    if (running.length > 0) {
      const settled = Promise.allSettled(running.map((reply) => reply.done));
      const timedOut = await Promise.race([settled.then(() => false), new Promise<boolean>((resolve) => setTimeout(() => resolve(true), graceMs).unref())]);
      if (timedOut) {
        for (const reply of this.deps.active.all()) reply.controller.abort('shutdown' satisfies AbortReason);
        await Promise.allSettled(this.deps.active.all().map((reply) => reply.done));
      }
    }
    this.stopControl();
    this.streamsStop.abort();
  }

  /**
   * Ends a reply as CANCELLED: aborts it when it runs here, otherwise sends a cancel request to the
   * instance that runs it, and ends it directly when no instance acts in time.
   */
  private async stopReply(messageId: string): Promise<void> {
    const { db, active, bus } = this.deps;
    const running = active.get(messageId);
    if (running) {
      running.controller.abort('cancelled' satisfies AbortReason);
      await running.done;
      return;
    }
    bus.publish(REPLY_CONTROL_TOPIC, { action: 'cancel', messageId } satisfies ReplyControl);
    if (await this.waitUntilEnded(messageId, REMOTE_CANCEL_WAIT_MS)) return;
    // A live owner may be finishing a service call it already sent, which a cancel does not abort. It gets
    // up to the tool timeout to store the call's real outcome, because ending the reply here would store
    // the call as failed while Home Assistant carries it out.
    if (await this.ownerIsAlive(messageId)) {
      if (await this.waitUntilEnded(messageId, this.deps.toolTimeoutMs ?? 0)) return;
    }
    if (await endUnownedReply(db, messageId, { status: 'CANCELLED', event: 'ReplyCancelled' }, bus)) this.deps.onReplyEnded?.('CANCELLED');
  }

  private async ownerIsAlive(messageId: string): Promise<boolean> {
    if (!this.deps.liveInstanceIds) return false;
    const reply = await this.deps.db.fork().findOne(MessageSchema, { id: messageId }, { fields: ['instanceId'] });
    return reply?.instanceId ? (await this.deps.liveInstanceIds()).has(reply.instanceId) : false;
  }

  /**
   * Counts a stream against the caller's limit and returns the function that gives it back (safe to
   * call twice). Open streams cost memory however quiet they are, so one user cannot hold without bound.
   */
  private reserveStream(userId: string): () => void {
    const limit = this.deps.maxStreamsPerUser ?? Number.POSITIVE_INFINITY;
    const release = this.streamsByUser.take(userId, limit);
    if (!release) throw AppError.conflict(`You have ${limit} subscriptions open, the most allowed. Close one before opening another.`);
    return release;
  }

  /** Counts an open stream until it ends or is closed, and gives its reservation back then. */
  private track(reservation: () => void, start: (closer: StreamCloser) => AsyncGenerator<ChatEvent>): AsyncIterableIterator<ChatEvent> {
    this.streams += 1;
    return new TrackedStream(start, () => {
      this.streams -= 1;
      reservation();
    });
  }

  private async waitUntilEnded(messageId: string, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      if ((await this.deps.store.status(messageId)) !== 'STREAMING') return true;
    }
    return false;
  }

  private async storeTurn(caller: Caller, input: ChatInput): Promise<TurnStart> {
    const em = this.deps.db.fork();
    return em.transactional(async (tx) => {
      await assertReplySlot(tx, this.deps.db.target, caller.userId, input.conversationId ?? undefined, this.deps.maxConcurrentReplies);
      const now = new Date();
      let conversation: Conversation | null;
      if (input.conversationId) {
        conversation = await tx.findOne(ConversationSchema, { id: input.conversationId, ownerId: caller.userId });
        if (!conversation) throw AppError.notFound('Conversation');
        conversation.updatedAt = now;
      } else {
        conversation = tx.create(ConversationSchema, {
          id: uuidv7(),
          ownerId: caller.userId,
          title: titleFromMessage(input.message),
          createdAt: now,
          updatedAt: now,
        });
      }
      // The entities declare no relations, so the unit of work cannot order these inserts by foreign key.
      await tx.flush();

      const userMessage = tx.create(MessageSchema, {
        id: uuidv7(),
        conversationId: conversation.id,
        ownerId: caller.userId,
        role: 'USER',
        content: input.message,
        status: 'COMPLETED',
        model: null,
        usage: null,
        error: null,
        clientMessageId: input.clientMessageId ?? null,
        replyToId: null,
        lastSequence: 0,
        createdAt: now,
        completedAt: now,
      });
      const reply = tx.create(MessageSchema, {
        id: uuidv7(),
        conversationId: conversation.id,
        ownerId: caller.userId,
        role: 'ASSISTANT',
        content: '',
        status: 'STREAMING',
        model: null,
        usage: null,
        error: null,
        clientMessageId: null,
        replyToId: userMessage.id,
        instanceId: this.deps.instanceId ?? null,
        lastSequence: 0,
        createdAt: now,
        completedAt: null,
      });
      await tx.flush();
      return { conversation, userMessage, reply };
    });
  }

  private async findTurnByClientMessageId(ownerId: string, clientMessageId: string): Promise<TurnStart | undefined> {
    const em = this.deps.db.fork();
    const userMessage = await em.findOne(MessageSchema, { ownerId, clientMessageId, role: 'USER' });
    if (!userMessage) return undefined;
    const [conversation, reply] = await Promise.all([
      em.findOne(ConversationSchema, { id: userMessage.conversationId, ownerId }),
      em.findOne(MessageSchema, { replyToId: userMessage.id, ownerId }),
    ]);
    if (!conversation || !reply) return undefined;
    return { conversation, userMessage, reply };
  }

  private launch(caller: Caller, turn: TurnStart, input: ChatInput): void {
    const runner = this.deps.runner;
    if (!runner) return;
    let settle!: () => void;
    const controller = new AbortController();
    // Every model attempt, tool and Home Assistant call of the turn listens to this signal, so a long
    // turn legitimately has more than Node's default of ten listeners.
    setMaxListeners(0, controller.signal);
    const active: ActiveReply = {
      messageId: turn.reply.id,
      conversationId: turn.conversation.id,
      ownerId: caller.userId,
      events: [],
      controller,
      done: new Promise<void>((resolve) => {
        settle = resolve;
      }),
    };
    this.deps.active.add(active);

    runner
      .run({ reply: active, caller, userMessageId: turn.userMessage.id, message: input.message, refreshContext: input.refreshContext ?? false })
      .catch((error: unknown) => this.deps.logger.error({ event: 'turn.crashed', messageId: active.messageId, err: error }, 'Chat turn crashed'))
      .finally(() => {
        this.deps.active.remove(active.messageId);
        settle();
      });
  }
}

/**
 * A reply or conversation stream that is freed as soon as its consumer closes it. A generator waiting
 * for its next event would run `return()` only once that event arrives, so closing first ends the wait
 * through the stream's closer. A class rather than closures, because thousands may be open at once.
 */
class TrackedStream implements AsyncIterableIterator<ChatEvent> {
  private readonly closer: StreamCloser = {};
  private readonly stream: AsyncGenerator<ChatEvent>;
  private released = false;

  constructor(
    start: (closer: StreamCloser) => AsyncGenerator<ChatEvent>,
    private readonly onRelease: () => void,
  ) {
    this.stream = start(this.closer);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<ChatEvent>> {
    return this.settle(this.stream.next());
  }

  async return(): Promise<IteratorResult<ChatEvent>> {
    this.closer.close?.();
    await this.settle(this.stream.return(undefined));
    this.release();
    return { done: true, value: undefined };
  }

  async throw(error?: unknown): Promise<IteratorResult<ChatEvent>> {
    this.closer.close?.();
    try {
      return await this.settle(this.stream.throw(error));
    } finally {
      this.release();
    }
  }

  private async settle(step: Promise<IteratorResult<ChatEvent>>): Promise<IteratorResult<ChatEvent>> {
    try {
      const result = await step;
      if (result.done) this.release();
      return result;
    } catch (error) {
      this.release();
      throw error;
    }
  }

  private release(): void {
    if (this.released) return;
    this.released = true;
    this.onRelease();
  }
}
