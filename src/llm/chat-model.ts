import OpenAI from 'openai';
import type { ChatCompletionChunk, ChatCompletionMessageParam, ChatCompletionTool } from 'openai/resources/chat/completions';
import type { Logger } from '../observability/logger.js';
import { DEFAULT_BACKOFF, retryDelayMs, sleep, type BackoffSettings } from './backoff.js';
import { classifyModelError, ModelError, modelFailureCause, rejectsStreamOptions } from './model-errors.js';
import { ToolCallAssembler, type AssembledToolCall } from './tool-call-assembler.js';

export type { ChatCompletionMessageParam, ChatCompletionTool };

export interface ChatModelSettings {
  apiKey: string | undefined;
  baseUrl: string | undefined;
  model: string;
  /** Retries after the first attempt, for connection errors, 408, 409, 429 and 5xx only. */
  maxRetries: number;
  /** Time allowed for each attempt to send its response headers, in milliseconds. */
  timeoutMs: number;
  /** Maximum silence between two chunks of a stream, in milliseconds. The attempt fails after it. */
  idleTimeoutMs: number;
  backoff?: BackoffSettings;
}

export interface ModelRequest {
  messages: ChatCompletionMessageParam[];
  tools: ChatCompletionTool[];
  signal: AbortSignal;
  /** Called with each text delta of the first choice, in order. */
  onText: (delta: string) => void;
  /** Lets providers that cache prompt prefixes reuse this prefix across turns. */
  promptCacheKey?: string;
  /** Logs the retries and the failure of this request, carrying the ids of the turn it serves. */
  logger?: Logger;
}

export interface ModelResponse {
  text: string;
  toolCalls: AssembledToolCall[];
  finishReason: string | null;
  /** Counts from the stream's usage chunk; undefined when the endpoint sent none. */
  usage: { promptTokens: number; completionTokens: number } | undefined;
  /** The model name the endpoint reported, or the configured one. */
  model: string;
  /** Attempts made, including the successful one. */
  attempts: number;
}

/**
 * Streams chat completions from OpenAI or any compatible endpoint. Only the first choice is used, since
 * the request asks for one. A failed attempt is retried from scratch only while no text has reached the
 * caller; after that the partial text stays with the caller and the error is raised.
 */
export class ChatModel {
  private readonly client: OpenAI;
  private streamOptionsSupported = true;

  constructor(
    private readonly settings: ChatModelSettings,
    private readonly logger: Logger,
  ) {
    this.client = new OpenAI({
      // Local OpenAI-compatible servers need no key, but the SDK requires a value.
      apiKey: settings.apiKey ?? 'no-key',
      baseURL: settings.baseUrl,
      maxRetries: 0,
      timeout: settings.timeoutMs,
      logLevel: 'warn',
      logger: sdkLogger(logger),
    });
  }

  get model(): string {
    return this.settings.model;
  }

  /**
   * Checks that the endpoint responds and accepts the key, by listing models. An endpoint without a
   * models route (HTTP 404) still responded, so it counts as reachable. Throws the SDK's error otherwise.
   */
  async ping(signal: AbortSignal): Promise<void> {
    try {
      await this.client.models.list({ signal, maxRetries: 0 });
    } catch (error) {
      if (error instanceof OpenAI.APIError && error.status === 404) return;
      throw error;
    }
  }

  async complete(request: ModelRequest): Promise<ModelResponse> {
    const backoff = this.settings.backoff ?? DEFAULT_BACKOFF;
    const log = request.logger ?? this.logger;
    let attempt = 0;
    let textSent = false;
    const onText = (delta: string) => {
      textSent = true;
      request.onText(delta);
    };

    for (;;) {
      attempt += 1;
      try {
        const response = await this.streamOnce(request, onText);
        return { ...response, attempts: attempt };
      } catch (caught) {
        if (rejectsStreamOptions(caught) && this.streamOptionsSupported) {
          this.streamOptionsSupported = false;
          this.logger.warn({ event: 'llm.stream_options_rejected' }, 'Model endpoint rejects stream_options; sending requests without it from now on');
          attempt -= 1;
          continue;
        }

        const error = classifyModelError(caught);
        if (request.signal.aborted) throw new ModelError('aborted', false, undefined, undefined, { cause: caught });
        const delay = error.retryable && !textSent && attempt <= this.settings.maxRetries ? retryDelayMs(attempt, error.retryAfterMs, backoff) : undefined;
        if (delay === undefined) {
          log.warn({ event: 'llm.failed', ...modelFailureCause(error), attempt, textSent }, 'Model request failed');
          throw error;
        }
        log.info({ event: 'llm.retry', ...modelFailureCause(error), attempt, delayMs: delay }, 'Retrying model request');
        await sleep(delay, request.signal).catch(() => {
          throw new ModelError('aborted', false, undefined, undefined);
        });
      }
    }
  }

  private async streamOnce(request: ModelRequest, onText: (delta: string) => void): Promise<Omit<ModelResponse, 'attempts'>> {
    // The SDK's timeout ends once the headers arrive, so silence in the body needs a timer of its own.
    const attempt = new AbortController();
    const idle = new IdleTimer(this.settings.idleTimeoutMs, () => attempt.abort());
    try {
      return await this.readStream(request, AbortSignal.any([request.signal, attempt.signal]), idle, onText);
    } catch (error) {
      if (idle.fired && !request.signal.aborted) throw new ModelError('idle-timeout', true, undefined, undefined, { cause: error });
      throw error;
    } finally {
      idle.stop();
    }
  }

  private async readStream(
    request: ModelRequest,
    signal: AbortSignal,
    idle: IdleTimer,
    onText: (delta: string) => void,
  ): Promise<Omit<ModelResponse, 'attempts'>> {
    const stream = await this.client.chat.completions.create(
      {
        model: this.settings.model,
        messages: request.messages,
        ...(request.tools.length > 0 ? { tools: request.tools } : {}),
        stream: true,
        ...(this.streamOptionsSupported ? { stream_options: { include_usage: true } } : {}),
        ...(request.promptCacheKey ? { prompt_cache_key: request.promptCacheKey } : {}),
      },
      { signal },
    );
    idle.restart();

    const toolCalls = new ToolCallAssembler();
    let text = '';
    let finishReason: string | null = null;
    let usage: ModelResponse['usage'];
    let model = this.settings.model;

    for await (const chunk of stream as AsyncIterable<ChatCompletionChunk>) {
      idle.restart();
      assertChunkShape(chunk);
      if (typeof chunk.model === 'string' && chunk.model) model = chunk.model;
      if (chunk.usage) usage = readUsage(chunk.usage) ?? usage;
      for (const choice of chunk.choices ?? []) {
        // With n = 1 only choice 0 is ours; some servers still stream extra choices.
        if ((choice.index ?? 0) !== 0) continue;
        const content = choice.delta?.content;
        if (typeof content === 'string' && content.length > 0) {
          text += content;
          onText(content);
        }
        for (const delta of choice.delta?.tool_calls ?? []) toolCalls.add(delta);
        if (choice.finish_reason) finishReason = choice.finish_reason;
      }
    }

    // The SDK ends the iteration quietly when the signal aborts, so a cut-short stream looks complete.
    if (idle.fired && !request.signal.aborted) throw new ModelError('idle-timeout', true, undefined, undefined);
    if (request.signal.aborted) throw new ModelError('aborted', false, undefined, undefined);
    return { text, toolCalls: toolCalls.result(), finishReason, usage, model };
  }
}

/**
 * Routes the SDK's own log lines to pino. Only the first argument, the SDK's fixed message, is kept:
 * the SDK passes the raw stream data after it (on a malformed chunk, for instance), which may contain
 * reply text.
 */
function sdkLogger(logger: Logger) {
  const line = (level: 'error' | 'warn' | 'info' | 'debug') => (message: unknown) =>
    logger[level]({ event: 'llm.sdk' }, typeof message === 'string' ? message : 'OpenAI SDK message');
  return { error: line('error'), warn: line('warn'), info: line('info'), debug: line('debug') };
}

/** Calls `onIdle` when `restart` has not been called for `timeoutMs`. Starts stopped. */
class IdleTimer {
  private timer: NodeJS.Timeout | undefined;
  fired = false;

  constructor(
    private readonly timeoutMs: number,
    private readonly onIdle: () => void,
  ) {}

  restart(): void {
    if (this.timer) {
      this.timer.refresh();
      return;
    }
    this.timer = setTimeout(() => {
      this.fired = true;
      this.onIdle();
    }, this.timeoutMs);
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Rejects a chunk whose structure is not what the reading loop relies on: not an object, or `choices`
 * or `tool_calls` not a list. A broken endpoint then fails the turn as an invalid response, instead of
 * raising a TypeError that would be taken for a dropped connection.
 */
function assertChunkShape(chunk: unknown): asserts chunk is ChatCompletionChunk {
  const invalid = () => new ModelError('invalid-response', false, undefined, undefined);
  if (!isRecord(chunk)) throw invalid();
  if (chunk.choices === undefined || chunk.choices === null) return;
  if (!Array.isArray(chunk.choices)) throw invalid();
  for (const choice of chunk.choices) {
    if (!isRecord(choice)) throw invalid();
    const delta = choice.delta;
    if (delta === undefined || delta === null) continue;
    if (!isRecord(delta)) throw invalid();
    const toolCalls = delta.tool_calls;
    if (toolCalls !== undefined && toolCalls !== null && (!Array.isArray(toolCalls) || !toolCalls.every(isRecord))) throw invalid();
  }
}

/** Reads a usage chunk; undefined when its counts are not whole numbers, as from a broken endpoint. */
function readUsage(usage: ChatCompletionChunk['usage']): ModelResponse['usage'] {
  const promptTokens = usage?.prompt_tokens;
  const completionTokens = usage?.completion_tokens;
  if (!Number.isSafeInteger(promptTokens) || !Number.isSafeInteger(completionTokens)) return undefined;
  return { promptTokens: promptTokens as number, completionTokens: completionTokens as number };
}
