import { createHash } from 'node:crypto';
import type { ChatCompletionMessageParam, ChatCompletionMessageToolCall, ChatCompletionTool } from 'openai/resources/chat/completions';
import type { Caller } from '../auth/caller.js';
import { hasScope } from '../auth/caller.js';
import type { Database, EntityManager } from '../db/orm.js';
import { uuidv7 } from '../db/uuid.js';
import type { MessageError, TokenUsage } from '../conversations/message.entity.js';
import { ToolCallSchema, type ToolCall } from '../conversations/tool-call.entity.js';
import type { HomeContextProvider } from '../home-assistant/home-context-provider.js';
import { HomeAssistantRequestError } from '../home-assistant/rest-client.js';
import type { ChatModel } from '../llm/chat-model.js';
import { ModelError, modelFailureCause } from '../llm/model-errors.js';
import { ActiveTime } from './active-time.js';
import { countTokens } from '../llm/tokens.js';
import type { AssembledToolCall } from '../llm/tool-call-assembler.js';
import type { Logger } from '../observability/logger.js';
import { userClassOf, type Metrics } from '../observability/metrics.js';
import { isAppError } from '../security/errors.js';
import type { TokenBudget } from '../security/token-budget.js';
import type { AbortReason, ActiveReply } from './active-replies.js';
import type { ToolCallSnapshot } from './chat-events.js';
import type { EventBus } from './event-bus.js';
import { loadHistory } from './history.js';
import { buildPrompt } from './prompt-builder.js';
import type { ReplyEventStore } from './reply-event-store.js';
import { ReplyEventWriter } from './reply-event-writer.js';
import { systemPrompt, toolResultBlock, turnContextBlock } from './system-prompt.js';
import type { ToolConfirmations } from './tool-confirmations.js';
import type { ToolRegistry } from './tools/registry.js';
import { failed, isConfirmationRequest, rejected, type HomeToolDependencies, type ToolContext, type ToolOutcome, type ToolStep } from './tools/tool.js';

export interface TurnRunnerDependencies {
  db: Database;
  bus: EventBus;
  store: ReplyEventStore;
  model: ChatModel;
  tools: ToolRegistry;
  home: HomeContextProvider;
  homeTools: HomeToolDependencies;
  confirmations: ToolConfirmations;
  logger: Logger;
  maxToolRounds: number;
  /** Maximum tool calls run from one model response. Each call past it gets a rejection as its result. */
  maxToolCallsPerRound: number;
  maxInputTokens: number;
  /** Charged with the tokens of every turn when it ends. */
  budget: TokenBudget;
  /** Time a whole turn may take, in milliseconds; past it the reply ends FAILED with the text so far. */
  turnDeadlineMs: number;
  /** Log the user's message and the reply text (LOG_CONVERSATION_CONTENT); off, no message text is logged. */
  logContent?: boolean;
  /** Time one tool call may take, not counting the wait for a confirmation, in milliseconds. */
  toolTimeoutMs: number;
  /** How long a confirmation request stays open, in milliseconds. */
  confirmationTtlMs: number;
  /** Whether model requests carry `prompt_cache_key`. */
  promptCacheKey: boolean;
  metrics?: Metrics;
}

export interface Turn {
  reply: ActiveReply;
  caller: Caller;
  userMessageId: string;
  message: string;
  refreshContext: boolean;
}

/** A turn while it runs, with the ids of its tool calls that committed (see ToolContext.commit). */
interface RunningTurn extends Turn {
  committed: Set<string>;
  /** Time since the turn started, without confirmation waits, for the time to first token. */
  activeTime: ActiveTime;
}

/** Turns a failure into the code and safe message stored on the reply and sent in ReplyFailed. */
function describeFailure(error: unknown): MessageError {
  if (isAppError(error)) return { code: error.code, message: error.message, retryable: error.retryable };
  if (error instanceof ModelError) {
    if (error.kind === 'invalid-response') {
      return { code: 'LLM_UNAVAILABLE', message: 'The language model sent an invalid response.', retryable: true };
    }
    if (error.kind === 'idle-timeout') {
      return { code: 'LLM_UNAVAILABLE', message: 'The language model stopped sending its reply.', retryable: true };
    }
    if (error.status !== undefined && !error.retryable) {
      return { code: 'LLM_UNAVAILABLE', message: `The language model rejected the request (HTTP ${error.status}).`, retryable: false };
    }
    return { code: 'LLM_UNAVAILABLE', message: 'The language model is unavailable. Try again later.', retryable: true };
  }
  return { code: 'INTERNAL_SERVER_ERROR', message: 'Unexpected error.', retryable: true };
}

/**
 * Returns the cause beneath a reply's failure for its log line: the model's HTTP status or connection
 * error code, or Home Assistant's status. Upstream bodies and messages stay out, because they may quote
 * the prompt or a credential.
 */
function failureCause(error: unknown): Record<string, unknown> | undefined {
  if (error instanceof ModelError) return { upstream: 'model', ...modelFailureCause(error) };
  if (error instanceof HomeAssistantRequestError) return { upstream: 'home-assistant', status: error.status };
  return undefined;
}

function deadlineFailure(deadlineMs: number): MessageError {
  return {
    code: 'LLM_UNAVAILABLE',
    message: `The reply did not finish within ${Math.round(deadlineMs / 1000)} s (AGENT_TURN_DEADLINE_SECONDS).`,
    retryable: true,
  };
}

function snapshot(row: ToolCall): ToolCallSnapshot {
  return {
    id: row.id,
    name: row.name,
    arguments: row.arguments,
    result: row.result ?? null,
    status: row.status,
    error: row.error ?? null,
    summary: row.summary ?? null,
    expiresAt: row.expiresAt ? row.expiresAt.toISOString() : null,
    preview: row.preview ?? null,
    verification: row.verification ?? null,
    decision: row.decision ?? null,
    decidedAt: row.decidedAt ? row.decidedAt.toISOString() : null,
  };
}

/** Builds a key that is equal for the same call with the same arguments, whatever their key order. */
function callKey(call: AssembledToolCall): string {
  const canonical = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(canonical);
    if (typeof value === 'object' && value !== null) {
      return Object.fromEntries(
        Object.keys(value)
          .sort()
          .map((key) => [key, canonical((value as Record<string, unknown>)[key])]),
      );
    }
    return value;
  };
  return `${call.name}:${JSON.stringify(canonical(safeJson(call.arguments)))}`;
}

/**
 * Derives the key for providers that cache prompt prefixes. It is the same for every turn that starts
 * with the same instructions, tools and home context, so those requests are routed to the same cache.
 */
function promptCacheKey(system: string, tools: ChatCompletionTool[], context: string): string {
  const digest = createHash('sha256').update(system).update('\0').update(JSON.stringify(tools)).update('\0').update(context).digest('hex');
  return `ha-ai-agent-${digest.slice(0, 24)}`;
}

/** The signal and commit function of one tool run (see ToolContext). */
type ToolAbortScope = Pick<ToolContext, 'signal' | 'commit'>;

/** Stored on a tool call whose request may have reached Home Assistant when its outcome could not be stored. */
const UNKNOWN_OUTCOME = {
  code: 'HOME_ASSISTANT_UNAVAILABLE',
  message: 'The reply ended before the outcome of this call was stored. Home Assistant may have carried it out.',
};

/** Creates the row of a tool call the model requested; `state` sets how far it has got. */
function createToolCallRow(
  em: EntityManager,
  turn: RunningTurn,
  call: AssembledToolCall,
  round: number,
  state: Pick<ToolCall, 'result' | 'status' | 'error' | 'createdAt' | 'finishedAt'>,
): ToolCall {
  return em.create(ToolCallSchema, {
    id: uuidv7(),
    messageId: turn.reply.messageId,
    ownerId: turn.caller.userId,
    callId: call.id,
    name: call.name,
    arguments: safeJson(call.arguments),
    round,
    ...state,
    summary: null,
    expiresAt: null,
    preview: null,
    verification: null,
    decision: null,
    decidedBy: null,
    decidedAt: null,
  });
}

/** Returns the error stored on a tool call that sent nothing when its reply ended, so FAILED has a reason. */
function unsentError(reason: AbortReason | undefined): { code: string; message: string } {
  let cause = 'The reply failed';
  if (reason === 'shutdown') cause = 'The server shut down';
  if (reason === 'deadline') cause = 'The reply ran out of time';
  return { code: 'INTERNAL_SERVER_ERROR', message: `${cause} before this action was confirmed or run. Nothing was done.` };
}

/** Thrown inside a tool's deadline race; never leaves this module. */
class ToolTimeout extends Error {}

/** Most tool calls of one round that run at the same time. */
const MAX_PARALLEL_TOOL_CALLS = 8;

/**
 * Runs one chat turn: builds the prompt, streams the model, runs the tools it asks for and loops until
 * it answers in text or the tool rounds are used up. Every outcome ends the reply with exactly one final
 * event, and the text streamed so far is kept whatever happens.
 */
export class TurnRunner {
  constructor(private readonly deps: TurnRunnerDependencies) {}

  async run(started: Turn): Promise<void> {
    const { deps } = this;
    const turn: RunningTurn = { ...started, committed: new Set(), activeTime: new ActiveTime() };
    const { reply } = turn;
    const log = deps.logger.child({ userId: turn.caller.userId, conversationId: reply.conversationId, messageId: reply.messageId });
    const writer = new ReplyEventWriter({
      reply,
      store: deps.store,
      bus: deps.bus,
      logger: log,
      observer: deps.metrics?.observeReply(userClassOf(turn.caller), () => turn.activeTime.elapsedMs()),
    });
    const signal = reply.controller.signal;
    const startedAt = Date.now();
    /** Time to the first text delta, without confirmation waits. */
    let firstTokenMs: number | undefined;

    const usage: TokenUsage = { promptTokens: 0, completionTokens: 0, totalTokens: 0, estimated: false };
    /** The part of `usage` counted locally, charged to the budget as an estimate. */
    let estimatedTokens = 0;
    /** The model call in progress, so a failure can still charge the text it streamed. */
    let inFlight: { messages: ChatCompletionMessageParam[]; text: string } | undefined;
    let model = deps.model.model;
    const deadline = setTimeout(() => reply.controller.abort('deadline' satisfies AbortReason), deps.turnDeadlineMs);

    try {
      writer.emit({ type: 'ReplyStarted', conversationId: reply.conversationId });
      if (deps.logContent) log.info({ event: 'turn.content', role: 'USER', content: turn.message }, 'User message');

      const canControl = hasScope(turn.caller, 'control');
      const tools = deps.tools.definitions({ caller: turn.caller });
      const home = await deps.home.get({ refresh: turn.refreshContext });
      const em = deps.db.fork();
      const history = await loadHistory(em, reply.conversationId, turn.userMessageId);
      const system = systemPrompt({ canControl });
      const prompt = buildPrompt(
        {
          system,
          context: home.stableBlock,
          turnContext: turnContextBlock(home.volatileBlock, new Date(), deps.home.timeZone()),
          history,
          message: turn.message,
          tools,
        },
        deps.maxInputTokens,
      );
      usage.prompt = prompt.breakdown;
      const messages: ChatCompletionMessageParam[] = prompt.messages;
      const cacheKey = deps.promptCacheKey ? promptCacheKey(system, tools, home.stableBlock) : undefined;
      const seenCalls = new Set<string>();
      let stopTools = false;

      for (let round = 1; ; round += 1) {
        const offerTools = round <= deps.maxToolRounds && !stopTools;
        if (round > 1 && prompt.turnContextIndex >= 0) {
          // States change with the tools' actions, so every round gets them as they are now.
          const homeNow = deps.home.current();
          messages[prompt.turnContextIndex] = { role: 'system', content: turnContextBlock(homeNow.volatileBlock, new Date(), deps.home.timeZone()) };
        }
        const current = { messages, text: '' };
        inFlight = current;
        const response = await deps.model.complete({
          messages,
          tools: offerTools ? tools : [],
          signal,
          promptCacheKey: cacheKey,
          logger: log,
          onText: (delta) => {
            if (current.text === '' && writer.content !== '' && !/\s$/.test(writer.content)) writer.emit({ type: 'ReplyDelta', text: '\n\n' });
            current.text += delta;
            firstTokenMs ??= Math.round(turn.activeTime.elapsedMs());
            writer.emit({ type: 'ReplyDelta', text: delta });
          },
        });
        inFlight = undefined;
        model = response.model;
        estimatedTokens += this.addUsage(usage, response, messages);

        if (response.toolCalls.length === 0 || !offerTools) break;

        messages.push({
          role: 'assistant',
          content: response.text.length > 0 ? response.text : null,
          tool_calls: response.toolCalls.map(
            (call): ChatCompletionMessageToolCall => ({ id: call.id, type: 'function', function: { name: call.name, arguments: call.arguments } }),
          ),
        });
        const toRun = response.toolCalls.slice(0, deps.maxToolCallsPerRound);
        const skipped = response.toolCalls.slice(deps.maxToolCallsPerRound);
        // A call identical to an earlier one in this turn is not run again, and the next request offers no tools.
        // Skipped calls are not remembered, so the model can make them in the next round.
        const repeated = toRun.map((call) => {
          const key = callKey(call);
          const seen = seenCalls.has(key);
          seenCalls.add(key);
          return seen;
        });
        if (repeated.some(Boolean)) stopTools = true;
        const results = await runLimited(toRun, MAX_PARALLEL_TOOL_CALLS, signal, (call, index) =>
          this.runTool(turn, call, round, writer, log, repeated[index] === true),
        );
        if (skipped.length > 0) results.push(...(await this.storeSkippedCalls(turn, skipped, response.toolCalls.length, round, writer, log)));
        // Committed tool calls finish and are stored even after an abort, so the abort is raised only here.
        // The reply then ends without another model request.
        signal.throwIfAborted();
        for (const [index, call] of response.toolCalls.entries()) {
          messages.push({ role: 'tool', tool_call_id: call.id, content: toolResultBlock(call.name, results[index]) });
        }
      }

      clearTimeout(deadline);
      usage.totalTokens = usage.promptTokens + usage.completionTokens;
      await this.charge(turn.caller.userId, usage, estimatedTokens, log);
      await writer.finish({ type: 'ReplyCompleted' }, { status: 'COMPLETED', usage, model, completedAt: new Date() });
      log.info(
        {
          event: 'reply.completed',
          firstTokenMs,
          durationMs: Date.now() - startedAt,
          usage: { prompt: usage.promptTokens, completion: usage.completionTokens, estimated: usage.estimated },
        },
        'Reply completed',
      );
      if (deps.logContent) log.info({ event: 'turn.content', role: 'ASSISTANT', content: writer.content }, 'Reply text');
    } catch (error) {
      clearTimeout(deadline);
      // The endpoint bills a stream cut short for what it generated, but sends no usage for it.
      if (inFlight && inFlight.text !== '') estimatedTokens += this.addEstimate(usage, inFlight.messages, inFlight.text);
      usage.totalTokens = usage.promptTokens + usage.completionTokens;
      await this.charge(turn.caller.userId, usage, estimatedTokens, log);
      const reason = signal.aborted ? (signal.reason as AbortReason) : undefined;
      await this.end(writer, reason, error, usage, model, log, turn.committed);
    }
  }

  private async end(
    writer: ReplyEventWriter,
    reason: AbortReason | undefined,
    error: unknown,
    usage: TokenUsage,
    model: string,
    log: Logger,
    committed: Set<string>,
  ): Promise<void> {
    const completedAt = new Date();
    try {
      await this.endOpenToolCalls(writer, reason, committed, completedAt);
      if (reason === 'cancelled') {
        await writer.finish({ type: 'ReplyCancelled' }, { status: 'CANCELLED', usage, model, completedAt });
        log.info({ event: 'reply.cancelled' }, 'Reply cancelled');
        return;
      }
      if (reason === 'shutdown') {
        await writer.finish({ type: 'ReplyInterrupted' }, { status: 'INTERRUPTED', usage, model, completedAt });
        log.info({ event: 'reply.interrupted' }, 'Reply interrupted by shutdown');
        return;
      }
      const failure = reason === 'deadline' ? deadlineFailure(this.deps.turnDeadlineMs) : describeFailure(error);
      if (failure.code === 'INTERNAL_SERVER_ERROR') log.error({ event: 'reply.failed', err: error }, 'Reply failed unexpectedly');
      else log.warn({ event: 'reply.failed', code: failure.code, cause: reason === 'deadline' ? { kind: 'deadline' } : failureCause(error) }, 'Reply failed');
      await writer.finish({ type: 'ReplyFailed', ...failure }, { status: 'FAILED', error: failure, usage, model, completedAt });
    } catch (storeError) {
      log.error({ event: 'reply.finish_failed', err: storeError }, 'Storing the end of the reply failed');
    }
  }

  /**
   * Ends the tool calls of the reply that are still open and emits ToolCallFinished for each, so
   * subscribers see the stored status. A call that never committed sent nothing and gets `status`. A
   * committed one is open here only when storing its outcome failed, so it becomes FAILED with an
   * unknown outcome. The updates only apply to open calls, so a decision stored meanwhile is kept.
   */
  private async endOpenToolCalls(writer: ReplyEventWriter, reason: AbortReason | undefined, committed: Set<string>, finishedAt: Date): Promise<void> {
    const open = { messageId: writer.messageId, status: { $in: ['RUNNING' as const, 'AWAITING_CONFIRMATION' as const] } };
    const ids = (await this.deps.db.fork().find(ToolCallSchema, open, { fields: ['id'], orderBy: { id: 'asc' } })).map((row) => row.id);
    if (ids.length === 0) return;

    const em = this.deps.db.fork();
    const sent = ids.filter((id) => committed.has(id));
    const unsent = ids.filter((id) => !committed.has(id));
    if (unsent.length > 0) {
      const ended = reason === 'cancelled' ? { status: 'CANCELLED' as const } : { status: 'FAILED' as const, error: unsentError(reason) };
      await em.nativeUpdate(ToolCallSchema, { ...open, id: { $in: unsent } }, { ...ended, finishedAt });
    }
    if (sent.length > 0) {
      await em.nativeUpdate(ToolCallSchema, { ...open, id: { $in: sent } }, { status: 'FAILED', error: UNKNOWN_OUTCOME, finishedAt });
    }

    const ended = await this.deps.db.fork().find(ToolCallSchema, { id: { $in: ids } }, { orderBy: { id: 'asc' } });
    for (const row of ended) writer.emit({ type: 'ToolCallFinished', toolCall: snapshot(row) });
  }

  /** Adds a finished model call to `usage` and returns how many of its tokens are estimates. */
  private addUsage(
    usage: TokenUsage,
    response: { text: string; toolCalls: AssembledToolCall[]; usage?: { promptTokens: number; completionTokens: number } },
    messages: ChatCompletionMessageParam[],
  ): number {
    if (response.usage) {
      usage.promptTokens += response.usage.promptTokens;
      usage.completionTokens += response.usage.completionTokens;
      return 0;
    }
    const completion = response.text + (response.toolCalls.length > 0 ? JSON.stringify(response.toolCalls) : '');
    return this.addEstimate(usage, messages, completion);
  }

  /** Adds tokenizer counts for a model call to `usage`, marks it estimated and returns the tokens added. */
  private addEstimate(usage: TokenUsage, messages: ChatCompletionMessageParam[], completion: string): number {
    const promptTokens = countTokens(JSON.stringify(messages));
    const completionTokens = countTokens(completion);
    usage.estimated = true;
    usage.promptTokens += promptTokens;
    usage.completionTokens += completionTokens;
    return promptTokens + completionTokens;
  }

  /** Charges the turn's tokens to the user's daily budget. A failed write is logged; the reply still ends. */
  private async charge(userId: string, usage: TokenUsage, estimatedTokens: number, log: Logger): Promise<void> {
    try {
      await this.deps.budget.charge(userId, usage.totalTokens, Math.min(estimatedTokens, usage.totalTokens));
    } catch (error) {
      log.error({ event: 'budget.charge_failed', tokens: usage.totalTokens, err: error }, 'Charging the token budget failed');
    }
  }

  /**
   * Stores the calls of a round past AGENT_MAX_TOOL_CALLS_PER_ROUND as REJECTED without running them, in
   * one write, and returns their results. Every call still needs a result in the next model request.
   */
  private async storeSkippedCalls(
    turn: RunningTurn,
    calls: AssembledToolCall[],
    requested: number,
    round: number,
    writer: ReplyEventWriter,
    log: Logger,
  ): Promise<unknown[]> {
    const max = this.deps.maxToolCallsPerRound;
    const outcome = rejected(
      'BAD_USER_INPUT',
      `Not run: you requested ${requested} tool calls at once, and at most ${max} run per round (AGENT_MAX_TOOL_CALLS_PER_ROUND). Make this call again in the next round if you still need it.`,
    );
    log.warn({ event: 'tool.calls_skipped', round, requested, skipped: calls.length, max }, 'Skipped tool calls past the limit per round');

    const em = this.deps.db.fork();
    const now = new Date();
    const rows = calls.map((call) =>
      createToolCallRow(em, turn, call, round, {
        result: outcome.result,
        status: outcome.status,
        error: outcome.error ?? null,
        createdAt: now,
        finishedAt: now,
      }),
    );
    await em.flush();
    for (const row of rows) {
      writer.emit({ type: 'ToolCallStarted', toolCall: snapshot(row) });
      writer.emit({ type: 'ToolCallFinished', toolCall: snapshot(row) });
    }
    return rows.map(() => outcome.result);
  }

  private async runTool(turn: RunningTurn, call: AssembledToolCall, round: number, writer: ReplyEventWriter, log: Logger, repeated: boolean): Promise<unknown> {
    const { deps } = this;
    const em = deps.db.fork();
    const row = createToolCallRow(em, turn, call, round, { result: null, status: 'RUNNING', error: null, createdAt: new Date(), finishedAt: null });
    await em.flush();
    writer.emit({ type: 'ToolCallStarted', toolCall: snapshot(row) });
    const toolLog = log.child({ toolCallId: row.id, tool: call.name });

    let outcome: ToolOutcome;
    if (repeated) {
      outcome = rejected('CONFLICT', 'This exact call was already made in this turn; use its result above instead of repeating it.');
    } else {
      const step = await this.withDeadline(
        (scope) => deps.tools.execute(call.name, call.arguments, this.toolContext(turn, row.id, scope, toolLog)),
        turn,
        row.id,
      );
      if ('arguments' in step) row.arguments = step.arguments;
      outcome = isConfirmationRequest(step) ? await this.confirmAndRun(turn, row, em, step, writer, toolLog) : step;
    }

    row.result = outcome.result;
    row.status = outcome.status;
    row.error = outcome.error ?? null;
    row.verification = outcome.verification ?? null;
    row.finishedAt = new Date();
    await em.flush();
    toolLog.info({ event: 'tool.finished', status: row.status, code: row.error?.code, verified: row.verification?.outcome }, 'Tool call finished');
    writer.emit({ type: 'ToolCallFinished', toolCall: snapshot(row) });
    return outcome.result;
  }

  /**
   * Stores the confirmation request, emits it to the client, waits for the decision and runs the action
   * once approved. The wait does not count against the tool's time limit.
   * NOTE: a graceful shutdown waits its whole grace period for a reply that waits here, then interrupts it.
   */
  private async confirmAndRun(
    turn: RunningTurn,
    row: ToolCall,
    em: ReturnType<Database['fork']>,
    request: Extract<ToolStep, { kind: 'confirmation' }>,
    writer: ReplyEventWriter,
    log: Logger,
  ): Promise<ToolOutcome> {
    const { deps } = this;
    const expiresAt = new Date(Date.now() + deps.confirmationTtlMs);
    row.status = 'AWAITING_CONFIRMATION';
    row.summary = request.summary;
    row.preview = request.preview ?? null;
    row.expiresAt = expiresAt;
    await em.flush();
    writer.emit({ type: 'ToolCallAwaitingConfirmation', toolCall: snapshot(row), summary: request.summary, expiresAt: expiresAt.toISOString() });
    log.info({ event: 'tool.awaiting_confirmation', expiresAt: expiresAt.toISOString() }, 'Tool call waits for a confirmation');

    const endWait = turn.activeTime.pause();
    const decision = await deps.confirmations.wait(row.id, expiresAt, turn.reply.controller.signal).finally(endWait);
    await em.refresh(row);
    if (decision === 'DENIED') return rejected('FORBIDDEN', 'The user declined this action, so nothing was done.');
    if (decision === 'EXPIRED') {
      return {
        ...failed('FORBIDDEN', `Nobody confirmed this action before it expired at ${expiresAt.toISOString()}, so nothing was done.`),
        status: 'EXPIRED',
      };
    }
    return this.withDeadline((scope) => deps.tools.runConfirmed(row.name, request, this.toolContext(turn, row.id, scope, log)), turn, row.id);
  }

  private toolContext(turn: Turn, toolCallId: string, scope: ToolAbortScope, logger: Logger): ToolContext {
    return { caller: turn.caller, signal: scope.signal, commit: scope.commit, home: this.deps.homeTools, logger, toolCallId };
  }

  /**
   * Runs a tool step within AGENT_TOOL_TIMEOUT_SECONDS. The tool's signal aborts at the deadline, and a
   * tool that ignores it is left behind. Either way the call fails with HOME_ASSISTANT_UNAVAILABLE,
   * because every tool waits on Home Assistant. The end of the reply aborts the tool and is passed on
   * only until the tool commits. A committed tool runs on to its outcome, because its request may
   * already have changed the home and a cancellation must not hide that.
   */
  private async withDeadline<Step extends ToolStep>(
    run: (scope: ToolAbortScope) => Promise<Step>,
    turn: RunningTurn,
    toolCallId: string,
  ): Promise<Step | ToolOutcome> {
    const turnSignal = turn.reply.controller.signal;
    const controller = new AbortController();
    let committed = false;
    let timedOut = false;
    const onTurnAbort = () => {
      if (!committed) controller.abort(turnSignal.reason);
    };
    if (turnSignal.aborted) onTurnAbort();
    else turnSignal.addEventListener('abort', onTurnAbort, { once: true });
    const commit = () => {
      controller.signal.throwIfAborted();
      committed = true;
      turn.committed.add(toolCallId);
    };

    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        timedOut = true;
        controller.abort(new ToolTimeout());
        reject(new ToolTimeout());
      }, this.deps.toolTimeoutMs);
    });
    try {
      return await Promise.race([run({ signal: controller.signal, commit }), timeout]);
    } catch (error) {
      if (!committed && turnSignal.aborted) throw error;
      if (timedOut) {
        return failed(
          'HOME_ASSISTANT_UNAVAILABLE',
          `The tool did not finish within ${Math.round(this.deps.toolTimeoutMs / 1000)} s, so its outcome is unknown.`,
        );
      }
      throw error;
    } finally {
      clearTimeout(timer);
      turnSignal.removeEventListener('abort', onTurnAbort);
    }
  }
}

/**
 * Maps items with at most `limit` running at once; results keep the order of the items. After an abort
 * or a failure no further item starts, and the items already running are awaited before the first
 * failure is raised, so no tool call is still writing when the turn ends.
 */
async function runLimited<Item, Result>(
  items: Item[],
  limit: number,
  signal: AbortSignal,
  run: (item: Item, index: number) => Promise<Result>,
): Promise<Result[]> {
  const results: Result[] = new Array(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (next < items.length && !signal.aborted && !failure) {
      const index = next;
      next += 1;
      try {
        results[index] = await run(items[index] as Item, index);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.error;
  return results;
}

function safeJson(text: string): unknown {
  try {
    return text.trim() === '' ? {} : JSON.parse(text);
  } catch {
    return text;
  }
}
