import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { serveParent } from './child.js';

/** The service under test in its own process, configured from the environment the parent passes. */
const app = await createApp(loadConfig(process.env));
const url = await app.listen();

serveParent(
  { url },
  {
    apiKey: async (userId) => (await app.services.apiKeys.create(String(userId))).key,
    gc: () => {
      (globalThis as { gc?: () => void }).gc?.();
      return process.memoryUsage();
    },
  },
);
