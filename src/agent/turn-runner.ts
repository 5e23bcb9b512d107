import type { ChatCompletionMessageParam, ChatCompletionMessageToolCall } from 'openai/resources/chat/completions';
import type { Caller } from '../auth/caller.js';
import { hasScope } from '../auth/caller.js';
import type { Database } from '../db/orm.js';
import { uuidv7 } from '../db/uuid.js';
import type { MessageError, TokenUsage } from '../conversations/message.entity.js';
import { ToolCallSchema } from '../conversations/tool-call.entity.js';
import type { HomeSummaryCache } from '../home-assistant/home-summary.js';
import type { HomeAssistantRestClient } from '../home-assistant/rest-client.js';
import type { ChatModel } from '../llm/chat-model.js';
import { ModelError } from '../llm/model-errors.js';
import { countTokens } from '../llm/tokens.js';
import type { AssembledToolCall } from '../llm/tool-call-assembler.js';
import type { Logger } from '../observability/logger.js';
import { userClassOf, type Metrics } from '../observability/metrics.js';
import { isAppError } from '../security/errors.js';
import type { AbortReason, ActiveReply } from './active-replies.js';
import type { ToolCallSnapshot } from './chat-events.js';
import type { EventBus } from './event-bus.js';
import { loadHistory } from './history.js';
import { buildPrompt } from './prompt-builder.js';
import type { ReplyEventStore } from './reply-event-store.js';
import { ReplyEventWriter } from './reply-event-writer.js';
import { homeContextBlock, systemPrompt } from './system-prompt.js';
import type { ToolRegistry } from './tools/registry.js';

export interface TurnRunnerDependencies {
  db: Database;
  bus: EventBus;
  store: ReplyEventStore;
  model: ChatModel;
  tools: ToolRegistry;
  home: HomeSummaryCache;
  homeAssistant: HomeAssistantRestClient | undefined;
  logger: Logger;
  maxToolRounds: number;
  maxInputTokens: number;
  metrics?: Metrics;
}

export interface Turn {
  reply: ActiveReply;
  caller: Caller;
  userMessageId: string;
  message: string;
  refreshContext: boolean;
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

function snapshot(row: { id: string; name: string; arguments: unknown; result: unknown; status: ToolCallSnapshot['status']; error?: ToolCallSnapshot['error'] }): ToolCallSnapshot {
  return { id: row.id, name: row.name, arguments: row.arguments, result: row.result ?? null, status: row.status, error: row.error ?? null };
}

/**
 * Runs one chat turn: builds the prompt, streams the model, runs the tools it asks for and loops until
 * it answers in text or the tool rounds are used up. Every outcome ends the reply with exactly one final
 * event, and the text streamed so far is kept whatever happens.
 */
export class TurnRunner {
  constructor(private readonly deps: TurnRunnerDependencies) {}

  async run(turn: Turn): Promise<void> {
    const { deps } = this;
    const { reply } = turn;
    const log = deps.logger.child({ userId: turn.caller.userId, conversationId: reply.conversationId, messageId: reply.messageId });
    const writer = new ReplyEventWriter({ reply, store: deps.store, bus: deps.bus, logger: log, observer: deps.metrics?.observeReply(userClassOf(turn.caller)) });
    const signal = reply.controller.signal;
    const startedAt = Date.now();
    let firstTokenAt: number | undefined;

    const usage: TokenUsage = { promptTokens: 0, completionTokens: 0, totalTokens: 0, estimated: false };
    let model = deps.model.model;

    try {
      writer.emit({ type: 'ReplyStarted', conversationId: reply.conversationId });

      const canControl = hasScope(turn.caller, 'control');
      const tools = deps.tools.definitions({ caller: turn.caller });
      const home = await deps.home.get({ refresh: turn.refreshContext });
      const em = deps.db.fork();
      const history = await loadHistory(em, reply.conversationId, turn.userMessageId);
      const prompt = buildPrompt(
        {
          system: systemPrompt({ canControl, now: new Date() }),
          context: homeContextBlock(home.text),
          history,
          message: turn.message,
          tools,
        },
        deps.maxInputTokens,
      );
      usage.prompt = prompt.breakdown;
      const messages: ChatCompletionMessageParam[] = prompt.messages;

      for (let round = 1; ; round += 1) {
        const offerTools = round <= deps.maxToolRounds;
        let roundText = '';
        const response = await deps.model.complete({
          messages,
          tools: offerTools ? tools : [],
          signal,
          onText: (delta) => {
            if (roundText === '' && writer.content !== '' && !/\s$/.test(writer.content)) writer.emit({ type: 'ReplyDelta', text: '\n\n' });
            roundText += delta;
            firstTokenAt ??= Date.now();
            writer.emit({ type: 'ReplyDelta', text: delta });
          },
        });
        model = response.model;
        this.addUsage(usage, response, messages);

        if (response.toolCalls.length === 0 || !offerTools) break;

        messages.push({
          role: 'assistant',
          content: response.text.length > 0 ? response.text : null,
          tool_calls: response.toolCalls.map(
            (call): ChatCompletionMessageToolCall => ({ id: call.id, type: 'function', function: { name: call.name, arguments: call.arguments } }),
          ),
        });
        for (const call of response.toolCalls) {
          const result = await this.runTool(turn, call, round, writer, log);
          messages.push({ role: 'tool', tool_call_id: call.id, content: JSON.stringify(result) });
        }
      }

      usage.totalTokens = usage.promptTokens + usage.completionTokens;
      await writer.finish({ type: 'ReplyCompleted' }, { status: 'COMPLETED', usage, model, completedAt: new Date() });
      log.info(
        { event: 'reply.completed', firstTokenMs: firstTokenAt ? firstTokenAt - startedAt : undefined, durationMs: Date.now() - startedAt, usage: { prompt: usage.promptTokens, completion: usage.completionTokens, estimated: usage.estimated } },
        'Reply completed',
      );
    } catch (error) {
      usage.totalTokens = usage.promptTokens + usage.completionTokens;
      const reason = signal.aborted ? (signal.reason as AbortReason) : undefined;
      await this.end(writer, reason, error, usage, model, log);
    }
  }

  private async end(writer: ReplyEventWriter, reason: AbortReason | undefined, error: unknown, usage: TokenUsage, model: string, log: Logger): Promise<void> {
    const completedAt = new Date();
    try {
      // A tool interrupted by the abort or the failure is not running any more.
      await this.deps.db
        .fork()
        .nativeUpdate(
          ToolCallSchema,
          { messageId: writer.messageId, status: 'RUNNING' },
          { status: reason === 'cancelled' ? 'CANCELLED' : 'FAILED', finishedAt: completedAt },
        );
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
      const failure = describeFailure(error);
      if (failure.code === 'INTERNAL_SERVER_ERROR') log.error({ event: 'reply.failed', err: error }, 'Reply failed unexpectedly');
      else log.warn({ event: 'reply.failed', code: failure.code }, 'Reply failed');
      await writer.finish({ type: 'ReplyFailed', ...failure }, { status: 'FAILED', error: failure, usage, model, completedAt });
    } catch (storeError) {
      log.error({ event: 'reply.finish_failed', err: storeError }, 'Storing the end of the reply failed');
    }
  }

  private addUsage(usage: TokenUsage, response: { text: string; toolCalls: AssembledToolCall[]; usage?: { promptTokens: number; completionTokens: number } }, messages: ChatCompletionMessageParam[]): void {
    if (response.usage) {
      usage.promptTokens += response.usage.promptTokens;
      usage.completionTokens += response.usage.completionTokens;
      return;
    }
    usage.estimated = true;
    usage.promptTokens += countTokens(JSON.stringify(messages));
    usage.completionTokens += countTokens(response.text) + (response.toolCalls.length > 0 ? countTokens(JSON.stringify(response.toolCalls)) : 0);
  }

  private async runTool(turn: Turn, call: AssembledToolCall, round: number, writer: ReplyEventWriter, log: Logger): Promise<unknown> {
    const { deps } = this;
    const em = deps.db.fork();
    const row = em.create(ToolCallSchema, {
      id: uuidv7(),
      messageId: turn.reply.messageId,
      ownerId: turn.caller.userId,
      callId: call.id,
      name: call.name,
      arguments: safeJson(call.arguments),
      result: null,
      status: 'RUNNING',
      error: null,
      round,
      createdAt: new Date(),
      finishedAt: null,
    });
    await em.flush();
    writer.emit({ type: 'ToolCallStarted', toolCall: snapshot(row) });

    const outcome = await deps.tools.execute(call.name, call.arguments, {
      caller: turn.caller,
      signal: turn.reply.controller.signal,
      homeAssistant: deps.homeAssistant,
      logger: log.child({ toolCallId: row.id, tool: call.name }),
    });
    row.arguments = outcome.arguments;
    row.result = outcome.result;
    row.status = outcome.status;
    row.error = outcome.error ?? null;
    row.finishedAt = new Date();
    await em.flush();
    log.info({ event: 'tool.finished', toolCallId: row.id, tool: call.name, status: row.status, code: row.error?.code }, 'Tool call finished');
    writer.emit({ type: 'ToolCallFinished', toolCall: snapshot(row) });
    return outcome.result;
  }
}

function safeJson(text: string): unknown {
  try {
    return text.trim() === '' ? {} : JSON.parse(text);
  } catch {
    return text;
  }
}
