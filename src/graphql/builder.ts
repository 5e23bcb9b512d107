import SchemaBuilder from '@pothos/core';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import ValidationPlugin from '@pothos/plugin-validation';
import type { Scope } from '../config.js';
import { hasScope } from '../auth/caller.js';
import { AppError, type FieldProblem } from '../security/errors.js';
import type { GraphQLContext } from './context.js';

export interface SchemaTypes {
  Context: GraphQLContext;
  AuthScopes: Record<Scope, boolean>;
  Scalars: {
    DateTime: { Input: Date; Output: Date | string };
    JSON: { Input: unknown; Output: unknown };
  };
  DefaultFieldNullability: false;
}

export type Builder = PothosSchemaTypes.SchemaBuilder<PothosSchemaTypes.ExtendDefaultTypes<SchemaTypes>>;

interface StandardIssue {
  message: string;
  path?: readonly (PropertyKey | { key: PropertyKey })[];
}

function issuePath(issue: StandardIssue): string {
  return (issue.path ?? []).map((segment) => String(typeof segment === 'object' ? segment.key : segment)).join('.');
}

/** Creates a schema builder. Each server builds its own schema, so settings such as size limits can differ. */
export function createBuilder(): Builder {
  return new SchemaBuilder<SchemaTypes>({
    plugins: [ScopeAuthPlugin, ValidationPlugin],
    defaultFieldNullability: false,
    scopeAuth: {
      authorizeOnSubscribe: true,
      authScopes: (context) => ({
        chat: hasScope(context.caller, 'chat'),
        read: hasScope(context.caller, 'read'),
        control: hasScope(context.caller, 'control'),
        admin: hasScope(context.caller, 'admin'),
      }),
      unauthorizedError: () => AppError.forbidden(),
    },
    validation: {
      validationError: (result) => {
        const problems: FieldProblem[] = result.issues.map((issue) => ({ field: issuePath(issue) || 'input', message: issue.message }));
        return AppError.badUserInput(problems);
      },
    },
  });
}
