import {
  createConnection,
  ERR_CANNOT_CONNECT,
  ERR_CONNECTION_LOST,
  ERR_INVALID_AUTH,
  type Connection,
  type HaWebSocket,
  type MessageBase,
} from 'home-assistant-js-websocket';
import WebSocket from 'ws';
import type { Logger } from '../observability/logger.js';
import { AppError } from '../security/errors.js';
import type { HassEvent } from './types.js';
import type { HomeAssistantCallObserver, HomeAssistantCallOutcome } from './rest-client.js';

export interface HomeAssistantConnectionSettings {
  /** Base URL such as http://homeassistant.local:8123; the WebSocket API lives at /api/websocket below it. */
  url: string;
  token: string;
  /** Time allowed for the handshake and for each command's result, in milliseconds. */
  requestTimeoutMs: number;
  /** First delay before connecting again after a failed connection, in milliseconds. @default 1000 */
  reconnectInitialMs?: number;
  /** Maximum delay between connection attempts, in milliseconds. @default 30000 */
  reconnectMaxMs?: number;
  /** Interval of the `ping` heartbeat that detects a silently dead connection, in milliseconds. @default 30000 */
  pingIntervalMs?: number;
  /** Receives every command with its type as the operation name, its outcome and its duration. */
  observe?: HomeAssistantCallObserver;
}

/**
 * An error result (`success: false`) from Home Assistant. The message is ours and names only the command
 * and Home Assistant's error code (such as `not_found` or `invalid_format`), never its text.
 */
export class HomeAssistantCommandError extends Error {
  constructor(
    readonly command: string,
    readonly code: string,
  ) {
    super(`Home Assistant rejected ${command} (${code}).`);
    this.name = 'HomeAssistantCommandError';
  }
}

export type ConnectionState = 'connecting' | 'connected' | 'disconnected' | 'closed';

export interface ConnectionStatus {
  state: ConnectionState;
  /** When the state last changed. */
  since: Date;
  haVersion: string | undefined;
  /** Reason the last connection attempt or connection failed, in our words. */
  problem: string | undefined;
}

interface EventSubscription {
  eventType: string;
  callback: (event: HassEvent) => void;
}

/** Extracts the error code home-assistant-js-websocket rejects with, a number alone or inside a result frame. */
function libraryErrorCode(error: unknown): number | undefined {
  if (typeof error === 'number') return error;
  if (typeof error === 'object' && error !== null) {
    const nested = (error as { error?: { code?: unknown } }).error?.code;
    if (typeof nested === 'number') return nested;
    const direct = (error as { code?: unknown }).code;
    if (typeof direct === 'number') return direct;
  }
  return undefined;
}

function websocketUrl(baseUrl: string): string {
  return `${baseUrl.replace(/^http/i, 'ws')}/api/websocket`;
}

/**
 * Opens a socket with the `ws` package and runs Home Assistant's auth phase. Node 20 has no global
 * WebSocket, which the library's own socket factory needs, so this replaces it through the library's
 * `createSocket` option. Rejects with the library's ERR_INVALID_AUTH or ERR_CANNOT_CONNECT codes.
 */
/** Names why a socket failed without its text, which may quote the server: an errno code or an HTTP status. */
function describeSocketError(error: Error & { code?: string }): string {
  const status = /Unexpected server response: (\d{3})/.exec(error.message)?.[1];
  if (status) return `HTTP ${status} from the WebSocket endpoint`;
  return error.code ?? error.name;
}

/** Returns the WebSocket URL for logs, without any user name or password written into it. */
function loggedUrl(baseUrl: string): string {
  const url = new URL(websocketUrl(baseUrl));
  url.username = '';
  url.password = '';
  return url.toString();
}

function socketFactory(settings: HomeAssistantConnectionSettings, onError: (cause: string) => void): () => Promise<HaWebSocket> {
  return () =>
    new Promise<HaWebSocket>((resolve, reject) => {
      const socket = new WebSocket(websocketUrl(settings.url), { handshakeTimeout: settings.requestTimeoutMs });
      // ws raises an 'error' event as an exception when no listener is attached, and a reset must only close the socket.
      socket.on('error', (error) => onError(describeSocketError(error)));
      let settled = false;
      let invalidAuth = false;

      const fail = (code: number) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.removeAllListeners('message');
        socket.removeAllListeners('close');
        socket.terminate();
        reject(code);
      };
      const timer = setTimeout(() => fail(ERR_CANNOT_CONNECT), settings.requestTimeoutMs);

      socket.on('close', () => fail(invalidAuth ? ERR_INVALID_AUTH : ERR_CANNOT_CONNECT));
      socket.on('message', (data, isBinary) => {
        let message: { type?: string; ha_version?: string };
        try {
          message = JSON.parse(isBinary ? '' : data.toString()) as typeof message;
        } catch {
          fail(ERR_CANNOT_CONNECT);
          return;
        }
        if (message.type === 'auth_required') {
          socket.send(JSON.stringify({ type: 'auth', access_token: settings.token }));
        } else if (message.type === 'auth_invalid') {
          invalidAuth = true;
          fail(ERR_INVALID_AUTH);
        } else if (message.type === 'auth_ok') {
          settled = true;
          clearTimeout(timer);
          socket.removeAllListeners('message');
          socket.removeAllListeners('close');
          const haSocket = socket as unknown as HaWebSocket;
          haSocket.haVersion = message.ha_version ?? '';
          // The library numbers its commands from 2 because id 1 is reserved for this message.
          socket.send(JSON.stringify({ type: 'supported_features', id: 1, features: { coalesce_messages: 1 } }));
          resolve(haSocket);
        }
      });
    });
}

/**
 * A WebSocket connection to Home Assistant built on home-assistant-js-websocket, which numbers commands,
 * matches results to them and tracks subscriptions. This class adds a timeout on every command, a `ping`
 * heartbeat, subscriptions renewed on every new connection, and catalogued errors. It also connects
 * again with exponential backoff and jitter after any failure or drop, because the library retries only
 * drops, on a fixed schedule. While disconnected, every command fails at once with
 * HOME_ASSISTANT_UNAVAILABLE.
 */
export class HomeAssistantConnection {
  private connection: Connection | undefined;
  private status: ConnectionStatus = { state: 'connecting', since: new Date(), haVersion: undefined, problem: undefined };
  private readonly subscriptions: EventSubscription[] = [];
  private readonly statusListeners = new Set<(status: ConnectionStatus) => void>();
  private reconnectTimer: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private failedAttempts = 0;
  private closed = false;

  constructor(
    private readonly settings: HomeAssistantConnectionSettings,
    private readonly logger: Logger,
  ) {}

  /** Starts connecting in the background. Failures are logged and retried; this never throws. */
  start(): void {
    void this.connect();
  }

  get current(): ConnectionStatus {
    return this.status;
  }

  get connected(): boolean {
    return this.status.state === 'connected' && this.connection?.connected === true;
  }

  /** Calls the listener on every change of the connection state. Returns a function that removes it. */
  onStatus(listener: (status: ConnectionStatus) => void): () => void {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  }

  /**
   * Subscribes to one event type on every connection from now on. Register before `start` so the first
   * connection subscribes before anything else is read.
   */
  subscribeEvents(eventType: string, callback: (event: HassEvent) => void): void {
    const subscription = { eventType, callback };
    this.subscriptions.push(subscription);
    if (this.connection) void this.subscribeOn(this.connection, subscription);
  }

  /**
   * Sends one command and returns its result. Raises HOME_ASSISTANT_UNAVAILABLE when disconnected, when
   * the connection drops before the result or when the result takes longer than the request timeout, and
   * HomeAssistantCommandError when Home Assistant returns an error result. An abort rejects with the
   * signal's reason. When the signal is already aborted, nothing is sent. An abort after sending only
   * stops the wait, and Home Assistant may still run the command.
   */
  command<Result>(message: MessageBase, options: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<Result> {
    const connection = this.connection;
    if (!connection || !this.connected) {
      this.settings.observe?.(message.type, 'unavailable', 0);
      return Promise.reject(this.unavailableError());
    }
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const timeoutMs = options.timeoutMs ?? this.settings.requestTimeoutMs;

    const startedAt = performance.now();
    const observe = (outcome: HomeAssistantCallOutcome) => this.settings.observe?.(message.type, outcome, (performance.now() - startedAt) / 1000);
    return new Promise<Result>((resolve, reject) => {
      const onAbort = () => finish('aborted', () => reject(signal?.reason));
      const timer = setTimeout(
        () =>
          finish('timeout', () =>
            reject(AppError.homeAssistantUnavailable(`Home Assistant did not respond to ${message.type} within ${formatSeconds(timeoutMs)}.`)),
          ),
        timeoutMs,
      );
      let done = false;
      const finish = (outcome: HomeAssistantCallOutcome, settle: () => void) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        observe(outcome);
        settle();
      };
      signal?.addEventListener('abort', onAbort, { once: true });

      connection.sendMessagePromise<Result>(message).then(
        (result) => finish('ok', () => resolve(result)),
        (error: unknown) => {
          const failure = this.toError(message.type, error);
          finish(failure instanceof HomeAssistantCommandError ? 'rejected' : 'unavailable', () => reject(failure));
        },
      );
    });
  }

  /** Closes the connection and stops reconnecting. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    clearInterval(this.pingTimer);
    this.connection?.close();
    this.connection = undefined;
    this.setStatus({ state: 'closed', problem: undefined });
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    let connection: Connection;
    let cause: string | undefined;
    try {
      connection = await createConnection({
        createSocket: socketFactory(this.settings, (described) => {
          cause = described;
        }),
        setupRetry: 0,
      });
    } catch (error) {
      const invalidAuth = libraryErrorCode(error) === ERR_INVALID_AUTH;
      if (invalidAuth) this.scheduleReconnect('Home Assistant rejected the access token. Check HA_TOKEN.');
      else this.scheduleReconnect('Home Assistant could not be reached.', cause ?? 'timed out');
      return;
    }
    if (this.closed) {
      connection.close();
      return;
    }

    this.connection = connection;
    this.failedAttempts = 0;
    // Closing the dropped connection inside this listener stops the library's own reconnect loop, which
    // has a fixed schedule. scheduleReconnect then opens a new one with our backoff.
    connection.addEventListener('disconnected', () => {
      connection.close();
      if (this.connection === connection) this.connection = undefined;
      clearInterval(this.pingTimer);
      this.logger.warn({ event: 'home_assistant.disconnected' }, 'Lost the WebSocket connection to Home Assistant; reconnecting');
      this.scheduleReconnect('The connection to Home Assistant was lost.');
    });
    await Promise.all(this.subscriptions.map((subscription) => this.subscribeOn(connection, subscription)));
    this.onConnected(connection);
  }

  private onConnected(connection: Connection): void {
    if (this.closed || this.connection !== connection) return;
    this.setStatus({ state: 'connected', haVersion: connection.haVersion, problem: undefined });
    this.logger.info({ event: 'home_assistant.connected', haVersion: connection.haVersion }, 'Connected to the Home Assistant WebSocket API');
    this.startHeartbeat(connection);
  }

  private async subscribeOn(connection: Connection, subscription: EventSubscription): Promise<void> {
    try {
      await connection.subscribeEvents<HassEvent>(subscription.callback, subscription.eventType);
    } catch (error) {
      // A dropped connection is handled by the reconnect; this logs a subscription Home Assistant refused.
      this.logger.warn(
        { event: 'home_assistant.subscribe_failed', eventType: subscription.eventType, code: errorCode(error) },
        'Subscribing to a Home Assistant event failed',
      );
    }
  }

  private startHeartbeat(connection: Connection): void {
    clearInterval(this.pingTimer);
    const interval = this.settings.pingIntervalMs ?? 30_000;
    this.pingTimer = setInterval(() => {
      if (!this.connected || this.connection !== connection) return;
      this.command({ type: 'ping' }).catch(() => {
        if (this.connection !== connection || this.closed) return;
        this.logger.warn({ event: 'home_assistant.ping_failed' }, 'Home Assistant did not respond to a ping; reconnecting');
        connection.reconnect(true);
      });
    }, interval);
    this.pingTimer.unref();
  }

  /** Reports the problem and connects again later. `cause` goes to the log only, with the URL tried. */
  private scheduleReconnect(problem: string, cause?: string): void {
    if (this.closed) return;
    this.failedAttempts += 1;
    const initial = this.settings.reconnectInitialMs ?? 1_000;
    const max = this.settings.reconnectMaxMs ?? 30_000;
    const base = Math.min(max, initial * 2 ** Math.min(this.failedAttempts - 1, 16));
    const delay = Math.round(base / 2 + Math.random() * (base / 2));
    this.setStatus({ state: 'disconnected', problem });
    // The problem reaches users through tool results, so the hint for the operator is in the log only.
    this.logger.warn(
      { event: 'home_assistant.reconnect_scheduled', attempt: this.failedAttempts, retryInMs: delay, problem, url: loggedUrl(this.settings.url), cause },
      cause
        ? 'Home Assistant is not connected; check HA_URL and that Home Assistant is running. Connecting again later'
        : 'Home Assistant is not connected; connecting again later',
    );
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => void this.connect(), delay);
    this.reconnectTimer.unref();
  }

  private setStatus(change: Partial<ConnectionStatus>): void {
    const next: ConnectionStatus = { ...this.status, ...change };
    const changed = next.state !== this.status.state;
    this.status = changed ? { ...next, since: new Date() } : next;
    if (!changed) return;
    for (const listener of this.statusListeners) listener(this.status);
  }

  private unavailableError(): AppError {
    if (this.status.state === 'closed') return AppError.homeAssistantUnavailable('The connection to Home Assistant is closed.');
    const seconds = Math.max(0, Math.round((Date.now() - this.status.since.getTime()) / 1000));
    const reason = this.status.problem ?? 'Home Assistant is not connected yet.';
    return AppError.homeAssistantUnavailable(`${reason} Not connected for ${seconds} s.`);
  }

  private toError(command: string, error: unknown): Error {
    if (error instanceof Error) return error;
    const code = errorCode(error);
    if (typeof code === 'string') return new HomeAssistantCommandError(command, code);
    if (code === ERR_CONNECTION_LOST) return AppError.homeAssistantUnavailable(`The connection to Home Assistant was lost before ${command} finished.`);
    return AppError.homeAssistantUnavailable(`Home Assistant could not run ${command}.`);
  }
}

/** Extracts the code of a result error (`{code, message}`) or of a library error (a number). */
function errorCode(error: unknown): string | number | undefined {
  if (typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'string') return (error as { code: string }).code;
  return libraryErrorCode(error);
}

function formatSeconds(milliseconds: number): string {
  return milliseconds % 1000 === 0 ? `${milliseconds / 1000} s` : `${(milliseconds / 1000).toFixed(1)} s`;
}
