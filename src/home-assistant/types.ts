/** A state object as Home Assistant's REST and WebSocket APIs return it. */
export interface HassState {
  entity_id: string;
  /** Always a string: numbers arrive as "21.5", and "unavailable" and "unknown" are common. */
  state: string;
  attributes: Record<string, unknown>;
  last_changed?: string;
  last_updated?: string;
  last_reported?: string;
  context?: { id: string; parent_id: string | null; user_id: string | null };
}

/** One domain of REST `/api/services`. */
export interface HassServiceDomain {
  domain: string;
  services: Record<string, unknown>;
}

export type HassConfig = Record<string, unknown> & { version?: string; location_name?: string; time_zone?: string };

export function entityDomain(entityId: string): string {
  return entityId.slice(0, entityId.indexOf('.'));
}

export function friendlyName(state: HassState): string {
  const name = state.attributes.friendly_name;
  return typeof name === 'string' && name.trim() !== '' ? name : state.entity_id;
}

/** One service as WebSocket `get_services` describes it (REST `/api/services` has the same inner shape). */
export interface HassServiceDescription {
  name?: string;
  description?: string;
  /** Field name to description; a section is a field that holds `{collapsed, fields}`. */
  fields?: Record<string, unknown>;
  target?: Record<string, unknown>;
  response?: { optional: boolean };
}

/** WebSocket `get_services`: domain, then service, then description. */
export type HassServices = Record<string, Record<string, HassServiceDescription>>;

export interface HassFloor {
  floor_id: string;
  name: string;
  level?: number | null;
  aliases?: string[];
}

export interface HassArea {
  area_id: string;
  name: string;
  floor_id?: string | null;
  aliases?: string[];
  /** Label ids, since Home Assistant 2024.4. */
  labels?: string[] | null;
}

export interface HassDevice {
  id: string;
  name: string | null;
  name_by_user?: string | null;
  area_id?: string | null;
  manufacturer?: string | null;
  model?: string | null;
  /** The device this one is connected through, such as a hub. A target naming the hub reaches this device too. */
  via_device_id?: string | null;
  labels?: string[] | null;
}

/** One element of `config/entity_registry/list`. */
export interface HassEntityEntry {
  entity_id: string;
  name?: string | null;
  original_name?: string | null;
  area_id?: string | null;
  device_id?: string | null;
  disabled_by?: string | null;
  hidden_by?: string | null;
  entity_category?: string | null;
  platform?: string;
  labels?: string[] | null;
  /** `options.conversation.should_expose` is Home Assistant's "Expose to Assist" switch. */
  options?: Record<string, unknown> | null;
}

/** A bus event as `subscribe_events` delivers it. */
export interface HassEvent<Data = Record<string, unknown>> {
  event_type: string;
  data: Data;
  origin?: string;
  time_fired?: string;
  context?: { id: string; parent_id: string | null; user_id: string | null };
}

export interface StateChangedData {
  entity_id: string;
  old_state: HassState | null;
  new_state: HassState | null;
}
