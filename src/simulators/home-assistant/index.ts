/**
 * Home Assistant simulator: a loopback HTTP and WebSocket server that speaks Home Assistant's REST and
 * WebSocket APIs, for tests and the demo. Production code talks to it only over those protocols.
 */
export { loadHome, defaultConfig, DEFAULT_HA_VERSION, DEMO_HOME_PATH } from './load-home.js';
export {
  startHomeAssistantSimulator,
  DEFAULT_SIMULATOR_TOKEN,
  type HomeAssistantSimulator,
  type HomeAssistantSimulatorOptions,
} from './server.js';
export { HomeAssistantFaults } from './faults.js';
export { SIMULATOR_USER_ID } from './service-caller.js';
export type {
  AreaRegistryEntry,
  AutomationConfig,
  DeviceRegistryEntry,
  EntityRegistryEntry,
  FloorRegistryEntry,
  HassContext,
  HassEvent,
  HassServiceDescription,
  HassServiceDomain,
  HassState,
  LabelRegistryEntry,
  RecordedServiceCall,
  ServiceCallTransport,
  SimulatedHome,
} from './types.js';
