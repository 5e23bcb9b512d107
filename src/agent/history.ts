import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import type { EntityManager } from '../db/orm.js';
import { MessageSchema, type Message } from '../conversations/message.entity.js';
import { ToolCallSchema, type ToolCall } from '../conversations/tool-call.entity.js';
import { countTokens, MESSAGE_OVERHEAD_TOKENS } from '../llm/tokens.js';
import { toolResultBlock } from './system-prompt.js';

/**
 * One message of the conversation as the model sees it: a user message, or an assistant reply with its
 * tool calls and results. A unit is kept or dropped whole, because a tool result without the assistant
 * message that requested it is an invalid prompt.
 */
export interface HistoryUnit {
  messages: ChatCompletionMessageParam[];
  tokens: number;
}

export function countMessageTokens(message: ChatCompletionMessageParam): number {
  let text = typeof message.content === 'string' ? message.content : message.content ? JSON.stringify(message.content) : '';
  if (message.role === 'assistant' && message.tool_calls) text += JSON.stringify(message.tool_calls);
  return countTokens(text) + MESSAGE_OVERHEAD_TOKENS;
}

function replyUnit(reply: Message, toolCalls: ToolCall[]): ChatCompletionMessageParam[] {
  const messages: ChatCompletionMessageParam[] = [];
  const rounds = [...new Set(toolCalls.map((call) => call.round))].sort((a, b) => a - b);
  for (const round of rounds) {
    const calls = toolCalls.filter((call) => call.round === round);
    messages.push({
      role: 'assistant',
      content: null,
      tool_calls: calls.map((call) => ({
        id: call.callId,
        type: 'function',
        function: { name: call.name, arguments: typeof call.arguments === 'string' ? call.arguments : JSON.stringify(call.arguments) },
      })),
    });
    for (const call of calls) {
      messages.push({ role: 'tool', tool_call_id: call.callId, content: toolResultBlock(call.name, call.result ?? call.error ?? null) });
    }
  }
  if (reply.content.length > 0) messages.push({ role: 'assistant', content: reply.content });
  return messages;
}

/** Loads the conversation's messages before `beforeId`, oldest first, as prompt units. */
export async function loadHistory(em: EntityManager, conversationId: string, beforeId: string): Promise<HistoryUnit[]> {
  const messages = await em.find(MessageSchema, { conversationId, id: { $lt: beforeId } }, { orderBy: { id: 'asc' } });
  const replyIds = messages.filter((message) => message.role === 'ASSISTANT').map((message) => message.id);
  const toolCalls = replyIds.length > 0 ? await em.find(ToolCallSchema, { messageId: { $in: replyIds } }, { orderBy: { id: 'asc' } }) : [];

  const units: HistoryUnit[] = [];
  for (const message of messages) {
    const unitMessages: ChatCompletionMessageParam[] =
      message.role === 'USER'
        ? [{ role: 'user', content: message.content }]
        : replyUnit(
            message,
            toolCalls.filter((call) => call.messageId === message.id && call.status !== 'RUNNING' && call.status !== 'AWAITING_CONFIRMATION'),
          );
    if (unitMessages.length === 0) continue;
    units.push({ messages: unitMessages, tokens: unitMessages.reduce((sum, item) => sum + countMessageTokens(item), 0) });
  }
  return units;
}
