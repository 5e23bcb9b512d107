import { afterEach, describe, expect, it } from 'vitest';
import { EXPOSE_ALL } from '../../src/home-assistant/exposure.js';
import { HomeAssistantClient } from '../../src/home-assistant/home-assistant.js';
import { createLogger } from '../../src/observability/logger.js';
import { DEMO_HOME_PATH, loadHome, startHomeAssistantSimulator, type HomeAssistantSimulator } from '../../src/simulators/home-assistant/index.js';

let simulator: HomeAssistantSimulator | undefined;
let client: HomeAssistantClient | undefined;

afterEach(async () => {
  await client?.close();
  await simulator?.close();
  client = undefined;
  simulator = undefined;
});

describe('home cache', () => {
  it('keeps a state change that arrives while the home is being read', async () => {
    simulator = await startHomeAssistantSimulator({ home: loadHome(DEMO_HOME_PATH) });
    expect(simulator.getState('light.kitchen')?.state).toBe('on');
    // Results are delayed, events are not: the change arrives before the get_states result that was
    // taken before it.
    simulator.faults.latencyMs = 300;
    const home = new HomeAssistantClient(
      {
        url: simulator.url,
        token: simulator.token,
        requestTimeoutMs: 5_000,
        exposure: EXPOSE_ALL,
      },
      createLogger({ level: 'silent' }),
    );
    client = home;
    const reads: string[] = [];
    home.cache.onStateChanged((change) => reads.push(`${change.entity_id}=${change.new_state?.state}`));
    // The full read starts when the connection is up and takes the simulator's latency to answer; the
    // change lands in the middle of it.
    const changed = new Promise<void>((resolve) => {
      home.connection.onStatus((status) => {
        if (status.state === 'connected') {
          setTimeout(() => {
            simulator?.setState('light.kitchen', 'off');
            resolve();
          }, 100);
        }
      });
    });
    home.start();

    await changed;
    expect(await home.waitUntilReady(5_000)).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(reads).toEqual(['light.kitchen=off']);
    expect(home.cache.getState('light.kitchen')?.state).toBe('off');
  });
});
