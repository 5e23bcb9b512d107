import type { IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';

import { AutomationConfigError } from './automations.js';
import { HistoryQueryError, parseHistoryQuery, queryHistory } from './history.js';
import { newContext } from './ids.js';
import type { HomeAssistantInstance } from './instance.js';
import { isRecord } from './load-home.js';
import { SIMULATOR_USER_ID, TARGET_KEYS } from './service-caller.js';
import { ServiceCallError } from './service-errors.js';

/** Largest request body accepted, in bytes; Home Assistant's own limit is far larger, but tests need no more. */
const MAX_BODY_BYTES = 1_048_576;

interface RestReply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

const json = (status: number, body: unknown, headers?: Record<string, string>): RestReply => ({ status, body, headers });
const message = (status: number, text: string): RestReply => json(status, { message: text });

/**
 * Handles one REST request. Bodies and status codes follow Home Assistant's REST API, with one deliberate
 * difference. Where Home Assistant's web framework returns 400 or 401 with a plain-text body such as
 * `401: Unauthorized`, the simulator sends `{"message": ...}` so tests can see the reason. Clients should
 * therefore branch on the status code, not on the body.
 */
export async function handleRestRequest(instance: HomeAssistantInstance, request: IncomingMessage, response: ServerResponse): Promise<void> {
  let reply: RestReply;
  try {
    reply = await route(instance, request);
  } catch (error) {
    reply = error instanceof PayloadTooLargeError ? message(413, error.message) : message(500, `Simulator error: ${(error as Error).message}`);
  }

  if (instance.faults.latencyMs > 0) {
    await delay(instance.faults.latencyMs);
  }
  if (response.destroyed) {
    return;
  }
  response.writeHead(reply.status, { 'Content-Type': 'application/json', ...reply.headers });
  response.end(JSON.stringify(reply.body));
}

async function route(instance: HomeAssistantInstance, request: IncomingMessage): Promise<RestReply> {
  const url = new URL(request.url ?? '/', 'http://simulator.invalid');
  const method = request.method ?? 'GET';
  const path = url.pathname;

  if (!path.startsWith('/api/') && path !== '/api') {
    return message(404, 'Not found.');
  }
  if (instance.faults.unavailable) {
    return message(503, 'Home Assistant simulator is unavailable (the unavailable fault is set).');
  }
  if (!isAuthorized(instance, request)) {
    return message(401, 'Unauthorized');
  }

  let segments: string[];
  try {
    segments = path.split('/').slice(2).map(decodeURIComponent);
  } catch {
    return message(404, 'Not found.');
  }
  const [resource, ...rest] = segments;

  if ((resource === '' || resource === undefined) && rest.length === 0) {
    return method === 'GET' ? message(200, 'API running.') : methodNotAllowed();
  }
  switch (resource) {
    case 'config':
      if (rest.length === 0) {
        return method === 'GET' ? json(200, instance.config) : methodNotAllowed();
      }
      if (rest[0] === 'automation' && rest[1] === 'config' && rest.length === 3) {
        return automationConfig(instance, method, rest[2]!, request);
      }
      break;
    case 'states':
      return states(instance, method, rest, request);
    case 'services':
      return services(instance, method, rest, request, url);
    case 'history':
      if (rest[0] === 'period' && rest.length <= 2) {
        return method === 'GET' ? history(instance, rest[1], url) : methodNotAllowed();
      }
      break;
    case 'events':
      if (rest.length === 1 && method === 'POST') {
        return fireEvent(instance, rest[0]!, request);
      }
      break;
  }
  return message(404, 'Not found.');
}

function isAuthorized(instance: HomeAssistantInstance, request: IncomingMessage): boolean {
  if (instance.faults.rejectAuth) {
    return false;
  }
  const header = request.headers.authorization ?? '';
  const match = /^Bearer (.+)$/i.exec(header);
  return match?.[1] === instance.token;
}

function methodNotAllowed(): RestReply {
  return message(405, 'Method not allowed.');
}

async function states(instance: HomeAssistantInstance, method: string, rest: string[], request: IncomingMessage): Promise<RestReply> {
  if (rest.length === 0) {
    return method === 'GET' ? json(200, instance.states.all()) : methodNotAllowed();
  }
  if (rest.length !== 1) {
    return message(404, 'Not found.');
  }

  const entityId = rest[0]!;
  if (method === 'GET') {
    const state = instance.states.get(entityId);
    return state ? json(200, state) : message(404, 'Entity not found.');
  }
  if (method === 'DELETE') {
    return instance.states.remove(entityId) ? message(200, 'Entity removed.') : message(404, 'Entity not found.');
  }
  if (method === 'POST') {
    const body = await readJsonBody(request);
    if (!body.ok) {
      return message(400, 'Invalid JSON specified.');
    }
    if (!isRecord(body.value) || body.value.state === undefined || body.value.state === null) {
      return message(400, 'No state specified.');
    }
    const isNew = !instance.states.has(entityId);
    const attributes = isRecord(body.value.attributes) ? body.value.attributes : {};
    const written = instance.states.set(entityId, String(body.value.state), attributes, newContext(SIMULATOR_USER_ID));
    return json(isNew ? 201 : 200, written.state, { Location: `/api/states/${entityId}` });
  }
  return methodNotAllowed();
}

async function services(instance: HomeAssistantInstance, method: string, rest: string[], request: IncomingMessage, url: URL): Promise<RestReply> {
  if (rest.length === 0) {
    return method === 'GET' ? json(200, instance.services) : methodNotAllowed();
  }
  if (rest.length !== 2) {
    return message(404, 'Not found.');
  }
  if (method !== 'POST') {
    return methodNotAllowed();
  }

  const body = await readJsonBody(request);
  if (!body.ok) {
    return message(400, 'Data should be valid JSON.');
  }
  if (body.value !== null && !isRecord(body.value)) {
    return message(400, 'Data should be a JSON object.');
  }

  const [domain, service] = rest as [string, string];
  const returnResponse = url.searchParams.has('return_response');
  const { data, target } = splitTarget(body.value ?? {});
  const reply = callService(instance, { domain, service, data, target, returnResponse });
  if (instance.faults.serviceCallLatencyMs > 0) {
    await delay(instance.faults.serviceCallLatencyMs);
  }
  return reply;
}

function callService(
  instance: HomeAssistantInstance,
  request: { domain: string; service: string; data: Record<string, unknown>; target: Record<string, unknown>; returnResponse: boolean },
): RestReply {
  const { domain, service, data, target, returnResponse } = request;
  try {
    const outcome = instance.caller.call({ domain, service, data, target, returnResponse, transport: 'rest' });
    if (returnResponse) {
      return json(200, { changed_states: outcome.changed, service_response: outcome.response });
    }
    return json(200, outcome.changed);
  } catch (error) {
    if (!(error instanceof ServiceCallError)) {
      throw error;
    }
    if (error.code === 'home_assistant_error') {
      return message(500, error.message);
    }
    return message(400, error.message);
  }
}

function splitTarget(body: Record<string, unknown>): { data: Record<string, unknown>; target: Record<string, unknown> } {
  const data: Record<string, unknown> = {};
  const target: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(body)) {
    if ((TARGET_KEYS as readonly string[]).includes(key)) {
      target[key] = value;
    } else {
      data[key] = value;
    }
  }
  return { data, target };
}

function history(instance: HomeAssistantInstance, startSegment: string | undefined, url: URL): RestReply {
  try {
    const query = parseHistoryQuery(startSegment, url.searchParams);
    return json(200, queryHistory(instance.states, query));
  } catch (error) {
    if (error instanceof HistoryQueryError) {
      return message(400, error.message);
    }
    throw error;
  }
}

async function automationConfig(instance: HomeAssistantInstance, method: string, id: string, request: IncomingMessage): Promise<RestReply> {
  if (method === 'GET') {
    const config = instance.automations.get(id);
    return config ? json(200, config) : message(404, 'Resource not found');
  }
  if (method === 'DELETE') {
    return instance.automations.delete(id) ? json(200, { result: 'ok' }) : message(404, 'Resource not found');
  }
  if (method === 'POST') {
    const body = await readJsonBody(request);
    if (!body.ok) {
      return message(400, 'Invalid JSON specified.');
    }
    try {
      instance.automations.save(id, body.value);
      return json(200, { result: 'ok' });
    } catch (error) {
      if (error instanceof AutomationConfigError) {
        return message(400, error.message);
      }
      throw error;
    }
  }
  return methodNotAllowed();
}

async function fireEvent(instance: HomeAssistantInstance, eventType: string, request: IncomingMessage): Promise<RestReply> {
  const body = await readJsonBody(request);
  if (!body.ok) {
    return message(400, 'Event data should be valid JSON.');
  }
  if (body.value !== null && !isRecord(body.value)) {
    return message(400, 'Event data should be a JSON object');
  }
  instance.bus.fire(eventType, body.value ?? {}, newContext(SIMULATOR_USER_ID));
  return message(200, `Event ${eventType} fired.`);
}

type BodyResult = { ok: true; value: unknown } | { ok: false };

class PayloadTooLargeError extends Error {}

/**
 * Reads a JSON body; an empty body reads as null, which Home Assistant treats as no data. A body over the
 * limit is read to the end and dropped, so the keep-alive connection stays usable, then rejected with 413.
 */
async function readJsonBody(request: IncomingMessage): Promise<BodyResult> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size <= MAX_BODY_BYTES) {
      chunks.push(chunk as Buffer);
    }
  }
  if (size > MAX_BODY_BYTES) {
    throw new PayloadTooLargeError(`Request body of ${size} bytes is larger than the ${MAX_BODY_BYTES}-byte limit.`);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') {
    return { ok: true, value: null };
  }
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}
