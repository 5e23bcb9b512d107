import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { type MaskError, stripSuggestions } from './errors.js';

function asBadUserInput(error: GraphQLError, hideSuggestions = false): GraphQLError {
  return new GraphQLError(hideSuggestions ? stripSuggestions(error.message) : error.message, {
    nodes: error.nodes,
    source: error.source,
    positions: error.positions,
    originalError: undefined,
    extensions: { ...error.extensions, code: 'BAD_USER_INPUT' },
  });
}

export interface DocumentErrorCodesOptions {
  /** Removes "Did you mean" hints. @default false */
  hideSuggestions?: boolean;
  /**
   * Masks each validation error, which also counts it in the error metrics. Yoga returns validation
   * errors as the result without passing them through its masking, unlike parse errors, which it throws.
   */
  maskError?: MaskError;
}

/**
 * Gives syntax and validation errors of a client's document the catalogue code BAD_USER_INPUT, on every
 * transport, instead of graphql-js's GRAPHQL_PARSE_FAILED and GRAPHQL_VALIDATION_FAILED. With
 * hideSuggestions, "Did you mean" hints are removed, because they reveal the schema bit by bit.
 */
export function useDocumentErrorCodes(options: DocumentErrorCodesOptions = {}): Plugin {
  // Each request gets new error objects, because Yoga caches validation results per document and the
  // masker counts an error object only once.
  const convert = (error: GraphQLError) => {
    const converted = asBadUserInput(error, options.hideSuggestions);
    return options.maskError ? options.maskError(converted) : converted;
  };
  return {
    onParse() {
      return ({ result, replaceParseResult }) => {
        if (result instanceof GraphQLError) replaceParseResult(asBadUserInput(result));
      };
    },
    onValidate() {
      return ({ result, setResult }) => {
        if (result.length > 0) setResult(result.map((error: Error) => (error instanceof GraphQLError ? convert(error) : error)));
      };
    },
  };
}
