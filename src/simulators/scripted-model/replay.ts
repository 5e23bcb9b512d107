import { readFileSync } from 'node:fs';
import path from 'node:path';

import { parse as parseYaml } from 'yaml';

/** A recorded HTTP response to send back unchanged. */
export interface RecordedResponse {
  status: number;
  contentType: string;
  body: Buffer;
}

const SSE_CONTENT_TYPE = 'text/event-stream; charset=utf-8';

/** Reads an SSE body file as bytes; relative paths resolve against the current directory. */
export function readRecording(file: string): RecordedResponse {
  return { status: 200, contentType: SSE_CONTENT_TYPE, body: readFileSync(path.resolve(file)) };
}

/**
 * Reads interaction `interaction` (0-based) of a VCR cassette, the YAML format of Python's vcrpy:
 * `interactions[n].response` contains `status.code`, `headers` (lists of values) and `body.string`.
 * Throws an Error that names the file when the interaction is missing.
 */
export function readCassette(file: string, interaction: number): RecordedResponse {
  const resolved = path.resolve(file);
  const cassette = parseYaml(readFileSync(resolved, 'utf8')) as {
    interactions?: { response?: { status?: { code?: number }; headers?: Record<string, unknown>; body?: { string?: unknown } } }[];
  };
  const response = cassette.interactions?.[interaction]?.response;
  if (!response || typeof response.body?.string !== 'string') {
    const count = cassette.interactions?.length ?? 0;
    throw new Error(`Cassette ${resolved} has no response body for interaction ${interaction} (it has ${count}).`);
  }

  const headerValue = response.headers?.['content-type'] ?? response.headers?.['Content-Type'];
  let contentType = SSE_CONTENT_TYPE;
  if (Array.isArray(headerValue)) {
    contentType = String(headerValue[0]);
  } else if (typeof headerValue === 'string') {
    contentType = headerValue;
  }
  return {
    status: response.status?.code ?? 200,
    contentType,
    body: Buffer.from(response.body.string, 'utf8'),
  };
}

/** Splits an SSE body after each blank line so it can be written event by event; the bytes are unchanged. */
export function splitSseEvents(body: Buffer): Buffer[] {
  const pieces: Buffer[] = [];
  let start = 0;
  for (;;) {
    const end = body.indexOf('\n\n', start);
    if (end === -1) {
      break;
    }
    pieces.push(body.subarray(start, end + 2));
    start = end + 2;
  }
  if (start < body.length) {
    pieces.push(body.subarray(start));
  }
  return pieces;
}
