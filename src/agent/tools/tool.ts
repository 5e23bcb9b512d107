import type { z } from 'zod';
import type { Caller } from '../../auth/caller.js';
import type { HomeAssistantRestClient } from '../../home-assistant/rest-client.js';
import type { Logger } from '../../observability/logger.js';

export interface ToolContext {
  caller: Caller;
  signal: AbortSignal;
  homeAssistant: HomeAssistantRestClient | undefined;
  logger: Logger;
}

/** What a tool returns: the JSON the model reads, and whether the call did what was asked. */
export interface ToolOutcome {
  result: unknown;
  status: 'COMPLETED' | 'FAILED' | 'REJECTED';
  error?: { code: string; message: string };
}

export interface AgentTool<Arguments = unknown> {
  name: string;
  /** What the model reads to decide when to call the tool. */
  description: string;
  arguments: z.ZodType<Arguments>;
  /** Whether the tool can change something in the home; such tools need the `control` scope. */
  changesState: boolean;
  run(args: Arguments, context: ToolContext): Promise<ToolOutcome>;
}

export function defineTool<Schema extends z.ZodType>(tool: AgentTool<z.output<Schema>> & { arguments: Schema }): AgentTool {
  return tool as unknown as AgentTool;
}

export function rejected(code: string, message: string): ToolOutcome {
  return { result: { error: { code, message } }, status: 'REJECTED', error: { code, message } };
}

export function failed(code: string, message: string): ToolOutcome {
  return { result: { error: { code, message } }, status: 'FAILED', error: { code, message } };
}
