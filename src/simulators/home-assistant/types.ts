/** Context attached to states and events, as Home Assistant sends it. */
export interface HassContext {
  id: string;
  parent_id: string | null;
  user_id: string | null;
}

/** One entity state in the shape of REST `/api/states` and WebSocket `get_states`. */
export interface HassState {
  entity_id: string;
  /** Always a string, numbers included (`"21.5"`). */
  state: string;
  attributes: Record<string, unknown>;
  /** ISO-8601 timestamps with an offset, as Home Assistant writes them. */
  last_changed: string;
  last_reported?: string;
  last_updated: string;
  /** Missing in dumps from 2018 and older. */
  context?: HassContext;
}

/** One element of REST `/api/services`; WebSocket `get_services` uses a dict keyed by domain instead. */
export interface HassServiceDomain {
  domain: string;
  services: Record<string, HassServiceDescription>;
}

export interface HassServiceDescription {
  name?: string;
  description?: string;
  fields: Record<string, unknown>;
  target?: Record<string, unknown>;
  response?: { optional: boolean };
  [key: string]: unknown;
}

/**
 * Registry entries as `config/*_registry/list` returns them. Only the identifying keys are required in a
 * home file; the simulator fills the remaining keys with Home Assistant's defaults when it serves them.
 */
export interface FloorRegistryEntry {
  floor_id: string;
  name: string;
  level?: number | null;
  aliases?: string[];
  icon?: string | null;
  created_at?: number;
  modified_at?: number;
  [key: string]: unknown;
}

export interface AreaRegistryEntry {
  area_id: string;
  name: string;
  floor_id?: string | null;
  aliases?: string[];
  icon?: string | null;
  labels?: string[];
  picture?: string | null;
  humidity_entity_id?: string | null;
  temperature_entity_id?: string | null;
  created_at?: number;
  modified_at?: number;
  [key: string]: unknown;
}

export interface DeviceRegistryEntry {
  id: string;
  name: string | null;
  area_id?: string | null;
  manufacturer?: string | null;
  model?: string | null;
  name_by_user?: string | null;
  via_device_id?: string | null;
  identifiers?: [string, string][];
  created_at?: number;
  modified_at?: number;
  [key: string]: unknown;
}

export interface EntityRegistryEntry {
  entity_id: string;
  id?: string;
  device_id?: string | null;
  area_id?: string | null;
  platform?: string;
  name?: string | null;
  original_name?: string | null;
  /** May hold `conversation.should_expose`, which Assist uses to decide what a voice agent may see. */
  options?: Record<string, unknown>;
  created_at?: number;
  modified_at?: number;
  [key: string]: unknown;
}

export interface LabelRegistryEntry {
  label_id: string;
  name: string;
  color?: string | null;
  description?: string | null;
  icon?: string | null;
  created_at?: number;
  modified_at?: number;
  [key: string]: unknown;
}

/** An automation as the config editor stores it (`automations.yaml` entries). */
export interface AutomationConfig {
  id: string;
  alias?: string;
  description?: string;
  [key: string]: unknown;
}

/**
 * The simulator's own home file format (JSON). `loadHome` also converts Home Assistant dumps and
 * `.storage` folders into it.
 */
export interface SimulatedHome {
  /** REST `/api/config` body. */
  config: Record<string, unknown>;
  states: HassState[];
  /** Generated from the domains present in `states` when absent. */
  services?: HassServiceDomain[];
  floors?: FloorRegistryEntry[];
  areas?: AreaRegistryEntry[];
  devices?: DeviceRegistryEntry[];
  entities?: EntityRegistryEntry[];
  labels?: LabelRegistryEntry[];
  automations?: AutomationConfig[];
}

export type ServiceCallTransport = 'rest' | 'websocket';

/** A `call_service` the simulator received, whatever its outcome. */
export interface RecordedServiceCall {
  domain: string;
  service: string;
  /** Service data without the target keys. */
  data: Record<string, unknown>;
  /** `entity_id`, `area_id`, `device_id`, `floor_id` and `label_id`, from the body or the WS `target`. */
  target: Record<string, unknown>;
  /** ISO-8601 time the call arrived. */
  at: string;
  transport: ServiceCallTransport;
  context: HassContext;
  /** Entity ids whose state changed because of the call. */
  changedEntityIds: string[];
  /** Set when the call failed; `code` uses the WebSocket error codes (`not_found`, `invalid_format`, ...). */
  error?: { code: string; message: string };
}

/** A Home Assistant bus event as the WebSocket API sends it. */
export interface HassEvent {
  event_type: string;
  data: Record<string, unknown>;
  origin: 'LOCAL' | 'REMOTE';
  time_fired: string;
  context: HassContext;
}
