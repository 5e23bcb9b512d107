import { newContext, toHassTimestamp } from './ids.js';
import type { RegistryIndex } from './registries.js';
import { BEHAVIOURS, GENERIC_SERVICE_MAP, runScript, type DeviceMemory, type EntityUpdate, type ServiceBehaviour } from './service-behaviours.js';
import { responseMode } from './service-catalog.js';
import { ServiceCallError } from './service-errors.js';
import type { EventBus, StateMachine } from './state-machine.js';
import type { HassContext, HassServiceDescription, HassServiceDomain, HassState, RecordedServiceCall, ServiceCallTransport } from './types.js';

/** Keys that select entities; REST mixes them into the body, WebSocket sends them in `target`. */
export const TARGET_KEYS = ['entity_id', 'area_id', 'device_id', 'floor_id', 'label_id'] as const;

/** Id of the simulated user that owns the access token; it appears as `context.user_id`. */
export const SIMULATOR_USER_ID = '5a7c0c1f6e3b4b3d9d2f1a8e4c6b2d10';

/** Home Assistant's entity id rule: lower-case `domain.object_id`, no leading, trailing or double underscores. */
const ENTITY_ID_PATTERN = /^(?!.+__)(?!_)[\da-z_]+(?<!_)\.(?!_)[\da-z_]+(?<!_)$/;

export interface ServiceCallRequest {
  domain: string;
  service: string;
  data: Record<string, unknown>;
  target: Record<string, unknown>;
  returnResponse: boolean;
  transport: ServiceCallTransport;
}

export interface ServiceCallOutcome {
  context: HassContext;
  /** States written by the call that differ from before, in call order. */
  changed: HassState[];
  /** The service response when `returnResponse` was set, otherwise null. */
  response: unknown;
}

export interface ServiceCallerDeps {
  states: StateMachine;
  bus: EventBus;
  registry: RegistryIndex;
  services: () => HassServiceDomain[];
  /** Returns true when the call must fail because of a fault mode. */
  consumeInjectedFailure: () => boolean;
  record: (call: RecordedServiceCall) => void;
}

/**
 * Runs service calls for both transports: checks that the service exists and its data is valid, fires the
 * `call_service` bus event, resolves the target to entities and writes their new states.
 */
export class ServiceCaller {
  private readonly memory: DeviceMemory = new Map();

  constructor(private readonly deps: ServiceCallerDeps) {}

  call(request: ServiceCallRequest): ServiceCallOutcome {
    const context = newContext(SIMULATOR_USER_ID);
    const call: RecordedServiceCall = {
      domain: request.domain,
      service: request.service,
      data: request.data,
      target: request.target,
      at: toHassTimestamp(),
      transport: request.transport,
      context,
      changedEntityIds: [],
    };

    try {
      const outcome = this.run(request, context);
      call.changedEntityIds = outcome.changed.map((state) => state.entity_id);
      return outcome;
    } catch (error) {
      if (error instanceof ServiceCallError) {
        call.error = { code: error.code, message: error.message };
      }
      throw error;
    } finally {
      this.deps.record(call);
    }
  }

  describe(domain: string, service: string): HassServiceDescription | undefined {
    return this.deps.services().find((entry) => entry.domain === domain)?.services[service];
  }

  private run(request: ServiceCallRequest, context: HassContext): ServiceCallOutcome {
    const { domain, service } = request;
    if (this.deps.consumeInjectedFailure()) {
      throw new ServiceCallError('home_assistant_error', `Simulated failure of ${domain}.${service} (the failNextServiceCalls fault is set).`);
    }

    const description = this.describe(domain, service);
    if (!description) {
      throw ServiceCallError.notFound(domain, service);
    }
    const mode = responseMode(description);
    if (mode === 'only' && !request.returnResponse) {
      throw ServiceCallError.validation(`Service ${domain}.${service} returns a response, so it must be called with return_response.`);
    }
    if (mode === 'none' && request.returnResponse) {
      throw ServiceCallError.validation(`Service ${domain}.${service} does not return a response.`);
    }

    const target = this.validateTarget(request.target);
    const behaviour = BEHAVIOURS[domain]?.[service];
    if (behaviour && domain !== 'homeassistant') {
      this.validateData(domain, service, behaviour, request.data);
    }

    this.deps.bus.fire('call_service', { domain, service, service_data: { ...request.data, ...target } }, context);

    const entityIds = this.resolveTarget(domain, target);
    const updates = this.planUpdates(domain, service, behaviour, request.data, entityIds);

    const changed: HassState[] = [];
    for (const [entityId, update] of updates) {
      const written = this.deps.states.set(entityId, update.state, update.attributes, context);
      if (written.changed) {
        changed.push(written.state);
      }
    }

    let response: unknown = null;
    if (request.returnResponse && behaviour?.respond) {
      const targeted = entityIds.map((id) => this.deps.states.get(id)).filter((state): state is HassState => !!state);
      response = behaviour.respond(targeted, request.data);
    }
    return { context, changed, response };
  }

  private validateData(domain: string, service: string, behaviour: ServiceBehaviour, data: Record<string, unknown>): void {
    for (const key of Object.keys(data)) {
      if (!behaviour.fields.includes(key)) {
        throw ServiceCallError.invalidFormat(`Extra key '${key}' is not allowed for ${domain}.${service}.`);
      }
    }
    behaviour.validate?.(data);
  }

  private validateTarget(target: Record<string, unknown>): Record<string, unknown> {
    const cleaned: Record<string, unknown> = {};
    for (const key of TARGET_KEYS) {
      const value = target[key];
      if (value === undefined || value === null) {
        continue;
      }
      const list = typeof value === 'string' ? value.split(',').map((item) => item.trim()) : value;
      if (!Array.isArray(list) || list.some((item) => typeof item !== 'string')) {
        throw ServiceCallError.invalidFormat(`Invalid value for '${key}': expected a string or a list of strings.`);
      }
      if (key === 'entity_id') {
        for (const entityId of list as string[]) {
          if (entityId !== 'all' && entityId !== 'none' && !ENTITY_ID_PATTERN.test(entityId)) {
            throw ServiceCallError.invalidFormat(`Entity ID ${entityId} is an invalid entity ID for 'entity_id'.`);
          }
        }
      }
      cleaned[key] = value;
    }
    return cleaned;
  }

  /** Expands entity, area, device, floor and label targets into the entity ids that exist. */
  private resolveTarget(domain: string, target: Record<string, unknown>): string[] {
    const existing = this.deps.states.entityIds();
    const inDomain = (entityId: string) => domain === 'homeassistant' || entityId.startsWith(`${domain}.`);
    const ids = new Set<string>();
    const listOf = (value: unknown): string[] => {
      if (value === undefined) {
        return [];
      }
      return typeof value === 'string' ? value.split(',').map((item) => item.trim()) : (value as string[]);
    };

    for (const entityId of listOf(target.entity_id)) {
      if (entityId === 'all') {
        for (const id of existing.filter(inDomain)) ids.add(id);
      } else if (entityId !== 'none' && this.deps.states.has(entityId) && inDomain(entityId)) {
        ids.add(entityId);
      }
    }
    const registry = this.deps.registry;
    for (const areaId of listOf(target.area_id)) {
      for (const id of registry.entityIdsInArea(areaId, existing).filter(inDomain)) ids.add(id);
    }
    for (const deviceId of listOf(target.device_id)) {
      for (const id of registry.entityIdsOfDevice(deviceId, existing).filter(inDomain)) ids.add(id);
    }
    for (const floorId of listOf(target.floor_id)) {
      for (const id of registry.entityIdsOnFloor(floorId, existing).filter(inDomain)) ids.add(id);
    }
    for (const labelId of listOf(target.label_id)) {
      for (const id of registry.entityIdsWithLabel(labelId, existing).filter(inDomain)) ids.add(id);
    }
    return [...ids];
  }

  /**
   * Computes every entity's new state before writing any, so a validation error leaves the home untouched.
   * Unavailable entities are skipped, as Home Assistant skips them in entity services.
   */
  private planUpdates(
    domain: string,
    service: string,
    behaviour: ServiceBehaviour | undefined,
    data: Record<string, unknown>,
    entityIds: string[],
  ): [string, EntityUpdate][] {
    const updates: [string, EntityUpdate][] = [];

    if (domain === 'script' && !behaviour) {
      const script = this.deps.states.get(`script.${service}`);
      if (script) {
        updates.push([script.entity_id, runScript(script)]);
      }
      return updates;
    }

    for (const entityId of entityIds) {
      const state = this.deps.states.get(entityId);
      if (!state || state.state === 'unavailable') {
        continue;
      }
      const entityDomain = entityId.split('.')[0]!;
      let applied: ServiceBehaviour | undefined = behaviour;
      if (domain === 'homeassistant') {
        const mapping = GENERIC_SERVICE_MAP[service];
        const mapped = mapping ? (mapping[entityDomain] ?? mapping.default) : undefined;
        applied = mapped ? BEHAVIOURS[entityDomain]?.[mapped] : undefined;
      }
      const update = applied?.apply?.(state, data, this.memory);
      if (update) {
        updates.push([entityId, update]);
      }
    }
    return updates;
  }
}
