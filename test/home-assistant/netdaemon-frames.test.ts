import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { EXPOSE_ALL } from '../../src/home-assistant/exposure.js';
import { HomeAssistantClient } from '../../src/home-assistant/home-assistant.js';
import { HomeAssistantCommandError } from '../../src/home-assistant/websocket-connection.js';
import { createLogger } from '../../src/observability/logger.js';
import { AppError } from '../../src/security/errors.js';
import { waitFor } from '../support/clients.js';
import { requireFixtures } from '../support/fixtures.js';

/** Frame files that reply to each command; every reply gets the id of its request. */
const REPLIES: Record<string, string> = {
  supported_features: 'result_msg.json',
  subscribe_events: 'result_msg.json',
  get_states: 'result_states.json',
  get_config: 'result_config.json',
  get_services: 'result_get_services.json',
  'config/area_registry/list': 'result_get_areas.json',
  'config/device_registry/list': 'result_get_devices.json',
  'config/entity_registry/list': 'result_get_entities.json',
  'config/floor_registry/list': 'result_get_floors.json',
  ping: 'pong.json',
};

/**
 * A WebSocket server that replies with the real frames NetDaemon recorded from Home Assistant, so the
 * client is tested against what Home Assistant sends rather than against our own simulator.
 */
class FrameServer {
  readonly requests: Record<string, unknown>[] = [];
  readonly subscriptions = new Map<string, { socket: WebSocket; id: number }>();
  rejectToken = false;
  private readonly server: WebSocketServer;

  constructor(private readonly folder: string) {
    this.server = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/api/websocket' });
    this.server.on('connection', (socket) => this.accept(socket));
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Reads a frame file, without the byte order mark pong.json starts with. */
  frame(name: string): Record<string, unknown> {
    return JSON.parse(readFileSync(path.join(this.folder, name), 'utf8').replace(/^\uFEFF/, '')) as Record<string, unknown>;
  }

  /** Sends a recorded event to the subscriber of its event type, under that subscription's id. */
  push(event: Record<string, unknown>): void {
    const eventType = (event.event as { event_type: string }).event_type;
    const subscriber = this.subscriptions.get(eventType);
    if (!subscriber) throw new Error(`Nobody subscribed to ${eventType}`);
    subscriber.socket.send(JSON.stringify({ ...event, id: subscriber.id }));
  }

  async ready(): Promise<void> {
    if (this.server.address()) return;
    await new Promise<void>((resolve) => this.server.once('listening', () => resolve()));
  }

  close(): Promise<void> {
    for (const client of this.server.clients) client.terminate();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: WebSocket): void {
    socket.send(JSON.stringify(this.frame('auth_required.json')));
    socket.on('message', (data) => {
      const message = JSON.parse(data.toString()) as Record<string, unknown> & { id?: number; type: string };
      if (message.type === 'auth') {
        socket.send(JSON.stringify(this.frame(this.rejectToken || message.access_token !== 'netdaemon-token' ? 'auth_notok.json' : 'auth_ok.json')));
        if (this.rejectToken) socket.close();
        return;
      }
      this.requests.push(message);
      if (message.type === 'subscribe_events') this.subscriptions.set(String(message.event_type), { socket, id: message.id! });
      const reply = REPLIES[message.type] ? this.frame(REPLIES[message.type]!) : this.frame('result_msg_error.json');
      socket.send(JSON.stringify({ ...reply, id: message.id }));
    });
  }
}

let server: FrameServer | undefined;
let client: HomeAssistantClient | undefined;

afterEach(async () => {
  await client?.close();
  await server?.close();
  client = undefined;
  server = undefined;
});

async function connect(ctx: { skip: (note?: string) => never }, token = 'netdaemon-token'): Promise<{ server: FrameServer; client: HomeAssistantClient }> {
  server = new FrameServer(requireFixtures(ctx, 'ha', 'netdaemon-ws'));
  await server.ready();
  client = new HomeAssistantClient(
    { url: server.url, token, requestTimeoutMs: 2_000, exposure: { ...EXPOSE_ALL, exposeAll: false }, reconnectInitialMs: 50, reconnectMaxMs: 200 },
    createLogger({ level: 'silent' }),
  );
  client.start();
  return { server, client };
}

describe('Home Assistant client against recorded frames', () => {
  it('reads the home and subscribes', async (ctx) => {
    const { server, client } = await connect(ctx);
    expect(await client.waitUntilReady(5_000)).toBe(true);

    expect(client.status()).toMatchObject({ configured: true, connected: true, haVersion: '23.1.0', problem: undefined });
    const index = client.index();
    expect(index.totalEntities).toBe(19);
    expect(index.areas.map((area) => area.name)).toEqual(['Bedroom', 'Kitchen', 'Livingroom']);
    expect(index.floors.map((floor) => floor.floor_id)).toEqual(['floor0', 'floor1']);
    expect(index.get('binary_sensor.vardagsrum_pir')).toMatchObject({ name: 'Rörelsedetektor vardagsrum uppe', deviceClass: 'motion' });
    expect(Object.keys(client.cache.getServices())).toHaveLength(25);
    expect(client.cache.getConfig()?.time_zone).toBe('Europe/Stockholm');

    const subscribed = server.requests.filter((request) => request.type === 'subscribe_events').map((request) => request.event_type);
    expect(subscribed).toEqual(
      expect.arrayContaining(['state_changed', 'area_registry_updated', 'device_registry_updated', 'entity_registry_updated', 'floor_registry_updated']),
    );
    const ids = server.requests.map((request) => request.id as number);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(ids.length);

    const context = client.context(4000);
    expect(context.totalTokens).toBeLessThanOrEqual(4000);
    expect(context.stableBlock).toContain('binary_sensor.vardagsrum_pir "Rörelsedetektor vardagsrum uppe" [motion]');
  });

  it('applies a recorded state event', async (ctx) => {
    const { server, client } = await connect(ctx);
    await client.waitUntilReady(5_000);
    const revision = client.cache.stateVersion;
    expect(client.cache.getState('binary_sensor.vardagsrum_pir')?.state).toBe('on');

    server.push(server.frame('event.json'));
    await waitFor(() => (client.cache.stateVersion > revision ? true : undefined), 5_000, 'the event');
    expect(client.cache.getState('binary_sensor.vardagsrum_pir')).toMatchObject({ state: 'off', attributes: { friendly_name: 'Rörelsedetektor vardagsrum' } });
    expect(client.context(4000).volatileBlock).toContain('binary_sensor.vardagsrum_pir: off');
  });

  it('rereads a registry after its event', async (ctx) => {
    const { server, client } = await connect(ctx);
    await client.waitUntilReady(5_000);
    const reads = () => server.requests.filter((request) => request.type === 'config/area_registry/list').length;
    const before = reads();
    const [deviceUpdate, areaUpdate] = JSON.parse(
      readFileSync(path.join(requireFixtures(ctx, 'ha', 'netdaemon-ws'), 'deviceregistry_update.json'), 'utf8'),
    ) as Record<string, unknown>[];
    server.push(areaUpdate!);
    server.push(deviceUpdate!);
    await waitFor(() => (reads() > before ? true : undefined), 5_000, 'the area registry read');
    expect(server.requests.filter((request) => request.type === 'config/device_registry/list').length).toBeGreaterThan(1);
  });

  it('maps a recorded error result', async (ctx) => {
    const { client } = await connect(ctx);
    await client.waitUntilReady(5_000);
    const error = await client.connection.command({ type: 'fire_event', event_type: 100 }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(HomeAssistantCommandError);
    expect((error as HomeAssistantCommandError).code).toBe('invalid_format');
    expect((error as Error).message).toBe('Home Assistant rejected fire_event (invalid_format).');
    expect(await client.connection.command({ type: 'ping' })).toBeUndefined();
  });

  it('reports a rejected token and keeps trying', async (ctx) => {
    const { server, client } = await connect(ctx, 'wrong-token');
    await waitFor(() => (client.status().problem === 'Home Assistant rejected the access token. Check HA_TOKEN.' ? true : undefined), 5_000, 'the rejection');
    expect(client.status().connected).toBe(false);
    expect(() => client.assertAvailable()).toThrow(AppError);
    try {
      client.assertAvailable();
    } catch (error) {
      expect((error as AppError).code).toBe('HOME_ASSISTANT_UNAVAILABLE');
      expect((error as AppError).message).toMatch(
        /^Home Assistant has been unavailable for \d+ s\. Home Assistant rejected the access token\. Check HA_TOKEN\.$/,
      );
    }
    expect(server.requests).toEqual([]);
  });
});
