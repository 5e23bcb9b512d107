import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/observability/logger.js';
import { cleanErrorMessage } from '../../src/observability/safe-error.js';

const SECRET = 'configured-secret-value-0123456789';
const API_KEY = 'haa_0123456789abcdef_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcde';
const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXBhcnQtb2YtdGhlLXRva2Vu';

function capture() {
  const lines: Record<string, any>[] = [];
  const raw: string[] = [];
  const logger = createLogger({
    level: 'debug',
    secrets: [SECRET],
    destination: {
      write(line: string) {
        raw.push(line);
        lines.push(JSON.parse(line) as Record<string, any>);
      },
    },
  });
  return { logger, lines, raw };
}

describe('logger redaction', () => {
  it('removes credentials by key', () => {
    const { logger, lines } = capture();
    logger.info({
      authorization: `Bearer ${API_KEY}`,
      headers: { authorization: 'Bearer x', cookie: 'session=1' },
      connectionParams: { authorization: `Bearer ${JWT}` },
      payload: { authorization: 'Bearer y' },
      apiKey: 'k',
      token: 't',
    });
    expect(lines[0]).toMatchObject({
      authorization: '[REDACTED]',
      headers: { authorization: '[REDACTED]', cookie: '[REDACTED]' },
      connectionParams: '[REDACTED]',
      payload: '[REDACTED]',
      apiKey: '[REDACTED]',
      token: '[REDACTED]',
    });
  });

  it('removes configured secrets, API keys, JWTs and bearer values wherever they appear', () => {
    const { logger, raw } = capture();
    logger.warn({ detail: `upstream said ${SECRET} and "quoted \\"${SECRET}\\""` }, `header was Bearer abc.def and key ${API_KEY} and token ${JWT}`);
    const line = raw.join('');
    expect(line).not.toContain(SECRET);
    expect(line).not.toContain('AbCdEfGhIj');
    expect(line).not.toContain('c2lnbmF0dXJl');
    expect(line).not.toContain('abc.def');
    expect(line).toContain('haa_0123456789abcdef_[REDACTED]');
    expect(line).toContain('[REDACTED JWT]');
  });

  it('logs errors without stacks or attached fields', () => {
    const { logger, lines } = capture();
    const error = Object.assign(new Error("select `c0`.* from `conversations` as `c0` where `c0`.`id` = 'x' - SQLITE_ERROR: no such table: conversations"), {
      code: 'SQLITE_ERROR',
      sql: 'select * from conversations',
      params: ['secret row value'],
    });
    error.cause = Object.assign(new Error('caused by /home/app/data/db.sqlite'), { code: 'ENOENT' });
    logger.error({ err: error }, 'failed');
    expect(lines[0]?.err).toEqual({
      type: 'Error',
      message: '[SQL] - SQLITE_ERROR: no such table: conversations',
      code: 'SQLITE_ERROR',
      cause: { type: 'Error', code: 'ENOENT' },
    });
    expect(JSON.stringify(lines[0])).not.toContain('stack');
  });
});

describe('cleanErrorMessage', () => {
  it('replaces paths, SQL and row values and caps the length', () => {
    expect(cleanErrorMessage("ENOENT: no such file or directory, open '/var/lib/app/secret.json'")).toBe("ENOENT: no such file or directory, open '[path]'");
    expect(cleanErrorMessage('duplicate key value violates unique constraint "x" Key (owner_id, client_message_id)=(alice, abc) already exists.')).toBe(
      'duplicate key value violates unique constraint "x" Key [values] already exists.',
    );
    expect(cleanErrorMessage("insert into `messages` (`id`) values ('1') - SQLITE_CONSTRAINT: UNIQUE")).toBe('[SQL] - SQLITE_CONSTRAINT: UNIQUE');
    expect(cleanErrorMessage('x'.repeat(1000))).toHaveLength(301);
  });
});
