import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_HOME_PATH, loadHome, startHomeAssistantSimulator, type HomeAssistantSimulator } from '../../src/simulators/home-assistant/index.js';
import { SCRIPTED_MODEL_NAME, startScriptedModel, type ScriptedModel } from '../../src/simulators/scripted-model/index.js';
import { waitFor } from '../support/clients.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { createTestDatabase, missingServices, TEST_POSTGRES_URL, TEST_REDIS_URL, type TestDatabase } from '../support/services.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

const missing = await missingServices('PostgreSQL', 'Redis');
if (missing) console.warn(`skipped: readiness tests with every dependency, because ${missing}`);

interface Report {
  status: string;
  checkedAt: string;
  checks: Record<string, { status: string; latencyMs?: number; reason?: string }>;
}

async function ready(server: TestServer): Promise<{ status: number; body: Report }> {
  const response = await fetch(`${server.url}/ready`);
  return { status: response.status, body: (await response.json()) as Report };
}

function proxyFor(url: string): Promise<TcpProxy> {
  const parsed = new URL(url);
  return startTcpProxy({ host: parsed.hostname, port: Number(parsed.port) });
}

describe.skipIf(missing !== undefined)('/ready with every dependency', () => {
  let database: TestDatabase;
  let homeAssistant: HomeAssistantSimulator;
  let model: ScriptedModel;
  let postgres: TcpProxy;
  let redis: TcpProxy;
  let modelProxy: TcpProxy;
  let server: TestServer;

  beforeAll(async () => {
    database = await createTestDatabase('postgres');
    homeAssistant = await startHomeAssistantSimulator({ home: loadHome(DEMO_HOME_PATH) });
    model = await startScriptedModel();
    postgres = await proxyFor(TEST_POSTGRES_URL);
    redis = await proxyFor(TEST_REDIS_URL);
    modelProxy = await proxyFor(model.url);
    server = await startTestServer({
      database: { ...database, url: postgres.urlFor(database.url), remove: async () => {} },
      env: {
        REDIS_URL: redis.urlFor(TEST_REDIS_URL),
        OPENAI_BASE_URL: modelProxy.urlFor(model.url),
        OPENAI_MODEL: SCRIPTED_MODEL_NAME,
        HA_URL: homeAssistant.url,
        HA_TOKEN: homeAssistant.token,
      },
      app: { readiness: { timeoutMs: 1_000, cacheMs: 0 } },
    });
  });

  afterAll(async () => {
    postgres?.restore();
    redis?.restore();
    await server?.close();
    await Promise.all([postgres?.close(), redis?.close(), modelProxy?.close(), model?.close(), homeAssistant?.close()]);
    await database?.remove();
  });

  it('is ready when every dependency answers, and /health needs none of them', async () => {
    const { status, body } = await ready(server);
    expect(status).toBe(200);
    expect(body.status).toBe('ready');
    expect(Object.keys(body.checks).sort()).toEqual(['database', 'homeAssistant', 'model', 'redis']);
    for (const [name, check] of Object.entries(body.checks)) {
      expect(check.status, name).toBe('up');
      expect(check.latencyMs, name).toBeGreaterThanOrEqual(0);
    }
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
  });

  it.each([
    ['database', () => postgres.cutOff(), () => postgres.restore()],
    ['redis', () => redis.cutOff(), () => redis.restore()],
    ['model', () => modelProxy.cutOff(), () => modelProxy.restore()],
    [
      'homeAssistant',
      () => {
        homeAssistant.faults.unavailable = true;
      },
      () => {
        homeAssistant.faults.unavailable = false;
      },
    ],
  ])('turns false while %s is gone, and true once it is back', async (name, goAway, comeBack) => {
    goAway();
    let report: { status: number; body: Report };
    try {
      report = await waitFor(
        async () => {
          const current = await ready(server);
          return current.body.checks[name]?.status === 'down' ? current : undefined;
        },
        10_000,
        `${name} to be reported down`,
      );
      expect((await fetch(`${server.url}/health`)).status).toBe(200);
    } finally {
      comeBack();
    }
    expect(report.status).toBe(503);
    expect(report.body.status).toBe('not_ready');
    expect(report.body.checks[name]?.reason).toEqual(expect.any(String));
    for (const [other, check] of Object.entries(report.body.checks)) if (other !== name) expect(check.status, other).toBe('up');
    if (name === 'homeAssistant') expect(report.body.checks[name]?.reason).toMatch(/^Home Assistant has been unavailable for \d+ s\. /);

    await waitFor(async () => ((await ready(server)).status === 200 ? true : undefined), 15_000, `${name} to be reported up again`);
  });

  it('reports a dependency that does not answer in time', async () => {
    homeAssistant.faults.latencyMs = 3_000;
    try {
      const { status, body } = await ready(server);
      expect(status).toBe(503);
      expect(body.checks.homeAssistant).toMatchObject({ status: 'down', reason: 'no answer within 1000 ms' });
      expect(body.checks.database?.status).toBe('up');
    } finally {
      homeAssistant.faults.latencyMs = 0;
    }
  });
});

describe('/ready', () => {
  it('skips dependencies that are not configured and caches its report', async () => {
    const homeAssistant = await startHomeAssistantSimulator({ home: loadHome(DEMO_HOME_PATH) });
    const server = await startTestServer({ env: { HA_URL: homeAssistant.url, HA_TOKEN: homeAssistant.token }, app: { readiness: { cacheMs: 60_000 } } });
    try {
      const first = await ready(server);
      expect(first.status).toBe(200);
      expect(first.body.checks).toMatchObject({
        database: { status: 'up' },
        homeAssistant: { status: 'up' },
        redis: { status: 'not_configured' },
        model: { status: 'not_configured' },
      });

      homeAssistant.faults.unavailable = true;
      const cached = await ready(server);
      expect(cached.status).toBe(200);
      expect(cached.body.checkedAt).toBe(first.body.checkedAt);

      server.app.readiness.markStopping();
      const stopping = await ready(server);
      expect(stopping.status).toBe(503);
      expect(stopping.body.status).toBe('stopping');
    } finally {
      await server.close();
      await homeAssistant.close();
    }
  });
});
