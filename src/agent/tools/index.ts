import { createAutomationTool, deleteAutomationTool, validateAutomationTool } from './automation-tools.js';
import { callServiceTool } from './call-service.js';
import { getHistoryTool } from './get-history.js';
import { getStatesTool } from './get-states.js';
import { listServicesTool } from './list-services.js';
import { searchEntitiesTool } from './search-entities.js';
import type { AgentTool } from './tool.js';

/** Every tool the agent offers, in the order the model gets them. */
export const HOME_TOOLS: AgentTool[] = [
  searchEntitiesTool,
  getStatesTool,
  getHistoryTool,
  listServicesTool,
  callServiceTool,
  validateAutomationTool,
  createAutomationTool,
  deleteAutomationTool,
];
