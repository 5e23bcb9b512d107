import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, SCREENSHOT_DIR } from '../support/browser.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { startTestStack, type TestStack } from '../support/stack.js';

// With the SSE Accept header the server sends a failed request's GraphQL error inside an event-stream
// body, with the error's HTTP status (401, 429, 503). The page must read the message from that body.

let unconfigured: TestServer;
let limited: TestStack;
let browser: Browser | undefined;

beforeAll(async () => {
  // No OPENAI_API_KEY or OPENAI_BASE_URL, so every chat fails with LLM_NOT_CONFIGURED.
  unconfigured = await startTestServer();
  limited = await startTestStack({ model: { chunkDelayMs: 5 }, env: { RATE_LIMIT_CHAT_PER_MINUTE: '1' } });
});

afterAll(async () => {
  await browser?.close();
  await unconfigured?.close();
  await limited?.close();
});

async function signIn(page: Page, url: string, token: string): Promise<void> {
  await page.goto(url);
  await page.fill('#token', token);
  await page.click('#sign-in-form button');
  await page.waitForSelector('#chat:not([hidden])');
}

async function send(page: Page, text: string): Promise<void> {
  await page.fill('#message', text);
  await page.press('#message', 'Enter');
}

/** Waits until the page has stopped following the reply, then returns the last reply bubble. */
async function lastReply(page: Page): Promise<{ classes: string; text: string; status: string }> {
  await page.waitForFunction(
    () => document.querySelector('#stop')?.hasAttribute('hidden') && !(document.querySelector('#send') as HTMLButtonElement).disabled,
    undefined,
    { timeout: 15_000 },
  );
  return page.$eval('.message.assistant:last-of-type', (node) => ({
    classes: node.className,
    text: node.querySelector('.text')?.textContent ?? '',
    status: node.querySelector('.status')?.textContent ?? '',
  }));
}

describe('chat page errors', () => {
  it('shows why the server has no model', async (ctx) => {
    browser ??= await launchChromium(ctx);
    const page = await browser.newPage();
    await signIn(page, unconfigured.url, await unconfigured.apiKey('no-model-user'));

    await send(page, 'Turn off the kitchen light');
    await page.waitForSelector('.message.assistant.failed', { timeout: 10_000 });
    const reply = await lastReply(page);

    expect(reply.classes).toContain('failed');
    expect(reply.status).toBe(
      'failed: No language model is configured. Set OPENAI_API_KEY, or OPENAI_BASE_URL for an OpenAI-compatible server. (LLM_NOT_CONFIGURED)',
    );
    expect(reply.text).toBe('');
    expect(await page.textContent('#messages')).not.toContain('streaming');
    expect(await page.textContent('#messages')).not.toContain('HTTP 503');
    await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'chat-page-no-model.png'), fullPage: true });
  });

  it('shows the wait when chat is rate limited', async (ctx) => {
    browser ??= await launchChromium(ctx);
    const page = await browser.newPage();
    await signIn(page, limited.url, await limited.apiKey('limited-user'));

    await send(page, 'Is the front door locked?');
    expect((await lastReply(page)).status).toBe('');

    const limitedResponse = page.waitForResponse((response) => response.url().endsWith('/graphql') && response.status() === 429);
    await send(page, 'Is the front door locked?');
    const retryAfter = (await limitedResponse).headers()['retry-after'];
    expect(retryAfter).toMatch(/^\d+$/);
    const reply = await lastReply(page);

    expect(reply.classes).toContain('failed');
    expect(reply.status).toBe(`failed: Too many chat messages. Try again in ${retryAfter} s. (RATE_LIMITED)`);
    expect(await page.textContent('#messages')).not.toContain('streaming');
    await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'chat-page-rate-limited.png'), fullPage: true });
  });

  it('returns to sign-in when the key is revoked', async (ctx) => {
    browser ??= await launchChromium(ctx);
    const page = await browser.newPage();
    const created = await unconfigured.app.services.apiKeys.create('revoked-user');
    await signIn(page, unconfigured.url, created.key);
    await unconfigured.app.services.apiKeys.revoke(created.record.id);

    await send(page, 'Turn off the kitchen light');
    await page.waitForSelector('#sign-in:not([hidden])', { timeout: 10_000 });

    expect(await page.textContent('#sign-in-error')).toBe('Invalid or revoked API key. (UNAUTHENTICATED)');
    expect(await page.isVisible('#chat')).toBe(false);
    expect(await page.isVisible('#sign-out')).toBe(false);
    expect(await page.textContent('#who')).toBe('');
    expect(await page.inputValue('#token')).toBe('');
    expect(await page.evaluate(() => sessionStorage.getItem('ha-ai-agent-token'))).toBeNull();
    await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'chat-page-signed-out.png'), fullPage: true });
  });

  it('marks the reply failed when the connection cannot be made', async (ctx) => {
    browser ??= await launchChromium(ctx);
    const page = await browser.newPage();
    await signIn(page, limited.url, await limited.apiKey('offline-user'));
    // Only event-stream requests fail, as when a proxy drops them. Plain queries still reach the server.
    await page.route('**/graphql', (route) => (route.request().headers().accept === 'text/event-stream' ? route.abort('connectionreset') : route.continue()));

    await send(page, 'Is the front door locked?');
    const reply = await lastReply(page);

    expect(reply.classes).toContain('failed');
    expect(reply.status).toBe('failed: Could not reach the server. Check the connection and send the message again.');
    expect(await page.textContent('#messages')).not.toContain('streaming');
  });
});
