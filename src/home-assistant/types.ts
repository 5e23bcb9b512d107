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
