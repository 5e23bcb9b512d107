import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, SCREENSHOT_DIR } from '../support/browser.js';
import { startTestStack, type TestStack } from '../support/stack.js';

let stack: TestStack;
let key: string;
let browser: Browser | undefined;

beforeAll(async () => {
  stack = await startTestStack({ model: { chunkDelayMs: 10 } });
  key = await stack.apiKey('graphiql-user');
});

afterAll(async () => {
  await browser?.close();
  await stack.close();
});

const SUBSCRIPTION = `subscription {
  chatStream(input: { message: "Is the front door locked?" }) {
    __typename
    ... on ReplyDelta { text }
    ... on ReplyCompleted { message { content status } }
  }
}`;

describe('GraphiQL', () => {
  it('runs a subscription and shows the streamed reply', async (ctx) => {
    browser = await launchChromium(ctx);
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const failedRequests: string[] = [];
    // GraphiQL aborts the event stream itself once the subscription completes; anything else is a failure.
    page.on('requestfailed', (request) => {
      if (request.failure()?.errorText !== 'net::ERR_ABORTED') failedRequests.push(`${request.url()} ${request.failure()?.errorText}`);
    });

    // GraphiQL keeps its editors in localStorage; seeding it is how a user's saved tab would look.
    await page.addInitScript(
      ([query, headers]) => {
        localStorage.setItem('graphiql:query', query as string);
        localStorage.setItem('graphiql:headers', headers as string);
      },
      [SUBSCRIPTION, JSON.stringify({ Authorization: `Bearer ${key}` })],
    );
    await page.goto(`${stack.url}/graphql`);
    await page.waitForSelector('.graphiql-execute-button', { timeout: 20_000 });
    await page.click('.graphiql-execute-button');

    await page.waitForFunction(() => document.querySelector('.graphiql-response')?.textContent?.includes('ReplyCompleted'), undefined, { timeout: 20_000 });
    // The response editor renders spaces as non-breaking spaces.
    const response = ((await page.textContent('.graphiql-response')) ?? '').replace(/\u00a0/g, ' ');
    expect(response).toContain('"status": "COMPLETED"');
    expect(response).toMatch(/Front Door is (locked|unlocked)/);
    await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'graphiql-subscription.png') });
    expect(failedRequests).toEqual([]);
  });
});
