import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';

import { WebSocket, WebSocketServer, type RawData } from 'ws';

import { compressState, diffStates } from './compressed-states.js';
import { queryCompressedHistory } from './history.js';
import { newContext } from './ids.js';
import type { HomeAssistantInstance } from './instance.js';
import { isRecord } from './load-home.js';
import { SIMULATOR_USER_ID, TARGET_KEYS } from './service-caller.js';
import { ServiceCallError } from './service-errors.js';
import type { HassEvent, HassState } from './types.js';

export const WEBSOCKET_PATH = '/api/websocket';

type Message = Record<string, unknown> & { id: number; type: string };
type FieldCheck = (value: unknown) => boolean;

const isString: FieldCheck = (value) => typeof value === 'string';
const isObject: FieldCheck = (value) => isRecord(value);
const isBoolean: FieldCheck = (value) => typeof value === 'boolean';
const isPositiveInteger: FieldCheck = (value) => Number.isInteger(value) && (value as number) > 0;
const isStringList: FieldCheck = (value) => Array.isArray(value) && value.every((item) => typeof item === 'string');

/** Required and optional keys of each command besides `id` and `type`; other keys are `invalid_format`. */
const COMMAND_SCHEMAS: Record<string, { required?: Record<string, FieldCheck>; optional?: Record<string, FieldCheck> }> = {
  ping: {},
  supported_features: { required: { features: isObject } },
  'auth/current_user': {},
  get_states: {},
  get_config: {},
  get_services: {},
  'config/area_registry/list': {},
  'config/floor_registry/list': {},
  'config/device_registry/list': {},
  'config/entity_registry/list': {},
  'config/label_registry/list': {},
  subscribe_events: { optional: { event_type: isString } },
  unsubscribe_events: { required: { subscription: isPositiveInteger } },
  subscribe_entities: { optional: { entity_ids: isStringList } },
  call_service: {
    required: { domain: isString, service: isString },
    optional: { service_data: isObject, target: isObject, return_response: isBoolean },
  },
  fire_event: { required: { event_type: isString }, optional: { event_data: isObject } },
  'history/history_during_period': {
    required: { start_time: isString, entity_ids: isStringList },
    optional: {
      end_time: isString,
      include_start_time_state: isBoolean,
      significant_changes_only: isBoolean,
      minimal_response: isBoolean,
      no_attributes: isBoolean,
    },
  },
};

/**
 * Serves Home Assistant's WebSocket API on `/api/websocket` of an HTTP server. Returns a function that
 * closes every open connection with the given close code, which the fault modes use.
 */
export function attachWebSocketApi(
  server: Server,
  instance: HomeAssistantInstance,
): { closeAll: (code: number, reason: string) => void; shutdown: () => void } {
  const wss = new WebSocketServer({ noServer: true });
  const sessions = new Set<WebSocketSession>();

  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = new URL(request.url ?? '/', 'http://simulator.invalid').pathname;
    if (path !== WEBSOCKET_PATH) {
      rejectUpgrade(socket, 404, 'Not Found');
      return;
    }
    if (instance.faults.unavailable) {
      rejectUpgrade(socket, 503, 'Service Unavailable');
      return;
    }
    wss.handleUpgrade(request, socket, head, (ws) => {
      const session = new WebSocketSession(ws, instance);
      sessions.add(session);
      ws.on('close', () => sessions.delete(session));
    });
  });

  return {
    closeAll: (code, reason) => {
      for (const session of sessions) {
        session.close(code, reason);
      }
    },
    shutdown: () => {
      for (const session of sessions) {
        session.terminate();
      }
      wss.close();
    },
  };
}

function rejectUpgrade(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

/** One client connection: the auth phase, then commands with strictly increasing ids. */
class WebSocketSession {
  private authenticated = false;
  private lastId = 0;
  private readonly subscriptions = new Map<number, () => void>();

  constructor(
    private readonly socket: WebSocket,
    private readonly instance: HomeAssistantInstance,
  ) {
    socket.on('message', (data, isBinary) => this.onMessage(data, isBinary));
    socket.on('close', () => this.dispose());
    socket.on('error', () => this.dispose());
    this.send({ type: 'auth_required', ha_version: instance.haVersion });
  }

  close(code: number, reason: string): void {
    this.dispose();
    this.socket.close(code, reason);
  }

  terminate(): void {
    this.dispose();
    this.socket.terminate();
  }

  private dispose(): void {
    for (const unsubscribe of this.subscriptions.values()) {
      unsubscribe();
    }
    this.subscriptions.clear();
  }

  private send(payload: unknown): void {
    if (this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(payload));
    }
  }

  /** Sends a `result` frame after the configured latency; `then` runs once it is on the wire. */
  private sendResult(payload: Record<string, unknown>, then?: () => void): void {
    const latency = this.instance.faults.latencyMs;
    const deliver = () => {
      this.send(payload);
      then?.();
    };
    if (latency > 0) {
      setTimeout(deliver, latency);
    } else {
      deliver();
    }
  }

  private success(id: number, result: unknown = null, then?: () => void): void {
    this.sendResult({ id, type: 'result', success: true, result }, then);
  }

  private error(id: number, code: string, message: string): void {
    this.sendResult({ id, type: 'result', success: false, error: { code, message } });
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(isBinary ? '' : data.toString());
    } catch {
      // Home Assistant disconnects a client that sends something other than JSON.
      this.close(1003, 'Received invalid JSON.');
      return;
    }

    if (!this.authenticated) {
      this.handleAuth(parsed);
      return;
    }
    this.handleCommand(parsed);
  }

  private handleAuth(parsed: unknown): void {
    const tokenCount = isRecord(parsed) ? Number(typeof parsed.access_token === 'string') + Number(typeof parsed.api_password === 'string') : 0;
    if (!isRecord(parsed) || parsed.type !== 'auth' || tokenCount !== 1) {
      const reason = !isRecord(parsed)
        ? 'expected a JSON object'
        : parsed.type !== 'auth'
          ? `expected type "auth", got ${JSON.stringify(parsed.type)}`
          : 'expected exactly one of access_token or api_password';
      this.rejectAuth(`Auth message incorrectly formatted: ${reason}`);
      return;
    }
    if (this.instance.faults.rejectAuth || parsed.access_token !== this.instance.token) {
      this.rejectAuth('Invalid access token or password');
      return;
    }
    this.authenticated = true;
    this.send({ type: 'auth_ok', ha_version: this.instance.haVersion });
  }

  private rejectAuth(message: string): void {
    this.send({ type: 'auth_invalid', message });
    this.socket.close();
  }

  private handleCommand(parsed: unknown): void {
    if (!isRecord(parsed) || !Number.isInteger(parsed.id) || typeof parsed.type !== 'string') {
      const id = isRecord(parsed) && Number.isInteger(parsed.id) ? (parsed.id as number) : 0;
      this.error(id, 'invalid_format', 'Message incorrectly formatted: expected an integer "id" and a string "type".');
      return;
    }
    const message = parsed as Message;
    if (message.id <= this.lastId) {
      this.error(message.id, 'id_reuse', 'Identifier values have to increase.');
      return;
    }
    this.lastId = message.id;

    const schema = COMMAND_SCHEMAS[message.type];
    if (!schema) {
      this.error(message.id, 'unknown_command', `Unknown command: ${message.type}.`);
      return;
    }
    const problem = checkSchema(message, schema);
    if (problem) {
      this.error(message.id, 'invalid_format', `Message incorrectly formatted: ${problem}`);
      return;
    }
    this.dispatch(message);
  }

  private dispatch(message: Message): void {
    const { id } = message;
    switch (message.type) {
      case 'ping':
        this.sendResult({ id, type: 'pong' });
        return;
      case 'supported_features':
        this.success(id);
        return;
      case 'auth/current_user':
        this.success(id, {
          id: SIMULATOR_USER_ID,
          name: 'Simulator Owner',
          is_owner: true,
          is_admin: true,
          credentials: [],
          mfa_modules: [],
        });
        return;
      case 'get_states':
        this.success(id, this.instance.states.all());
        return;
      case 'get_config':
        this.success(id, this.instance.config);
        return;
      case 'get_services':
        this.success(id, this.instance.servicesByDomain());
        return;
      case 'config/area_registry/list':
        this.success(id, this.instance.areaList());
        return;
      case 'config/floor_registry/list':
        this.success(id, this.instance.floorList());
        return;
      case 'config/device_registry/list':
        this.success(id, this.instance.deviceList());
        return;
      case 'config/entity_registry/list':
        this.success(id, this.instance.entityList());
        return;
      case 'config/label_registry/list':
        this.success(id, this.instance.labelList());
        return;
      case 'subscribe_events':
        this.subscribeEvents(id, message.event_type as string | undefined);
        return;
      case 'unsubscribe_events':
        this.unsubscribe(id, message.subscription as number);
        return;
      case 'subscribe_entities':
        this.subscribeEntities(id, message.entity_ids as string[] | undefined);
        return;
      case 'call_service':
        this.callService(message);
        return;
      case 'history/history_during_period':
        this.history(message);
        return;
      case 'fire_event': {
        const context = newContext(SIMULATOR_USER_ID);
        this.instance.bus.fire(message.event_type as string, (message.event_data as Record<string, unknown>) ?? {}, context);
        this.success(id, { context });
        return;
      }
    }
  }

  /** Replies from the recorded states, with Home Assistant's defaults: start state included, significant changes only. */
  private history(message: Message): void {
    const start = Date.parse(message.start_time as string);
    const end = message.end_time === undefined ? Date.now() : Date.parse(message.end_time as string);
    if (Number.isNaN(start)) {
      this.error(message.id, 'invalid_start_time', 'Invalid start_time');
      return;
    }
    if (Number.isNaN(end)) {
      this.error(message.id, 'invalid_end_time', 'Invalid end_time');
      return;
    }
    const result = queryCompressedHistory(this.instance.states, {
      entityIds: message.entity_ids as string[],
      start,
      end,
      minimalResponse: message.minimal_response === true,
      noAttributes: message.no_attributes === true,
      significantChangesOnly: message.significant_changes_only !== false,
      includeStartState: message.include_start_time_state !== false,
    });
    this.success(message.id, result);
  }

  private subscribeEvents(id: number, eventType: string | undefined): void {
    this.success(id, null, () => {
      const unsubscribe = this.instance.bus.listen((event: HassEvent) => {
        if (eventType === undefined || eventType === '*' || event.event_type === eventType) {
          this.send({ id, type: 'event', event });
        }
      });
      this.subscriptions.set(id, unsubscribe);
    });
  }

  private unsubscribe(id: number, subscription: number): void {
    const unsubscribe = this.subscriptions.get(subscription);
    if (!unsubscribe) {
      this.error(id, 'not_found', 'Subscription not found.');
      return;
    }
    unsubscribe();
    this.subscriptions.delete(subscription);
    this.success(id);
  }

  /**
   * Sends every (or every listed) entity in compact form, then compact additions, diffs and removals as
   * states change. This is the path home-assistant-js-websocket takes for Home Assistant 2022.4 and later.
   */
  private subscribeEntities(id: number, entityIds: string[] | undefined): void {
    const wanted = entityIds ? new Set(entityIds) : undefined;
    this.success(id, null, () => {
      const initial: Record<string, unknown> = {};
      for (const state of this.instance.states.all()) {
        if (!wanted || wanted.has(state.entity_id)) {
          initial[state.entity_id] = compressState(state);
        }
      }
      this.send({ id, type: 'event', event: { a: initial } });

      const unsubscribe = this.instance.bus.listen((event) => {
        if (event.event_type !== 'state_changed') {
          return;
        }
        const entityId = event.data.entity_id as string;
        if (wanted && !wanted.has(entityId)) {
          return;
        }
        const oldState = event.data.old_state as HassState | null;
        const newState = event.data.new_state as HassState | null;
        if (!newState) {
          this.send({ id, type: 'event', event: { r: [entityId] } });
        } else if (!oldState) {
          this.send({ id, type: 'event', event: { a: { [entityId]: compressState(newState) } } });
        } else {
          this.send({ id, type: 'event', event: { c: { [entityId]: diffStates(oldState, newState) } } });
        }
      });
      this.subscriptions.set(id, unsubscribe);
    });
  }

  private callService(message: Message): void {
    const serviceData = (message.service_data as Record<string, unknown> | undefined) ?? {};
    const data: Record<string, unknown> = {};
    const target: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(serviceData)) {
      if ((TARGET_KEYS as readonly string[]).includes(key)) {
        target[key] = value;
      } else {
        data[key] = value;
      }
    }
    Object.assign(target, (message.target as Record<string, unknown> | undefined) ?? {});

    let sendOutcome: () => void;
    try {
      const outcome = this.instance.caller.call({
        domain: message.domain as string,
        service: message.service as string,
        data,
        target,
        returnResponse: message.return_response === true,
        transport: 'websocket',
      });
      sendOutcome = () => this.success(message.id, { context: outcome.context, response: outcome.response });
    } catch (error) {
      const code = error instanceof ServiceCallError ? error.code : 'unknown_error';
      const text = error instanceof ServiceCallError ? error.message : `Simulator error: ${(error as Error).message}`;
      sendOutcome = () => this.error(message.id, code, text);
    }
    const latency = this.instance.faults.serviceCallLatencyMs;
    if (latency > 0) {
      setTimeout(sendOutcome, latency);
    } else {
      sendOutcome();
    }
  }
}

function checkSchema(message: Message, schema: { required?: Record<string, FieldCheck>; optional?: Record<string, FieldCheck> }): string | undefined {
  const required = schema.required ?? {};
  const optional = schema.optional ?? {};
  for (const [key, check] of Object.entries(required)) {
    if (message[key] === undefined) {
      return `required key not provided: '${key}'.`;
    }
    if (!check(message[key])) {
      return `invalid value for '${key}': ${JSON.stringify(message[key])}.`;
    }
  }
  for (const [key, value] of Object.entries(message)) {
    if (key === 'id' || key === 'type' || key in required) {
      continue;
    }
    const check = optional[key];
    if (!check) {
      return `extra keys not allowed: '${key}'.`;
    }
    if (!check(value)) {
      return `invalid value for '${key}': ${JSON.stringify(value)}.`;
    }
  }
  return undefined;
}
