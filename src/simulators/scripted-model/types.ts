/**
 * Framing of the server's replies. `'openai'` matches OpenAI's Chat Completions API; the others imitate
 * local OpenAI-compatible servers (llama.cpp, Ollama, vLLM) that differ in framing. Every mode yields the
 * same final text and tool calls for the same request.
 *
 * - `'openai'`: role chunk, content chunks, one header chunk per tool call followed by argument
 *   fragments, a finish chunk, and a usage chunk when `stream_options.include_usage` is true.
 * - `'rejects-stream-options'`: a request that contains `stream_options` gets HTTP 400. Without it, the
 *   stream is the `'openai'` one without a usage chunk.
 * - `'no-usage'`: never sends usage, neither in chunks nor in non-streamed replies.
 * - `'whole-tool-calls'`: each tool call arrives complete in one chunk (id, name and all arguments).
 * - `'multi-choice'`: chunks for choice 0 and choice 1 alternate. Choice 1 carries other text and no tool
 *   calls. A client must use choice 0 only, because `n` defaults to 1 and it asked for one choice.
 * - `'content-with-tool-calls'`: content deltas and tool-call deltas travel in the same chunks.
 * - `'no-finish-reason'`: no chunk carries a finish_reason and no usage chunk is sent; `[DONE]` follows
 *   the last delta.
 */
export type CompatibilityMode =
  | 'openai'
  | 'rejects-stream-options'
  | 'no-usage'
  | 'whole-tool-calls'
  | 'multi-choice'
  | 'content-with-tool-calls'
  | 'no-finish-reason';

export const COMPATIBILITY_MODES: readonly CompatibilityMode[] = [
  'openai',
  'rejects-stream-options',
  'no-usage',
  'whole-tool-calls',
  'multi-choice',
  'content-with-tool-calls',
  'no-finish-reason',
];

/** A reply a test puts in the queue; queued replies are served before the built-in rules, oldest first. */
export type ScriptedResponse =
  /** Serves an SSE body file byte for byte as `text/event-stream`. */
  | { kind: 'recording'; file: string }
  /** Serves `response.body.string` of interaction `interaction` (0-based) of a VCR YAML cassette byte for byte. */
  | { kind: 'cassette'; file: string; interaction: number }
  /** Streams this text, split into word-sized chunks. */
  | { kind: 'text'; text: string }
  /** Streams these tool calls with their arguments split over several chunks, after the optional text. */
  | { kind: 'tool_calls'; calls: { name: string; arguments: object | string }[]; text?: string }
  /** Returns this HTTP status; `body` defaults to an OpenAI error object for the status. */
  | { kind: 'http_error'; status: number; body?: unknown; headers?: Record<string, string> }
  /** Sends the first N chunks of the rule-based reply, then sends nothing until the client disconnects. */
  | { kind: 'stall'; afterChunks: number }
  /** Sends the first N chunks of the rule-based reply, then destroys the socket mid-stream. */
  | { kind: 'cut'; afterChunks: number }
  /** Sends the first N chunks of the rule-based reply, then a `data: {not json` line, then ends. */
  | { kind: 'malformed'; afterChunks: number }
  /** Waits `delayMs` before sending the response headers, then sends the rule-based reply. */
  | { kind: 'slow'; delayMs: number };

export interface RecordedRequest {
  /** The parsed JSON body, or the raw text when it was not valid JSON. Tests read it loosely, as JSON. */
  // biome-ignore lint/suspicious/noExplicitAny: recorded JSON of any shape, read field by field in tests
  body: any;
  headers: Record<string, string | string[] | undefined>;
  /** `Date.now()` when the request arrived. */
  receivedAt: number;
  /** True when the client closed the connection before the server finished its reply. */
  aborted: boolean;
  /** True when the server finished its reply normally. */
  finished: boolean;
}

export interface ScriptedModelOptions {
  /** @default '127.0.0.1' */
  host?: string;
  /** 0 picks a free port. @default 0 */
  port?: number;
  /** Milliseconds between SSE chunks. @default 0 */
  chunkDelayMs?: number;
  /** When set, requests must send `Authorization: Bearer <apiKey>` or get 401. */
  apiKey?: string;
  /** @default 'openai' */
  mode?: CompatibilityMode;
}

/** One tool call of a reply, with its arguments already serialised as JSON text. */
export interface PlannedToolCall {
  id: string;
  name: string;
  arguments: string;
}

/** The content of one reply, before it is framed into chunks. */
export interface ReplyPlan {
  text: string;
  toolCalls: PlannedToolCall[];
}
