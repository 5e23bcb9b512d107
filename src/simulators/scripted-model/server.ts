import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';

import { SCRIPTED_MODEL_NAME, estimateUsage, frameCompletion, frameStream, type FrameContext } from './framing.js';
import { defaultErrorBody, openAiError } from './openai-errors.js';
import { readCassette, readRecording, splitSseEvents, type RecordedResponse } from './replay.js';
import { planFromRules } from './rules.js';
import type { CompatibilityMode, RecordedRequest, ReplyPlan, ScriptedModelOptions, ScriptedResponse } from './types.js';
import { validateChatRequest } from './validation.js';

/** Largest request body accepted, in bytes; far above what an agent turn sends. */
const MAX_BODY_BYTES = 16 * 1024 * 1024;
/** `created` of the listed model: 2025-01-01T00:00:00Z. */
const MODEL_CREATED = 1_735_689_600;

export interface ScriptedModel {
  /** Base URL for the openai SDK's `baseURL`, `http://127.0.0.1:PORT/v1`. */
  url: string;
  /** Every `/v1/chat/completions` request, in arrival order, rejected ones included. */
  requests: RecordedRequest[];
  /** Queues replies that the next requests get instead of the rules, first in, first out. */
  enqueue(...responses: ScriptedResponse[]): void;
  /** Milliseconds between SSE chunks; takes effect from the next chunk. */
  chunkDelayMs: number;
  /** Framing of replies; takes effect from the next request. */
  mode: CompatibilityMode;
  /**
   * Resolves with the first recorded request that matches `predicate`, including requests that arrived
   * before the call. Rejects after `timeoutMs` (default 5000).
   */
  waitForRequest(predicate?: (request: RecordedRequest) => boolean, timeoutMs?: number): Promise<RecordedRequest>;
  /** Stops the server and drops open connections, stalled streams included. */
  close(): Promise<void>;
}

interface Waiter {
  predicate: (request: RecordedRequest) => boolean;
  resolve: (request: RecordedRequest) => void;
}

/** Per-request bookkeeping that must not leak into the recorded request. */
interface Exchange {
  record: RecordedRequest;
  response: ServerResponse;
  /** Set before the server destroys the socket itself, so the close is not taken for a client abort. */
  closedByServer: boolean;
}

class ScriptedModelServer implements ScriptedModel {
  url = '';
  readonly requests: RecordedRequest[] = [];
  chunkDelayMs: number;
  mode: CompatibilityMode;

  private readonly queue: ScriptedResponse[] = [];
  private readonly waiters = new Set<Waiter>();
  private readonly server = createServer((request, response) => {
    this.handle(request, response).catch((error: unknown) => this.failInternally(response, error));
  });
  private replyCounter = 0;

  constructor(private readonly options: ScriptedModelOptions) {
    this.chunkDelayMs = options.chunkDelayMs ?? 0;
    this.mode = options.mode ?? 'openai';
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port ?? 0, this.options.host ?? '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const address = this.server.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    this.url = `http://${host}:${address.port}/v1`;
  }

  enqueue(...responses: ScriptedResponse[]): void {
    this.queue.push(...responses);
  }

  waitForRequest(predicate: (request: RecordedRequest) => boolean = () => true, timeoutMs = 5000): Promise<RecordedRequest> {
    const existing = this.requests.find(predicate);
    if (existing) {
      return Promise.resolve(existing);
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        predicate,
        resolve: (request) => {
          clearTimeout(timer);
          this.waiters.delete(waiter);
          resolve(request);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`No matching request reached the scripted model within ${timeoutMs} ms.`));
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    response.setHeader('x-request-id', `req_${randomBytes(16).toString('hex')}`);
    const url = new URL(request.url ?? '/', 'http://scripted-model.invalid');
    const path = url.pathname.replace(/\/+$/, '');

    if (path === '/v1/chat/completions') {
      if (request.method !== 'POST') {
        this.sendJson(response, 405, openAiError(`Method ${request.method} is not allowed on ${path}; use POST.`));
        return;
      }
      await this.handleChatCompletion(request, response);
      return;
    }

    if (!this.isAuthorized(request, response)) {
      return;
    }
    if (request.method === 'GET' && path === '/v1/models') {
      this.sendJson(response, 200, { object: 'list', data: [modelEntry()] });
      return;
    }
    if (request.method === 'GET' && path === `/v1/models/${SCRIPTED_MODEL_NAME}`) {
      this.sendJson(response, 200, modelEntry());
      return;
    }
    if (request.method === 'GET' && path.startsWith('/v1/models/')) {
      const model = safeDecode(path.slice('/v1/models/'.length));
      this.sendJson(
        response,
        404,
        openAiError(`The model '${model}' does not exist. This server only serves '${SCRIPTED_MODEL_NAME}'.`, {
          code: 'model_not_found',
        }),
      );
      return;
    }
    this.sendJson(response, 404, openAiError(`Invalid URL (${request.method} ${url.pathname})`));
  }

  private async handleChatCompletion(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const rawBody = await readBody(request);
    if (rawBody === undefined) {
      this.sendJson(response, 413, openAiError(`The request body is larger than ${MAX_BODY_BYTES} bytes.`));
      return;
    }
    const record: RecordedRequest = {
      body: rawBody,
      headers: { ...request.headers },
      receivedAt: Date.now(),
      aborted: false,
      finished: false,
    };
    const exchange: Exchange = { record, response, closedByServer: false };
    response.on('finish', () => {
      record.finished = true;
    });
    response.on('close', () => {
      if (!response.writableFinished && !exchange.closedByServer) {
        record.aborted = true;
      }
    });

    let body: unknown;
    let parseError: string | undefined;
    try {
      body = JSON.parse(rawBody);
      record.body = body;
    } catch (error) {
      parseError = (error as Error).message;
    }
    this.record(record);

    if (!this.isAuthorized(request, response)) {
      return;
    }
    if (parseError !== undefined) {
      this.sendJson(response, 400, openAiError(`The request body is not valid JSON (${parseError}). Send a JSON object.`));
      return;
    }

    const mode = this.mode;
    if (mode === 'rejects-stream-options' && isRecord(body) && 'stream_options' in body) {
      this.sendJson(response, 400, openAiError('Unrecognized request argument supplied: stream_options'));
      return;
    }
    const validation = validateChatRequest(body);
    if (!validation.ok) {
      this.sendJson(response, 400, validation.body);
      return;
    }

    const chat = body as { messages: unknown[]; tools?: unknown; stream?: boolean; stream_options?: { include_usage?: unknown } };
    const scripted = this.queue.shift();
    await this.reply(exchange, chat, scripted, mode);
  }

  private async reply(
    exchange: Exchange,
    chat: { messages: unknown[]; tools?: unknown; stream?: boolean; stream_options?: { include_usage?: unknown } },
    scripted: ScriptedResponse | undefined,
    mode: CompatibilityMode,
  ): Promise<void> {
    const { response } = exchange;
    const replyNumber = ++this.replyCounter;
    const seed = `${replyNumber}:${JSON.stringify(chat.messages)}`;
    const callId = (index: number) => `call_${hash(`${seed}:${index}`).slice(0, 24)}`;

    if (scripted?.kind === 'slow') {
      await delay(scripted.delayMs);
      if (response.destroyed || exchange.record.aborted) {
        return;
      }
    }

    switch (scripted?.kind) {
      case 'recording':
        await this.sendRecorded(exchange, readRecording(scripted.file));
        return;
      case 'cassette':
        await this.sendRecorded(exchange, readCassette(scripted.file, scripted.interaction));
        return;
      case 'http_error': {
        const body = scripted.body ?? defaultErrorBody(scripted.status);
        const text = typeof body === 'string' ? body : JSON.stringify(body);
        response.writeHead(scripted.status, { 'content-type': 'application/json', ...scripted.headers });
        response.end(text);
        return;
      }
    }

    let plan: ReplyPlan;
    if (scripted?.kind === 'text') {
      plan = { text: scripted.text, toolCalls: [] };
    } else if (scripted?.kind === 'tool_calls') {
      plan = {
        text: scripted.text ?? '',
        toolCalls: scripted.calls.map((call, index) => ({
          id: callId(index),
          name: call.name,
          arguments: typeof call.arguments === 'string' ? call.arguments : JSON.stringify(call.arguments),
        })),
      };
    } else {
      plan = planFromRules(chat, callId);
    }

    const context: FrameContext = {
      id: `chatcmpl-${hash(seed).slice(0, 29)}`,
      created: Math.floor(Date.now() / 1000),
      mode,
      includeUsage: chat.stream === true && chat.stream_options?.include_usage === true,
      usage: estimateUsage(chat, plan),
    };

    const failure = scripted?.kind === 'stall' || scripted?.kind === 'cut' || scripted?.kind === 'malformed' ? scripted : undefined;
    if (chat.stream !== true) {
      this.sendCompletion(exchange, plan, context, failure?.kind);
      return;
    }

    let frames = frameStream(plan, context).map((payload) => `data: ${JSON.stringify(payload)}\n\n`);
    if (failure) {
      frames = frames.slice(0, Math.max(0, failure.afterChunks));
    } else {
      frames.push('data: [DONE]\n\n');
    }
    response.writeHead(200, sseHeaders());
    response.flushHeaders();
    const delivered = await this.writePieces(exchange, frames);
    if (!delivered) {
      return;
    }

    switch (failure?.kind) {
      case 'stall':
        // Keep the response open; the client's timeout or abort ends it, and close() drops it.
        return;
      case 'cut':
        exchange.closedByServer = true;
        response.socket?.destroy();
        return;
      case 'malformed':
        await this.writePieces(exchange, ['data: {not json\n\n']);
        response.end();
        return;
      default:
        response.end();
    }
  }

  private sendCompletion(exchange: Exchange, plan: ReplyPlan, context: FrameContext, failure: 'stall' | 'cut' | 'malformed' | undefined): void {
    const { response } = exchange;
    if (failure === 'stall') {
      return;
    }
    if (failure === 'cut') {
      exchange.closedByServer = true;
      response.socket?.destroy();
      return;
    }
    if (failure === 'malformed') {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end('{not json');
      return;
    }
    this.sendJson(response, 200, frameCompletion(plan, context));
  }

  private async sendRecorded(exchange: Exchange, recorded: RecordedResponse): Promise<void> {
    const { response } = exchange;
    response.writeHead(recorded.status, { ...sseHeaders(), 'content-type': recorded.contentType });
    response.flushHeaders();
    if (await this.writePieces(exchange, splitSseEvents(recorded.body))) {
      response.end();
    }
  }

  /**
   * Writes each piece after the chunk delay and waits until it is handed to the socket. Returns false
   * when the client went away first.
   */
  private async writePieces(exchange: Exchange, pieces: (string | Buffer)[]): Promise<boolean> {
    const { response } = exchange;
    for (const [index, piece] of pieces.entries()) {
      if (index > 0 && this.chunkDelayMs > 0) {
        await delay(this.chunkDelayMs);
      }
      if (response.destroyed) {
        return false;
      }
      await new Promise<void>((resolve) => response.write(piece, () => resolve()));
    }
    return !response.destroyed;
  }

  private isAuthorized(request: IncomingMessage, response: ServerResponse): boolean {
    const apiKey = this.options.apiKey;
    if (apiKey === undefined) {
      return true;
    }
    const header = request.headers.authorization;
    if (!header) {
      this.sendJson(response, 401, openAiError("Missing API key. Send it in the Authorization header as 'Bearer <key>'."));
      return false;
    }
    if (header !== `Bearer ${apiKey}`) {
      this.sendJson(response, 401, openAiError('Incorrect API key provided for the scripted model.', { code: 'invalid_api_key' }));
      return false;
    }
    return true;
  }

  private record(request: RecordedRequest): void {
    this.requests.push(request);
    for (const waiter of [...this.waiters]) {
      if (waiter.predicate(request)) {
        waiter.resolve(request);
      }
    }
  }

  private sendJson(response: ServerResponse, status: number, body: unknown): void {
    if (response.headersSent || response.destroyed) {
      return;
    }
    response.writeHead(status, { 'content-type': 'application/json' });
    response.end(JSON.stringify(body));
  }

  /** Returns 500 with the reason for a failure of the simulator itself, such as an unreadable recording. */
  private failInternally(response: ServerResponse, error: unknown): void {
    const message = `The scripted model failed: ${(error as Error).message}`;
    process.stderr.write(`${message}\n`);
    if (!response.headersSent) {
      this.sendJson(response, 500, openAiError(message, { type: 'server_error' }));
    } else {
      response.destroy();
    }
  }
}

/** Starts an OpenAI-compatible Chat Completions server on loopback that replies from scripts and rules. */
export async function startScriptedModel(options: ScriptedModelOptions = {}): Promise<ScriptedModel> {
  const server = new ScriptedModelServer(options);
  await server.listen();
  return server;
}

function modelEntry(): Record<string, unknown> {
  return { id: SCRIPTED_MODEL_NAME, object: 'model', created: MODEL_CREATED, owned_by: 'ha-ai-agent-simulators' };
}

function sseHeaders(): Record<string, string> {
  return { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' };
}

function hash(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads the body as text, or returns undefined after reading and dropping a body over the limit. */
async function readBody(request: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size <= MAX_BODY_BYTES) {
      chunks.push(chunk as Buffer);
    }
  }
  return size > MAX_BODY_BYTES ? undefined : Buffer.concat(chunks).toString('utf8');
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
