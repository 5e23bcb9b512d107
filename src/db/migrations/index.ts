import type { MigrationObject } from '@mikro-orm/core';
import { Migration20261204000000Initial } from './Migration20261204000000Initial.js';
import { Migration20261205000000TokenUsage } from './Migration20261205000000TokenUsage.js';
import { Migration20261205000100ConfirmationsAndAutomations } from './Migration20261205000100ConfirmationsAndAutomations.js';
import { Migration20261205000200Operations } from './Migration20261205000200Operations.js';

/** Every migration in order. Listed here, not discovered from files, so the same list works from source and from a build. */
export const migrations: MigrationObject[] = [
  { name: 'Migration20261204000000Initial', class: Migration20261204000000Initial },
  { name: 'Migration20261205000000TokenUsage', class: Migration20261205000000TokenUsage },
  { name: 'Migration20261205000100ConfirmationsAndAutomations', class: Migration20261205000100ConfirmationsAndAutomations },
  { name: 'Migration20261205000200Operations', class: Migration20261205000200Operations },
];
