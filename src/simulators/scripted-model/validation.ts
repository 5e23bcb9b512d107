import { openAiError, type OpenAiErrorBody } from './openai-errors.js';

const ROLES = ['system', 'developer', 'user', 'assistant', 'tool', 'function'];
const TOOL_NAME_PATTERN = /^[a-zA-Z0-9_-]{1,64}$/;

export type ValidationResult = { ok: true } | { ok: false; body: OpenAiErrorBody };

function fail(message: string, param: string | null, code: string | null = null): ValidationResult {
  return { ok: false, body: openAiError(message, { param, code }) };
}

function typeName(value: unknown): string {
  if (value === null) {
    return 'null';
  }
  return Array.isArray(value) ? 'an array' : `a ${typeof value}`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Checks a chat completion request roughly the way OpenAI does and returns the first problem as a 400
 * error body. Tool-call pairing is checked too: OpenAI rejects a `tool` message that replies to no earlier
 * `tool_calls`, and `tool_calls` left without replies, which are the mistakes an agent loop makes.
 */
export function validateChatRequest(body: unknown): ValidationResult {
  if (!isRecord(body)) {
    return fail(`Invalid type for the request body: expected an object, but got ${typeName(body)} instead.`, null, 'invalid_type');
  }
  if (body.model === undefined) {
    return fail("Missing required parameter: 'model'.", 'model', 'missing_required_parameter');
  }
  if (typeof body.model !== 'string') {
    return fail(`Invalid type for 'model': expected a string, but got ${typeName(body.model)} instead.`, 'model', 'invalid_type');
  }
  if (body.stream !== undefined && typeof body.stream !== 'boolean') {
    return fail(`Invalid type for 'stream': expected a boolean, but got ${typeName(body.stream)} instead.`, 'stream', 'invalid_type');
  }
  if (body.stream_options !== undefined && body.stream_options !== null) {
    if (body.stream !== true) {
      return fail("The 'stream_options' parameter is only allowed when 'stream' is enabled.", 'stream_options');
    }
    if (!isRecord(body.stream_options)) {
      return fail("Invalid type for 'stream_options': expected an object.", 'stream_options', 'invalid_type');
    }
  }
  if (body.n !== undefined && body.n !== null && (!Number.isInteger(body.n) || (body.n as number) < 1 || (body.n as number) > 128)) {
    return fail(`Invalid 'n': expected an integer from 1 to 128, got ${JSON.stringify(body.n)}.`, 'n', 'invalid_value');
  }

  const tools = validateTools(body.tools);
  if (!tools.ok) {
    return tools;
  }
  return validateMessages(body.messages);
}

function validateTools(tools: unknown): ValidationResult {
  if (tools === undefined || tools === null) {
    return { ok: true };
  }
  if (!Array.isArray(tools)) {
    return fail(`Invalid type for 'tools': expected an array, but got ${typeName(tools)} instead.`, 'tools', 'invalid_type');
  }
  for (const [index, tool] of tools.entries()) {
    if (!isRecord(tool) || tool.type !== 'function' || !isRecord(tool.function)) {
      return fail(`Invalid 'tools[${index}]': expected {"type": "function", "function": {...}}.`, `tools[${index}]`, 'invalid_value');
    }
    const name = tool.function.name;
    if (typeof name !== 'string' || !TOOL_NAME_PATTERN.test(name)) {
      return fail(
        `Invalid 'tools[${index}].function.name': expected 1 to 64 letters, digits, '_' or '-', got ${JSON.stringify(name)}.`,
        `tools[${index}].function.name`,
        'invalid_value',
      );
    }
  }
  return { ok: true };
}

function validateMessages(messages: unknown): ValidationResult {
  if (messages === undefined) {
    return fail("Missing required parameter: 'messages'.", 'messages', 'missing_required_parameter');
  }
  if (!Array.isArray(messages)) {
    return fail(`Invalid type for 'messages': expected an array of objects, but got ${typeName(messages)} instead.`, 'messages', 'invalid_type');
  }
  if (messages.length === 0) {
    return fail("Invalid 'messages': empty array. Expected at least one message.", 'messages', 'empty_array');
  }

  let pendingToolCallIds: string[] = [];
  let pendingFrom = -1;
  for (const [index, message] of messages.entries()) {
    const param = `messages[${index}]`;
    if (!isRecord(message)) {
      return fail(`Invalid type for '${param}': expected an object, but got ${typeName(message)} instead.`, param, 'invalid_type');
    }
    if (typeof message.role !== 'string' || !ROLES.includes(message.role)) {
      return fail(
        `Invalid value for '${param}.role': ${JSON.stringify(message.role)}. Supported values are: ${ROLES.join(', ')}.`,
        `${param}.role`,
        'invalid_value',
      );
    }

    if (message.role !== 'tool' && pendingToolCallIds.length > 0) {
      return unansweredToolCalls(pendingFrom, pendingToolCallIds);
    }

    if (message.role === 'tool') {
      if (typeof message.tool_call_id !== 'string') {
        return fail(`Missing required parameter: '${param}.tool_call_id'.`, `${param}.tool_call_id`, 'missing_required_parameter');
      }
      if (!pendingToolCallIds.includes(message.tool_call_id)) {
        return fail("Invalid parameter: a message with role 'tool' must answer a 'tool_calls' entry of the assistant message before it.", `${param}.role`);
      }
      pendingToolCallIds = pendingToolCallIds.filter((id) => id !== message.tool_call_id);
    }

    if (message.role === 'assistant') {
      const toolCalls = message.tool_calls;
      if (toolCalls !== undefined && toolCalls !== null) {
        if (!Array.isArray(toolCalls)) {
          return fail(`Invalid type for '${param}.tool_calls': expected an array.`, `${param}.tool_calls`, 'invalid_type');
        }
        pendingToolCallIds = toolCalls.map((call) => (isRecord(call) ? String(call.id) : ''));
        pendingFrom = index;
      } else if (message.content === undefined || message.content === null) {
        return fail(`Missing required parameter: '${param}.content'.`, `${param}.content`, 'missing_required_parameter');
      }
    } else if (message.content === undefined || message.content === null) {
      return fail(`Missing required parameter: '${param}.content'.`, `${param}.content`, 'missing_required_parameter');
    }
  }
  if (pendingToolCallIds.length > 0) {
    return unansweredToolCalls(pendingFrom, pendingToolCallIds);
  }
  return { ok: true };
}

function unansweredToolCalls(index: number, ids: string[]): ValidationResult {
  return fail(
    "An assistant message with 'tool_calls' must be followed by tool messages answering each 'tool_call_id'. " +
      `These tool_call_ids have no answer: ${ids.join(', ')}`,
    `messages[${index}].role`,
  );
}
