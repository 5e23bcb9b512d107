import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { AppError } from '../security/errors.js';

/**
 * Replaces the JSON errors of Yoga's request parsers with catalogued BAD_USER_INPUT errors of fixed
 * wording. For a POST body that is not JSON, Yoga 5 puts the JSON parser's own message into
 * `extensions.originalError`. For a GET whose `variables` or `extensions` parameter is not JSON, it
 * throws the bare SyntaxError, which would be masked as an unexpected error. The plugin must come
 * after Yoga's parsers, because it wraps the parser they set.
 */
export function useRequestParseErrors(): Plugin {
  return {
    onRequestParse({ request, requestParser, setRequestParser }) {
      if (!requestParser) return;
      const parse = requestParser;
      setRequestParser(async (parsed) => {
        try {
          return await parse(parsed);
        } catch (error) {
          throw parseError(request.method, error);
        }
      });
    },
  };
}

function parseError(method: string, error: unknown): unknown {
  const notJson = error instanceof SyntaxError || (error instanceof GraphQLError && error.extensions.originalError !== undefined);
  if (!notJson) return error;
  const message = method === 'GET' ? 'The variables or extensions parameter is not valid JSON.' : 'The request body is not valid JSON.';
  return new AppError('BAD_USER_INPUT', message);
}
