import type { CompatibilityMode, ReplyPlan } from './types.js';

/** The model id the server reports; the name says it is a scripted demo model, not a language model. */
export const SCRIPTED_MODEL_NAME = 'scripted-demo-model';

const SYSTEM_FINGERPRINT = 'fp_scripted';
/** Length of one tool-argument fragment; real streams cut arguments into token-sized pieces of similar size. */
const ARGUMENT_FRAGMENT_LENGTH = 6;
/** Text of choice 1 in `'multi-choice'` mode, which a client asking for one choice must ignore. */
const SECOND_CHOICE_TEXT = 'This is choice 1, an alternative reply that a client asking for one choice must ignore.';

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details: { cached_tokens: number; audio_tokens: number };
  completion_tokens_details: {
    reasoning_tokens: number;
    audio_tokens: number;
    accepted_prediction_tokens: number;
    rejected_prediction_tokens: number;
  };
}

export interface FrameContext {
  id: string;
  created: number;
  mode: CompatibilityMode;
  /** True when the request set `stream_options.include_usage`. */
  includeUsage: boolean;
  usage: Usage;
}

type Delta = Record<string, unknown>;
type ChoiceDelta = { index: number; delta: Delta; finish_reason: string | null };

/** Splits text into word-sized pieces that keep their leading whitespace, as OpenAI tokens do. */
export function splitText(text: string): string[] {
  return text.match(/\s*\S+|\s+$/g) ?? [];
}

/** Splits JSON argument text into fixed-size fragments; short arguments still give at least two. */
export function splitArguments(json: string): string[] {
  const size = Math.max(1, Math.min(ARGUMENT_FRAGMENT_LENGTH, Math.floor(json.length / 2)));
  const fragments: string[] = [];
  for (let start = 0; start < json.length; start += size) {
    fragments.push(json.slice(start, start + size));
  }
  return fragments;
}

/**
 * Estimates token counts deterministically: about four characters per token of the request messages and
 * tools, and of the reply text and tool calls. Real tokenizers give other numbers.
 */
export function estimateUsage(request: { messages?: unknown; tools?: unknown }, plan: ReplyPlan): Usage {
  const promptChars = JSON.stringify(request.messages ?? []).length + JSON.stringify(request.tools ?? []).length;
  const completionChars = plan.text.length + plan.toolCalls.reduce((sum, call) => sum + call.name.length + call.arguments.length, 0);
  const promptTokens = Math.max(1, Math.ceil(promptChars / 4));
  const completionTokens = Math.max(1, Math.ceil(completionChars / 4));
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: 0,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  };
}

function finishReason(plan: ReplyPlan): 'stop' | 'tool_calls' {
  return plan.toolCalls.length > 0 ? 'tool_calls' : 'stop';
}

function sendsUsage(context: FrameContext): boolean {
  return (
    context.includeUsage &&
    (context.mode === 'openai' || context.mode === 'whole-tool-calls' || context.mode === 'multi-choice' || context.mode === 'content-with-tool-calls')
  );
}

/** Tool-call deltas in the framing of the mode: header then fragments, or each call whole. */
function toolCallDeltas(plan: ReplyPlan, mode: CompatibilityMode): Delta[] {
  const deltas: Delta[] = [];
  for (const [index, call] of plan.toolCalls.entries()) {
    if (mode === 'whole-tool-calls') {
      deltas.push({
        tool_calls: [{ index, id: call.id, type: 'function', function: { name: call.name, arguments: call.arguments } }],
      });
      continue;
    }
    deltas.push({ tool_calls: [{ index, id: call.id, type: 'function', function: { name: call.name, arguments: '' } }] });
    for (const fragment of splitArguments(call.arguments)) {
      deltas.push({ tool_calls: [{ index, function: { arguments: fragment } }] });
    }
  }
  return deltas;
}

/** Builds the deltas of choice 0, from the role chunk to the last content or tool-call delta. */
function primaryDeltas(plan: ReplyPlan, mode: CompatibilityMode): Delta[] {
  const role: Delta = { role: 'assistant', content: '', refusal: null };
  const textDeltas = splitText(plan.text).map((piece) => ({ content: piece }) as Delta);
  const toolDeltas = toolCallDeltas(plan, mode);

  if (mode !== 'content-with-tool-calls') {
    return [role, ...textDeltas, ...toolDeltas];
  }

  // Pair content pieces with tool-call deltas so that chunks carry both at once.
  const merged: Delta[] = [role];
  for (let i = 0; i < Math.max(textDeltas.length, toolDeltas.length); i++) {
    merged.push({ ...textDeltas[i], ...toolDeltas[i] });
  }
  if (textDeltas.length === 0 && toolDeltas.length > 0) {
    merged.splice(0, 2, { ...role, ...toolDeltas[0] });
  }
  return merged;
}

/**
 * Frames a reply as the JSON payloads of SSE `data:` lines, without the final `[DONE]`. Choice 0 always
 * carries the same text and tool calls; only how they are spread over chunks depends on the mode.
 */
export function frameStream(plan: ReplyPlan, context: FrameContext): Record<string, unknown>[] {
  const withUsageField = sendsUsage(context);
  const chunk = (choices: ChoiceDelta[]): Record<string, unknown> => {
    const payload: Record<string, unknown> = {
      id: context.id,
      object: 'chat.completion.chunk',
      created: context.created,
      model: SCRIPTED_MODEL_NAME,
      system_fingerprint: SYSTEM_FINGERPRINT,
      choices: choices.map((choice) => ({
        index: choice.index,
        delta: choice.delta,
        logprobs: null,
        finish_reason: choice.finish_reason,
      })),
    };
    if (withUsageField) {
      payload.usage = null;
    }
    return payload;
  };

  const sendsFinish = context.mode !== 'no-finish-reason';
  const primary: ChoiceDelta[] = primaryDeltas(plan, context.mode).map((delta) => ({ index: 0, delta, finish_reason: null }));
  if (sendsFinish) {
    primary.push({ index: 0, delta: {}, finish_reason: finishReason(plan) });
  }

  const frames: Record<string, unknown>[] = [];
  if (context.mode === 'multi-choice') {
    const secondary: ChoiceDelta[] = [
      { index: 1, delta: { role: 'assistant', content: '', refusal: null }, finish_reason: null },
      ...splitText(SECOND_CHOICE_TEXT).map((piece) => ({ index: 1, delta: { content: piece }, finish_reason: null })),
      { index: 1, delta: {}, finish_reason: 'stop' },
    ];
    for (let i = 0; i < Math.max(primary.length, secondary.length); i++) {
      if (primary[i]) {
        frames.push(chunk([primary[i]!]));
      }
      if (secondary[i]) {
        frames.push(chunk([secondary[i]!]));
      }
    }
  } else {
    frames.push(...primary.map((choice) => chunk([choice])));
  }

  if (withUsageField) {
    frames.push({ ...chunk([]), usage: context.usage });
  }
  return frames;
}

/** Builds the `chat.completion` object of a non-streamed reply. */
export function frameCompletion(plan: ReplyPlan, context: FrameContext): Record<string, unknown> {
  const message: Record<string, unknown> = {
    role: 'assistant',
    content: plan.text === '' && plan.toolCalls.length > 0 ? null : plan.text,
    refusal: null,
    annotations: [],
  };
  if (plan.toolCalls.length > 0) {
    message.tool_calls = plan.toolCalls.map((call) => ({
      id: call.id,
      type: 'function',
      function: { name: call.name, arguments: call.arguments },
    }));
  }

  const reason = context.mode === 'no-finish-reason' ? null : finishReason(plan);
  const choices: Record<string, unknown>[] = [{ index: 0, message, logprobs: null, finish_reason: reason }];
  if (context.mode === 'multi-choice') {
    choices.push({
      index: 1,
      message: { role: 'assistant', content: SECOND_CHOICE_TEXT, refusal: null, annotations: [] },
      logprobs: null,
      finish_reason: 'stop',
    });
  }

  const completion: Record<string, unknown> = {
    id: context.id,
    object: 'chat.completion',
    created: context.created,
    model: SCRIPTED_MODEL_NAME,
    choices,
  };
  if (context.mode !== 'no-usage') {
    completion.usage = context.usage;
  }
  completion.service_tier = 'default';
  completion.system_fingerprint = SYSTEM_FINGERPRINT;
  return completion;
}
