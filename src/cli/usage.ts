import { parseArgs, type ParseArgsConfig } from 'node:util';

/**
 * Exit status of a wrong invocation (missing or unknown command, option or argument), which prints the
 * usage. A command that was invoked correctly but failed exits with 1 and prints only the error.
 */
export const USAGE_EXIT_CODE = 2;

/** Writes `message` and the usage to stderr and exits with USAGE_EXIT_CODE. */
export function exitWithUsage(usage: string, message: string): never {
  process.stderr.write(`${message}\n\n${usage}\n`);
  process.exit(USAGE_EXIT_CODE);
}

/** Parses the command line with `parseArgs`. An unknown option or a missing option value exits with the usage. */
export function parseCommandLine<T extends ParseArgsConfig>(usage: string, config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (error) {
    if (error instanceof TypeError && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS_')) exitWithUsage(usage, error.message);
    throw error;
  }
}
