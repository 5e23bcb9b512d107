import { AppError } from '../security/errors.js';
import type { HassConfig, HassServiceDomain, HassState } from './types.js';

export interface HomeAssistantRestSettings {
  url: string;
  token: string;
  /** Time allowed for each request, in milliseconds. */
  timeoutMs: number;
  /** Called after every request with a fixed operation name, its outcome and its duration in seconds. */
  observe?: HomeAssistantCallObserver;
}

/** Receives every Home Assistant call: a fixed operation name, its outcome and its duration in seconds. */
export type HomeAssistantCallObserver = (operation: string, outcome: HomeAssistantCallOutcome, seconds: number) => void;
export type HomeAssistantCallOutcome = 'ok' | 'rejected' | 'unavailable' | 'timeout' | 'aborted';

function automationPath(id: string): string {
  return `/api/config/automation/config/${encodeURIComponent(id)}`;
}

/**
 * Raised for a request Home Assistant received and refused (4xx other than 401 and 404), such as a
 * service called with invalid data. Its message is ours; Home Assistant's own text stays out of it.
 */
export class HomeAssistantRequestError extends Error {
  constructor(readonly status: number) {
    super(`Home Assistant rejected the request (HTTP ${status}).`);
    this.name = 'HomeAssistantRequestError';
  }
}

/**
 * Client for Home Assistant's REST API. Network failures, timeouts, 5xx and a rejected token all become
 * HOME_ASSISTANT_UNAVAILABLE, with messages that never include Home Assistant's response text.
 */
export class HomeAssistantRestClient {
  constructor(private readonly settings: HomeAssistantRestSettings) {}

  /** Checks that Home Assistant responds and accepts the token; throws HOME_ASSISTANT_UNAVAILABLE otherwise. */
  async ping(signal?: AbortSignal): Promise<void> {
    await this.request<unknown>('ping', 'GET', '/api/', undefined, signal);
  }

  getStates(signal?: AbortSignal): Promise<HassState[]> {
    return this.request<HassState[]>('get_states', 'GET', '/api/states', undefined, signal);
  }

  /** Returns the entity's state, or undefined when Home Assistant does not know the entity. */
  async getState(entityId: string, signal?: AbortSignal): Promise<HassState | undefined> {
    return this.request<HassState>('get_state', 'GET', `/api/states/${encodeURIComponent(entityId)}`, undefined, signal, { notFoundAsUndefined: true });
  }

  getServices(signal?: AbortSignal): Promise<HassServiceDomain[]> {
    return this.request<HassServiceDomain[]>('get_services', 'GET', '/api/services', undefined, signal);
  }

  getConfig(signal?: AbortSignal): Promise<HassConfig> {
    return this.request<HassConfig>('get_config', 'GET', '/api/config', undefined, signal);
  }

  /**
   * Calls a service. Home Assistant returns the states that changed while the call ran, which is an
   * empty list both for a call that changed nothing and for an entity it does not know. As with every
   * request that changes something, an abort after the request was sent leaves its outcome unknown.
   */
  callService(domain: string, service: string, data: Record<string, unknown>, signal?: AbortSignal): Promise<HassState[]> {
    const path = `/api/services/${encodeURIComponent(domain)}/${encodeURIComponent(service)}`;
    return this.request<HassState[]>('call_service', 'POST', path, data, signal);
  }

  /**
   * Reads an automation from the config editor API, which has no WebSocket command. Returns undefined when
   * no automation has this id.
   */
  getAutomationConfig(id: string, signal?: AbortSignal): Promise<Record<string, unknown> | undefined> {
    return this.request<Record<string, unknown>>('get_automation_config', 'GET', automationPath(id), undefined, signal, { notFoundAsUndefined: true });
  }

  /** Creates or replaces the automation `id`; Home Assistant then reloads its automations. */
  async saveAutomationConfig(id: string, config: Record<string, unknown>, signal?: AbortSignal): Promise<void> {
    await this.request<unknown>('save_automation_config', 'POST', automationPath(id), config, signal);
  }

  /** Deletes the automation `id`. Returns false when Home Assistant had no automation with this id. */
  async deleteAutomationConfig(id: string, signal?: AbortSignal): Promise<boolean> {
    const result = await this.request<unknown>('delete_automation_config', 'DELETE', automationPath(id), undefined, signal, { notFoundAsUndefined: true });
    return result !== undefined;
  }

  private async request<T>(
    operation: string,
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    body: unknown,
    signal: AbortSignal | undefined,
    options: { notFoundAsUndefined?: boolean } = {},
  ): Promise<T> {
    const startedAt = performance.now();
    const timeout = AbortSignal.timeout(this.settings.timeoutMs);
    const observe = (outcome: HomeAssistantCallOutcome) => this.settings.observe?.(operation, outcome, (performance.now() - startedAt) / 1000);
    try {
      const result = await this.send<T>(method, path, body, signal, timeout, options);
      observe('ok');
      return result;
    } catch (error) {
      if (signal?.aborted) observe('aborted');
      else if (timeout.aborted) observe('timeout');
      else if (error instanceof HomeAssistantRequestError) observe('rejected');
      else observe('unavailable');
      throw error;
    }
  }

  private async send<T>(
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    body: unknown,
    signal: AbortSignal | undefined,
    timeout: AbortSignal,
    options: { notFoundAsUndefined?: boolean },
  ): Promise<T> {
    let response: Response;
    try {
      response = await fetch(`${this.settings.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.settings.token}`,
          'content-type': 'application/json',
          accept: 'application/json',
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
    } catch (error) {
      if (signal?.aborted) throw error;
      if (timeout.aborted) {
        throw AppError.homeAssistantUnavailable(`Home Assistant did not respond within ${Math.round(this.settings.timeoutMs / 1000)} s.`);
      }
      throw AppError.homeAssistantUnavailable('Home Assistant could not be reached.');
    }

    if (response.status === 404 && options.notFoundAsUndefined) {
      await response.body?.cancel();
      return undefined as T;
    }
    if (response.status === 401 || response.status === 403) {
      await response.body?.cancel();
      throw AppError.homeAssistantUnavailable('Home Assistant rejected the access token. Check HA_TOKEN.');
    }
    if (response.status >= 500) {
      await response.body?.cancel();
      throw AppError.homeAssistantUnavailable(`Home Assistant answered with HTTP ${response.status}.`);
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw new HomeAssistantRequestError(response.status);
    }

    try {
      return (await response.json()) as T;
    } catch {
      throw AppError.homeAssistantUnavailable('Home Assistant sent a response that is not valid JSON.');
    }
  }
}
