import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { stripSuggestions } from './errors.js';

function asBadUserInput(error: GraphQLError, hideSuggestions = false): GraphQLError {
  return new GraphQLError(hideSuggestions ? stripSuggestions(error.message) : error.message, {
    nodes: error.nodes,
    source: error.source,
    positions: error.positions,
    originalError: undefined,
    extensions: { ...error.extensions, code: 'BAD_USER_INPUT' },
  });
}

/**
 * Gives syntax and validation errors of a client's document the catalogue code BAD_USER_INPUT, on every
 * transport, instead of graphql-js's GRAPHQL_PARSE_FAILED and GRAPHQL_VALIDATION_FAILED. With
 * hideSuggestions, "Did you mean" hints are removed, because they reveal the schema bit by bit.
 */
export function useDocumentErrorCodes(options: { hideSuggestions?: boolean } = {}): Plugin {
  return {
    onParse() {
      return ({ result, replaceParseResult }) => {
        if (result instanceof GraphQLError) replaceParseResult(asBadUserInput(result));
      };
    },
    onValidate() {
      return ({ result, setResult }) => {
        if (result.length > 0)
          setResult(result.map((error: Error) => (error instanceof GraphQLError ? asBadUserInput(error, options.hideSuggestions) : error)));
      };
    },
  };
}
