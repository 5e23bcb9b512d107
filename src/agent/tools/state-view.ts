import { friendlyName, type HassState } from '../../home-assistant/types.js';

/** Attributes worth the model's tokens; the rest (icons, entity pictures, feature bit masks) are left out. */
const USEFUL_ATTRIBUTES = [
  'device_class',
  'unit_of_measurement',
  'brightness',
  'color_mode',
  'current_temperature',
  'temperature',
  'target_temp_high',
  'target_temp_low',
  'hvac_action',
  'hvac_modes',
  'current_position',
  'percentage',
  'volume_level',
  'media_title',
  'source',
] as const;

export interface StateView {
  entity_id: string;
  name: string;
  state: string;
  attributes?: Record<string, unknown>;
}

/** A compact form of a state object for tool results. */
export function viewState(state: HassState): StateView {
  const attributes: Record<string, unknown> = {};
  for (const key of USEFUL_ATTRIBUTES) {
    const value = state.attributes[key];
    if (value !== undefined && value !== null) attributes[key] = value;
  }
  const view: StateView = { entity_id: state.entity_id, name: friendlyName(state), state: state.state };
  if (Object.keys(attributes).length > 0) view.attributes = attributes;
  return view;
}
