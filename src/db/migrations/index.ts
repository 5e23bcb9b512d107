import type { MigrationObject } from '@mikro-orm/core';
import { Migration20261204000000Initial } from './Migration20261204000000Initial.js';
import { Migration20261205000000Operations } from './Migration20261205000000Operations.js';

/** Every migration in order. Listed here, not discovered from files, so the same list works from source and from a build. */
export const migrations: MigrationObject[] = [
  { name: 'Migration20261204000000Initial', class: Migration20261204000000Initial },
  { name: 'Migration20261205000000Operations', class: Migration20261205000000Operations },
];
