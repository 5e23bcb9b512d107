import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

import { HomeAssistantFaults } from './faults.js';
import { HomeAssistantInstance } from './instance.js';
import { DEFAULT_HA_VERSION } from './load-home.js';
import { handleRestRequest } from './rest.js';
import type {
  AreaRegistryEntry,
  AutomationConfig,
  DeviceRegistryEntry,
  EntityRegistryEntry,
  FloorRegistryEntry,
  HassEvent,
  HassState,
  RecordedServiceCall,
  SimulatedHome,
} from './types.js';
import { WEBSOCKET_PATH, attachWebSocketApi } from './websocket.js';

/** The access token the simulator accepts unless `token` is set. It is not a secret. */
export const DEFAULT_SIMULATOR_TOKEN = 'simulator-token';

export interface HomeAssistantSimulatorOptions {
  home: SimulatedHome;
  /** Long-lived access token that REST and WebSocket clients must present. @default 'simulator-token' */
  token?: string;
  /** @default '127.0.0.1' */
  host?: string;
  /** 0 picks a free port. @default 0 */
  port?: number;
  /**
   * Version sent in `auth_ok` and `/api/config`. home-assistant-js-websocket uses `subscribe_entities`
   * from 2022.4 on and `get_states` plus `state_changed` events before that; both paths work.
   * @default the home's `config.version`, or '2025.1.0'
   */
  haVersion?: string;
}

export interface HomeAssistantSimulator {
  /** Base URL, `http://127.0.0.1:PORT`, the value a client's HA_URL takes. */
  url: string;
  /** `ws://127.0.0.1:PORT/api/websocket`. */
  websocketUrl: string;
  token: string;
  haVersion: string;
  getState(entityId: string): HassState | undefined;
  states(): HassState[];
  /**
   * Changes a state as a device would: `last_changed`/`last_updated` move and WebSocket subscribers get
   * `state_changed`. Attributes given are merged over the current ones. Creates the entity when missing.
   */
  setState(entityId: string, state: string, attributes?: Record<string, unknown>): HassState;
  /** Removes an entity; subscribers see `state_changed` with `new_state: null`. */
  removeState(entityId: string): boolean;
  /** Every `call_service` received over REST or WebSocket, failed ones included, oldest first. */
  serviceCalls: RecordedServiceCall[];
  /** The automation config stored under `id`, as `GET /api/config/automation/config/<id>` returns it. */
  getAutomation(id: string): AutomationConfig | undefined;
  faults: HomeAssistantFaults;
  /** Registry changes; each fires the matching `*_registry_updated` event. */
  upsertFloor(floor: FloorRegistryEntry): void;
  upsertArea(area: AreaRegistryEntry): void;
  removeArea(areaId: string): boolean;
  upsertDevice(device: DeviceRegistryEntry): void;
  upsertEntityEntry(entry: EntityRegistryEntry): void;
  /** Fires any event on the bus, for events the simulator does not produce by itself. */
  fireEvent(eventType: string, data?: Record<string, unknown>): HassEvent;
  /** Stops the server and closes every open connection, WebSocket ones included. */
  close(): Promise<void>;
}

/** Starts a simulated Home Assistant that speaks the real REST and WebSocket protocols on loopback. */
export async function startHomeAssistantSimulator(options: HomeAssistantSimulatorOptions): Promise<HomeAssistantSimulator> {
  const token = options.token ?? DEFAULT_SIMULATOR_TOKEN;
  const configVersion = options.home.config.version;
  const haVersion = options.haVersion ?? (typeof configVersion === 'string' ? configVersion : DEFAULT_HA_VERSION);

  let closeSockets: (code: number, reason: string) => void = () => {};
  const faults = new HomeAssistantFaults((code, reason) => closeSockets(code, reason));
  const instance = new HomeAssistantInstance(options.home, haVersion, token, faults);

  const server = createServer((request, response) => {
    void handleRestRequest(instance, request, response);
  });
  const websocket = attachWebSocketApi(server, instance);
  closeSockets = websocket.closeAll;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;

  return {
    url,
    websocketUrl: `ws://${host}:${address.port}${WEBSOCKET_PATH}`,
    token,
    haVersion,
    getState: (entityId) => instance.states.get(entityId),
    states: () => instance.states.all(),
    setState: (entityId, state, attributes) => instance.setDeviceState(entityId, state, attributes),
    removeState: (entityId) => instance.states.remove(entityId),
    serviceCalls: instance.serviceCalls,
    getAutomation: (id) => instance.automations.get(id),
    faults,
    upsertFloor: (floor) => instance.upsertFloor(floor),
    upsertArea: (area) => instance.upsertArea(area),
    removeArea: (areaId) => instance.removeArea(areaId),
    upsertDevice: (device) => instance.upsertDevice(device),
    upsertEntityEntry: (entry) => instance.upsertEntityEntry(entry),
    fireEvent: (eventType, data = {}) => instance.bus.fire(eventType, data),
    close: async () => {
      websocket.shutdown();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
