import { isRecord } from './load-home.js';
import { newContext, slugify, stableHexId } from './ids.js';
import type { EventBus, StateMachine } from './state-machine.js';
import type { AutomationConfig, EntityRegistryEntry } from './types.js';

/** Raised for a config the automation editor would reject; the REST API returns 400 with its message. */
export class AutomationConfigError extends Error {}

/**
 * Automation configs as the config editor API keeps them, each backed by an `automation.*` entity whose
 * `id` attribute links it to its config. Saving an existing id overwrites it and keeps the entity id, the
 * way the entity registry keeps it in Home Assistant.
 */
export class AutomationStore {
  private readonly configs = new Map<string, AutomationConfig>();
  private readonly entityIds = new Map<string, string>();

  constructor(
    private readonly states: StateMachine,
    private readonly bus: EventBus,
    private readonly entityRegistry: EntityRegistryEntry[],
    seed: AutomationConfig[] = [],
  ) {
    for (const config of seed) {
      this.configs.set(config.id, structuredClone(config));
      const linked = this.states.all().find((state) => state.entity_id.startsWith('automation.') && state.attributes.id === config.id);
      if (linked) {
        this.entityIds.set(config.id, linked.entity_id);
      } else {
        this.writeEntity(config, false);
      }
    }
  }

  get(id: string): AutomationConfig | undefined {
    const config = this.configs.get(id);
    return config ? structuredClone(config) : undefined;
  }

  list(): AutomationConfig[] {
    return [...this.configs.values()].map((config) => structuredClone(config));
  }

  entityIdOf(id: string): string | undefined {
    return this.entityIds.get(id);
  }

  /** Creates or overwrites the automation `id`. Throws AutomationConfigError when the config is invalid. */
  save(id: string, body: unknown): { created: boolean; entityId: string } {
    if (!isRecord(body)) {
      throw new AutomationConfigError('Message malformed: expected a JSON object.');
    }
    if (body.triggers === undefined && body.trigger === undefined) {
      throw new AutomationConfigError("Message malformed: required key not provided: 'triggers'.");
    }
    if (body.actions === undefined && body.action === undefined) {
      throw new AutomationConfigError("Message malformed: required key not provided: 'actions'.");
    }

    // The editor stores the id from the URL, even when the body carries another one.
    const config: AutomationConfig = { ...structuredClone(body), id };
    const created = !this.configs.has(id);
    this.configs.set(id, config);
    const entityId = this.writeEntity(config, true);
    this.bus.fire('automation_reloaded', {});
    return { created, entityId };
  }

  delete(id: string): boolean {
    if (!this.configs.delete(id)) {
      return false;
    }
    const entityId = this.entityIds.get(id);
    this.entityIds.delete(id);
    if (entityId) {
      this.states.remove(entityId);
      const index = this.entityRegistry.findIndex((entry) => entry.entity_id === entityId);
      if (index !== -1) {
        this.entityRegistry.splice(index, 1);
        this.bus.fire('entity_registry_updated', { action: 'remove', entity_id: entityId });
      }
    }
    this.bus.fire('automation_reloaded', {});
    return true;
  }

  private writeEntity(config: AutomationConfig, announce: boolean): string {
    const name = typeof config.alias === 'string' && config.alias !== '' ? config.alias : config.id;
    let entityId = this.entityIds.get(config.id);
    const isNew = entityId === undefined;
    entityId ??= this.freeEntityId(`automation.${slugify(name)}`);
    this.entityIds.set(config.id, entityId);

    const existing = this.states.get(entityId);
    let enabled = config.initial_state === false ? 'off' : 'on';
    if (existing) {
      enabled = existing.state;
    }
    this.states.set(
      entityId,
      enabled,
      {
        id: config.id,
        last_triggered: existing?.attributes.last_triggered ?? null,
        mode: typeof config.mode === 'string' ? config.mode : 'single',
        current: 0,
        friendly_name: name,
      },
      newContext(),
    );

    if (isNew && !this.entityRegistry.some((entry) => entry.entity_id === entityId)) {
      this.entityRegistry.push({
        entity_id: entityId,
        id: stableHexId(`automation:${config.id}`),
        platform: 'automation',
        unique_id: config.id,
        options: { conversation: { should_expose: false } },
      });
      if (announce) {
        this.bus.fire('entity_registry_updated', { action: 'create', entity_id: entityId });
      }
    }
    return entityId;
  }

  /** Appends `_2`, `_3`, ... while the entity id belongs to something else, as Home Assistant does. */
  private freeEntityId(wanted: string): string {
    const taken = (candidate: string) => this.states.has(candidate) || [...this.entityIds.values()].includes(candidate);
    if (!taken(wanted)) {
      return wanted;
    }
    for (let suffix = 2; ; suffix++) {
      const candidate = `${wanted}_${suffix}`;
      if (!taken(candidate)) {
        return candidate;
      }
    }
  }
}
