import { performance } from 'node:perf_hooks';
import { EXPOSE_ALL } from '../../src/home-assistant/exposure.js';
import { HomeAssistantClient } from '../../src/home-assistant/home-assistant.js';
import { createLogger } from '../../src/observability/logger.js';
import { loadHome, startHomeAssistantSimulator, type SimulatedHome } from '../../src/simulators/home-assistant/index.js';
import { fixturesDir } from '../support/fixtures.js';
import { generateHome } from './generated-home.js';
import { quantile, round } from './stats.js';

export interface ContextResult {
  home: string;
  entities: number;
  firstBuildMs: number;
  cachedMedianMs: number;
  cachedP99Ms: number;
  tokens: number;
  maxTokens: number;
  sections: string;
}

async function measure(label: string, home: SimulatedHome, maxTokens: number): Promise<ContextResult> {
  const simulator = await startHomeAssistantSimulator({ home });
  const client = new HomeAssistantClient(
    { url: simulator.url, token: simulator.token, requestTimeoutMs: 10_000, exposure: EXPOSE_ALL },
    createLogger({ level: 'silent' }),
  );
  try {
    client.start();
    if (!(await client.waitUntilReady(30_000))) throw new Error(`${label}: the home could not be read`);

    const started = performance.now();
    const first = client.context(maxTokens);
    const firstBuildMs = performance.now() - started;

    // What every later turn pays: the entity list comes from the cache, the states are rebuilt.
    const samples: number[] = [];
    for (let index = 0; index < 200; index += 1) {
      const begin = performance.now();
      client.context(maxTokens);
      samples.push(performance.now() - begin);
    }
    return {
      home: label,
      entities: home.states.length,
      firstBuildMs: round(firstBuildMs),
      cachedMedianMs: round(quantile(samples, 0.5)),
      cachedP99Ms: round(quantile(samples, 0.99)),
      tokens: first.totalTokens,
      maxTokens,
      sections: first.sections.map((section) => `${section.name} ${section.tokens}`).join(', '),
    };
  } finally {
    await client.close();
    await simulator.close();
  }
}

/**
 * Home context build time and size for the 1,572-entity fixture home, or a generated home of the same
 * size when the shared fixtures are absent.
 */
export async function benchContext(maxTokens: number): Promise<ContextResult[]> {
  const results: ContextResult[] = [];
  const fixture = fixturesDir('ha', 'crow11111-core');
  if (fixture) results.push(await measure('crow11111-core (fixture)', loadHome(fixture), maxTokens));
  results.push(await measure('generated, same size', generateHome(), maxTokens));
  return results;
}
