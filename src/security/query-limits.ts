import { EnvelopArmor } from '@escape.tech/graphql-armor';
import type { Plugin } from '@envelop/core';
import { GraphQLError, NoSchemaIntrospectionCustomRule, type ExecutionArgs, type ValidationContext } from 'graphql';
import { DEFAULT_COST_WEIGHTS, estimateQueryCost } from './query-cost.js';
import { singleSelectionRule } from './single-selection.js';

/**
 * Root fields an operation may select only once. exportMyData builds one document with everything stored
 * about the caller, so each alias of it would hold another copy of that document in memory.
 */
export const SINGLE_SELECTION_FIELDS = ['exportMyData'];

export interface QueryLimitOptions {
  /** Allow `__schema` and `__type`. Off, they fail validation like unknown fields. */
  introspection: boolean;
  maxDepth: number;
  maxAliases: number;
  maxTokens: number;
  maxDirectives: number;
  maxCost: number;
  /** Page size the resolvers use when `first` is left out, for the cost estimate. */
  defaultPageSize: number;
}

/**
 * Depth of the introspection query GraphiQL and codegen send (graphql-js getIntrospectionQuery, whose
 * type references nest `ofType` seven levels deep).
 */
export const INTROSPECTION_QUERY_DEPTH = 21;

/** graphql-armor prefixes its messages with "Syntax Error: " even for validation limits. */
function limitError(error: GraphQLError): GraphQLError {
  return new GraphQLError(error.message.replace(/^Syntax Error: /, ''), { extensions: { code: 'BAD_USER_INPUT', http: { status: 400 } } });
}

/** Reports a rejected limit as an ordinary validation error, so every broken limit is listed at once. */
const reportAsValidationError = {
  exposeLimits: true,
  propagateOnRejection: false,
  onReject: [(context: ValidationContext | null, error: GraphQLError) => context?.reportError(limitError(error))],
};

/**
 * Limits what one document may request: tokens (checked while parsing, before any other work),
 * directives, aliases, depth, an estimated cost and one selection of each SINGLE_SELECTION_FIELDS field. Introspection is rejected unless enabled. Every
 * limit applies on HTTP, SSE and graphql-ws alike, because all three run documents through these
 * plugins.
 */
export function useQueryLimits(options: QueryLimitOptions): Plugin {
  const weights = { ...DEFAULT_COST_WEIGHTS, defaultPageSize: options.defaultPageSize };

  const checkCost = (args: ExecutionArgs): GraphQLError | undefined => {
    const cost = estimateQueryCost(args.schema, args.document, args.operationName, (args.variableValues ?? {}) as Record<string, unknown>, weights);
    if (cost <= options.maxCost) return undefined;
    return new GraphQLError(
      `Query cost limit of ${options.maxCost} exceeded, found ${Math.ceil(cost)}. Ask for smaller pages (first) or fewer nested fields.`,
      { extensions: { code: 'BAD_USER_INPUT', http: { status: 400 } } },
    );
  };

  return {
    onPluginInit({ addPlugin }) {
      const off = { enabled: false };
      const armor = new EnvelopArmor({
        // "Did you mean" hints are removed by useDocumentErrorCodes and the error masker, which also
        // handles variable errors.
        blockFieldSuggestion: off,
        // The cost estimate below replaces graphql-armor's, which cannot see variable values.
        costLimit: off,
        maxTokens: {
          n: options.maxTokens,
          exposeLimits: true,
          propagateOnRejection: false,
          // The parser has no validation context to report to, so the error stops parsing instead.
          onReject: [
            (_context: ValidationContext | null, error: GraphQLError) => {
              throw limitError(error);
            },
          ],
        },
        maxDirectives: { n: options.maxDirectives, ...reportAsValidationError },
        maxAliases: { n: options.maxAliases, ...reportAsValidationError },
        maxDepth: { n: options.maxDepth, ignoreIntrospection: options.introspection, ...reportAsValidationError },
      });
      for (const plugin of armor.protect().plugins) addPlugin(plugin);
      addPlugin({ onValidate: ({ addValidationRule }) => addValidationRule(singleSelectionRule(SINGLE_SELECTION_FIELDS)) });

      if (options.introspection) {
        // The rule above skips `__schema` so GraphiQL can load the schema; this one still bounds an
        // introspection query, at the depth of the standard one.
        const introspectionDepth = new EnvelopArmor({
          blockFieldSuggestion: off,
          costLimit: off,
          maxTokens: off,
          maxDirectives: off,
          maxAliases: off,
          maxDepth: { n: Math.max(options.maxDepth, INTROSPECTION_QUERY_DEPTH), ignoreIntrospection: false, ...reportAsValidationError },
        });
        for (const plugin of introspectionDepth.protect().plugins) addPlugin(plugin);
      } else {
        addPlugin({ onValidate: ({ addValidationRule }) => addValidationRule(NoSchemaIntrospectionCustomRule) });
      }
    },
    onExecute({ args, setResultAndStopExecution }) {
      const error = checkCost(args);
      if (error) setResultAndStopExecution({ errors: [error] });
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      const error = checkCost(args);
      if (error) setResultAndStopExecution({ errors: [error] });
    },
  };
}
