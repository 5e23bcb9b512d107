/** The error body OpenAI sends with every 4xx and 5xx status. */
export interface OpenAiErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

export function openAiError(message: string, options: { type?: string; param?: string | null; code?: string | null } = {}): OpenAiErrorBody {
  return {
    error: {
      message,
      type: options.type ?? 'invalid_request_error',
      param: options.param ?? null,
      code: options.code ?? null,
    },
  };
}

/** Builds the error body for a scripted `http_error` without a body, with the type and code OpenAI uses. */
export function defaultErrorBody(status: number): OpenAiErrorBody {
  switch (status) {
    case 400:
      return openAiError('The scripted model rejected this request (scripted 400 response).');
    case 401:
      return openAiError('Incorrect API key provided (scripted 401 response).', { code: 'invalid_api_key' });
    case 403:
      return openAiError('This key may not use the scripted model (scripted 403 response).', { code: 'unsupported_country_region_territory' });
    case 404:
      return openAiError('The model does not exist or you do not have access to it (scripted 404 response).', {
        code: 'model_not_found',
      });
    case 429:
      return openAiError('Rate limit reached for the scripted demo model (scripted 429 response).', {
        type: 'requests',
        code: 'rate_limit_exceeded',
      });
    case 503:
      return openAiError('The scripted model is overloaded (scripted 503 response). Retry after a short wait.', {
        type: 'server_error',
      });
    default:
      return openAiError(`The scripted model failed with status ${status} (scripted response).`, {
        type: status >= 500 ? 'server_error' : 'invalid_request_error',
      });
  }
}
