import type { z } from 'zod';
import type { Caller } from '../../auth/caller.js';
import type { ToolCallVerification } from '../../conversations/tool-call.entity.js';
import type { HomeAssistantClient } from '../../home-assistant/home-assistant.js';
import type { Logger } from '../../observability/logger.js';
import { AppError } from '../../security/errors.js';
import type { CreatedAutomations } from '../automations/created-automations.js';
import type { ServicePolicy } from './service-policy.js';

/** Dependencies the Home Assistant tools share: the client, the service policy and the record of created automations. */
export interface HomeToolDependencies {
  /** Undefined when HA_URL or HA_TOKEN is unset; every tool then fails with HOME_ASSISTANT_UNAVAILABLE. */
  homeAssistant: HomeAssistantClient | undefined;
  policy: ServicePolicy;
  automations: CreatedAutomations;
  /** How long a service call waits for its entities to report their new state, in milliseconds. */
  verifyTimeoutMs: number;
}

export interface ToolContext {
  caller: Caller;
  /**
   * Aborted when the tool's time is up, and when the reply ends (cancelled, interrupted or past its
   * deadline) before the tool called `commit`.
   */
  signal: AbortSignal;
  /**
   * Marks the point after which Home Assistant may carry out the tool's change. A tool calls it right
   * before it sends a request that changes the home. It throws the abort reason when the reply has
   * already ended, so nothing is sent. After it, the end of the reply no longer aborts `signal`, so the
   * tool finishes within its time limit and its outcome is stored, because Home Assistant may have acted.
   */
  commit(): void;
  home: HomeToolDependencies;
  logger: Logger;
  /** The stored tool call this run belongs to. */
  toolCallId: string;
}

export type ToolStatus = 'COMPLETED' | 'FAILED' | 'REJECTED' | 'EXPIRED';

export type ToolVerification = ToolCallVerification;

/** The outcome of a tool: the JSON the model reads, and whether the call did what was requested. */
export interface ToolOutcome {
  result: unknown;
  status: ToolStatus;
  error?: { code: string; message: string };
  verification?: ToolVerification;
}

/**
 * A state change that waits for the user. The turn stores the summary and preview, requests a
 * confirmation from the client and calls `execute` only once the same user approves before it expires.
 */
export interface ConfirmationRequest {
  kind: 'confirmation';
  /** The action in plain words, shown to the user. */
  summary: string;
  /** Structured detail stored on the tool call, such as an automation's config. */
  preview?: unknown;
  execute(context: ToolContext): Promise<ToolOutcome>;
}

export type ToolStep = ToolOutcome | ConfirmationRequest;

export function isConfirmationRequest(step: ToolStep): step is ConfirmationRequest {
  return (step as ConfirmationRequest).kind === 'confirmation';
}

export interface AgentTool<Arguments = unknown> {
  name: string;
  /** The text the model reads to decide when to call the tool. */
  description: string;
  arguments: z.ZodType<Arguments>;
  /** Whether the tool can change something in the home; such tools need the `control` scope. */
  changesState: boolean;
  run(args: Arguments, context: ToolContext): Promise<ToolStep>;
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

export function completed(result: unknown): ToolOutcome {
  return { result, status: 'COMPLETED' };
}

/** Returns the Home Assistant client once it is connected and has read the home; HOME_ASSISTANT_UNAVAILABLE otherwise. */
export function availableHome(context: ToolContext): HomeAssistantClient {
  const client = context.home.homeAssistant;
  if (!client) throw AppError.homeAssistantUnavailable('Home Assistant is not configured (HA_URL and HA_TOKEN are unset).');
  client.assertAvailable();
  return client;
}

/** The entity id rule of Home Assistant: lower-case `domain.object_id`. */
export const ENTITY_ID_PATTERN = /^[a-z0-9_]+\.[a-z0-9_]+$/;
export const DOMAIN_PATTERN = /^[a-z0-9_]+$/;
