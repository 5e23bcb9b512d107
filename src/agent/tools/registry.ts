import type { ChatCompletionTool } from 'openai/resources/chat/completions';
import { hasScope } from '../../auth/caller.js';
import { isAppError } from '../../security/errors.js';
import { toToolJsonSchema } from './json-schema.js';
import { failed, type AgentTool, type ConfirmationRequest, type ToolContext, type ToolOutcome, type ToolStep } from './tool.js';

/** The tools offered to the model, and the single place where a model's tool call is checked and run. */
export class ToolRegistry {
  private readonly tools = new Map<string, AgentTool>();
  /** Definitions per access level: converting the Zod schemas is the costly part and they never change. */
  private readonly definitionsByAccess = new Map<boolean, ChatCompletionTool[]>();

  constructor(tools: AgentTool[]) {
    for (const tool of tools) this.tools.set(tool.name, tool);
  }

  /** Tools the caller may use. Without the `control` scope the agent is read-only. */
  available(context: Pick<ToolContext, 'caller'>): AgentTool[] {
    const canControl = hasScope(context.caller, 'control');
    return [...this.tools.values()].filter((tool) => canControl || !tool.changesState);
  }

  /** Returns the tool definitions sent to the model. Callers with the same access get the same array, so callers must not change it. */
  definitions(context: Pick<ToolContext, 'caller'>): ChatCompletionTool[] {
    const canControl = hasScope(context.caller, 'control');
    let definitions = this.definitionsByAccess.get(canControl);
    if (!definitions) {
      definitions = this.available(context).map((tool) => ({
        type: 'function',
        function: {
          name: tool.name,
          description: tool.description,
          parameters: toToolJsonSchema(tool.arguments),
        },
      }));
      this.definitionsByAccess.set(canControl, definitions);
    }
    return definitions;
  }

  /**
   * Runs one tool call from the model. Unknown tools, invalid JSON and invalid arguments come back to
   * the model as errors it can correct, and a state-changing tool is refused without `control`,
   * whatever the model asked for. A tool may return a confirmation request instead of an outcome; the
   * caller then asks the user and runs it with `runConfirmed`.
   */
  async execute(name: string, rawArguments: string, context: ToolContext): Promise<ToolStep & { arguments: unknown }> {
    let parsedJson: unknown = {};
    try {
      parsedJson = rawArguments.trim() === '' ? {} : JSON.parse(rawArguments);
    } catch {
      return { ...failed('BAD_USER_INPUT', 'The tool arguments are not valid JSON.'), arguments: rawArguments };
    }

    const tool = this.tools.get(name);
    if (!tool) return { ...failed('NOT_FOUND', `There is no tool named ${name}.`), arguments: parsedJson };
    if (tool.changesState && !hasScope(context.caller, 'control')) {
      return { ...failed('FORBIDDEN', 'This user may only read the home, not change it.'), status: 'REJECTED', arguments: parsedJson };
    }

    const parsed = tool.arguments.safeParse(parsedJson);
    if (!parsed.success) {
      const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'arguments'}: ${issue.message}`).join('; ');
      return { ...failed('BAD_USER_INPUT', `Invalid arguments. ${problems}`), arguments: parsedJson };
    }

    return { ...(await this.guard(name, context, () => tool.run(parsed.data, context))), arguments: parsedJson };
  }

  /** Runs a confirmed action with the same error handling as `execute`. */
  runConfirmed(name: string, request: ConfirmationRequest, context: ToolContext): Promise<ToolOutcome> {
    return this.guard(name, context, () => request.execute(context)) as Promise<ToolOutcome>;
  }

  /** Turns catalogued errors into failed outcomes the model can read; an abort is passed on. */
  private async guard(name: string, context: ToolContext, run: () => Promise<ToolStep>): Promise<ToolStep> {
    try {
      return await run();
    } catch (error) {
      if (context.signal.aborted) throw error;
      if (isAppError(error)) return failed(error.code, error.message);
      context.logger.error({ event: 'tool.failed', tool: name, err: error }, 'Tool failed unexpectedly');
      return failed('INTERNAL_SERVER_ERROR', 'The tool failed unexpectedly.');
    }
  }
}
