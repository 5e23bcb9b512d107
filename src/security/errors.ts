/**
 * The error catalogue: every error a client may see has one of these codes, a fixed HTTP status and a
 * message that is safe to show. Anything else is masked to "Unexpected error." by the transport layer.
 */
export const ERROR_CODES = {
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  BAD_USER_INPUT: 400,
  RATE_LIMITED: 429,
  BUDGET_EXHAUSTED: 429,
  CONFLICT: 409,
  LLM_NOT_CONFIGURED: 503,
  LLM_UNAVAILABLE: 503,
  HOME_ASSISTANT_UNAVAILABLE: 503,
  INTERNAL_SERVER_ERROR: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export const UNEXPECTED_ERROR_MESSAGE = 'Unexpected error.';

export interface FieldProblem {
  /** Dotted path of the invalid argument or input field, such as `input.message`. */
  field: string;
  message: string;
}

/**
 * An expected failure with a code from the catalogue. Domain code throws these; the GraphQL layer turns
 * them into GraphQL errors with `extensions.code`. The message must never contain upstream text,
 * secrets or internal details.
 */
export class AppError extends Error {
  readonly httpStatus: number;

  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Extra fields for `extensions`, such as `retryAfter` or `fields`. */
    readonly extensions: Record<string, unknown> = {},
    /** Whether retrying the same request later can succeed. */
    readonly retryable = false,
  ) {
    super(message);
    this.name = 'AppError';
    this.httpStatus = ERROR_CODES[code];
  }

  static unauthenticated(message = 'Authentication required: send a valid JWT or API key as "Authorization: Bearer <token>".') {
    return new AppError('UNAUTHENTICATED', message);
  }

  static forbidden(message = 'Your credentials do not allow this operation.') {
    return new AppError('FORBIDDEN', message);
  }

  static notFound(what: string) {
    return new AppError('NOT_FOUND', `${what} not found.`);
  }

  static badUserInput(problems: FieldProblem[]) {
    const summary = problems.map((problem) => `${problem.field}: ${problem.message}`).join('; ');
    return new AppError('BAD_USER_INPUT', `Invalid input. ${summary}`, { fields: problems });
  }

  static rateLimited(retryAfterSeconds: number, what = 'requests') {
    const seconds = Math.max(1, Math.ceil(retryAfterSeconds));
    return new AppError('RATE_LIMITED', `Too many ${what}. Try again in ${seconds} s.`, { retryAfter: seconds }, true);
  }

  /** One connection runs more operations at once than WS_MAX_SUBSCRIPTIONS allows. */
  static tooManyOperations(max: number) {
    return new AppError(
      'RATE_LIMITED',
      `Too many operations on this connection: at most ${max} may run at once. Complete one first or open another connection.`,
      { limit: max },
    );
  }

  static budgetExhausted(resetsAt: Date, now = new Date()) {
    const retryAfter = Math.max(1, Math.ceil((resetsAt.getTime() - now.getTime()) / 1000));
    return new AppError('BUDGET_EXHAUSTED', `Your daily token budget is used up. It resets at ${resetsAt.toISOString()}.`, {
      resetsAt: resetsAt.toISOString(),
      retryAfter,
    });
  }

  static conflict(message: string) {
    return new AppError('CONFLICT', message);
  }

  static llmNotConfigured() {
    return new AppError('LLM_NOT_CONFIGURED', 'No language model is configured. Set OPENAI_API_KEY, or OPENAI_BASE_URL for an OpenAI-compatible server.');
  }

  static llmUnavailable(message = 'The language model is unavailable. Try again later.') {
    return new AppError('LLM_UNAVAILABLE', message, {}, true);
  }

  static homeAssistantUnavailable(message = 'Home Assistant is unavailable.') {
    return new AppError('HOME_ASSISTANT_UNAVAILABLE', message, {}, true);
  }
}

export function isAppError(error: unknown): error is AppError {
  return error instanceof AppError;
}
