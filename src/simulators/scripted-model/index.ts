/**
 * Scripted model: a loopback HTTP server that speaks OpenAI's Chat Completions protocol and replies from
 * queued scripts or deterministic rules. It is a demo and test double, not a language model.
 */
export { SCRIPTED_MODEL_NAME } from './framing.js';
export { startScriptedModel, type ScriptedModel } from './server.js';
export { planFromRules, type ChatRequestLike } from './rules.js';
export {
  COMPATIBILITY_MODES,
  type CompatibilityMode,
  type RecordedRequest,
  type ScriptedModelOptions,
  type ScriptedResponse,
} from './types.js';
