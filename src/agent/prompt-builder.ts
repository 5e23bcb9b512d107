import type { ChatCompletionMessageParam, ChatCompletionTool } from 'openai/resources/chat/completions';
import type { PromptBreakdown } from '../conversations/message.entity.js';
import { countTokens, MESSAGE_OVERHEAD_TOKENS } from '../llm/tokens.js';
import { AppError } from '../security/errors.js';
import type { HistoryUnit } from './history.js';

export interface PromptParts {
  system: string;
  /** The stable home context; it goes right after the system prompt. */
  context: string;
  /** The part that changes every turn (states, time); it goes after the history, before the message. */
  turnContext?: string;
  history: HistoryUnit[];
  message: string;
  tools: ChatCompletionTool[];
}

export interface Prompt {
  messages: ChatCompletionMessageParam[];
  breakdown: PromptBreakdown;
  /** Position of the turn context in `messages`, so a later tool round can replace it; -1 when left out. */
  turnContextIndex: number;
}

/** Token counts of tool lists already seen; the registry hands out the same array for every turn. */
const toolTokens = new WeakMap<ChatCompletionTool[], number>();

export function countToolTokens(tools: ChatCompletionTool[]): number {
  if (tools.length === 0) return 0;
  let tokens = toolTokens.get(tools);
  if (tokens === undefined) {
    tokens = countTokens(JSON.stringify(tools));
    toolTokens.set(tools, tokens);
  }
  return tokens;
}

/** Tokens of the parts that are always sent: system prompt, tool definitions and the message itself. */
export function fixedPromptTokens(parts: Pick<PromptParts, 'system' | 'message' | 'tools'>) {
  return {
    system: countTokens(parts.system) + MESSAGE_OVERHEAD_TOKENS,
    message: countTokens(parts.message) + MESSAGE_OVERHEAD_TOKENS,
    tools: countToolTokens(parts.tools),
  };
}

/** Raises BAD_USER_INPUT when the message cannot fit beside the system prompt and tools. */
export function assertMessageFits(parts: Pick<PromptParts, 'system' | 'message' | 'tools'>, maxInputTokens: number): void {
  const fixed = fixedPromptTokens(parts);
  const total = fixed.system + fixed.message + fixed.tools;
  if (total > maxInputTokens) {
    throw AppError.badUserInput([
      {
        field: 'input.message',
        message: `The message is too long for the model: it needs ${total} tokens with the instructions, and the limit is ${maxInputTokens} tokens (OPENAI_MAX_INPUT_TOKENS).`,
      },
    ]);
  }
}

/**
 * Assembles the prompt within `maxInputTokens`: the system prompt, tools and the message always; then
 * the home context and the turn context if they fit; then earlier messages newest first, as many whole
 * units as fit. What changes least comes first, so a cached prefix covers as much as possible.
 */
export function buildPrompt(parts: PromptParts, maxInputTokens: number): Prompt {
  assertMessageFits(parts, maxInputTokens);
  const fixed = fixedPromptTokens(parts);
  let remaining = maxInputTokens - fixed.system - fixed.message - fixed.tools;

  let contextTokens = parts.context ? countTokens(parts.context) + MESSAGE_OVERHEAD_TOKENS : 0;
  const includeContext = contextTokens > 0 && contextTokens <= remaining;
  if (includeContext) remaining -= contextTokens;
  else contextTokens = 0;

  const turnTokens = parts.turnContext ? countTokens(parts.turnContext) + MESSAGE_OVERHEAD_TOKENS : 0;
  const includeTurn = turnTokens > 0 && turnTokens <= remaining;
  if (includeTurn) {
    remaining -= turnTokens;
    contextTokens += turnTokens;
  }

  const kept: HistoryUnit[] = [];
  for (let index = parts.history.length - 1; index >= 0; index -= 1) {
    const unit = parts.history[index];
    if (!unit || unit.tokens > remaining) break;
    kept.unshift(unit);
    remaining -= unit.tokens;
  }
  // A prompt may not start with an assistant reply that has no user message before it.
  while (kept[0]?.messages[0]?.role === 'assistant') kept.shift();

  const messages: ChatCompletionMessageParam[] = [{ role: 'system', content: parts.system }];
  if (includeContext) messages.push({ role: 'system', content: parts.context });
  for (const unit of kept) messages.push(...unit.messages);
  let turnContextIndex = -1;
  if (includeTurn && parts.turnContext) {
    turnContextIndex = messages.length;
    messages.push({ role: 'system', content: parts.turnContext });
  }
  messages.push({ role: 'user', content: parts.message });

  return {
    turnContextIndex,
    messages,
    breakdown: {
      system: fixed.system,
      context: contextTokens,
      history: kept.reduce((sum, unit) => sum + unit.tokens, 0),
      message: fixed.message,
      tools: fixed.tools,
      historyMessages: kept.length,
    },
  };
}
