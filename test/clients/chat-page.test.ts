import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postGraphQL } from '../support/clients.js';
import { launchChromium, SCREENSHOT_DIR } from '../support/browser.js';
import { setHomeState, startTestStack, type TestStack } from '../support/stack.js';

let stack: TestStack;
let key: string;
let browser: Browser | undefined;

beforeAll(async () => {
  stack = await startTestStack({ model: { chunkDelayMs: 10 } });
  key = await stack.apiKey('page-user');
});

afterAll(async () => {
  await browser?.close();
  await stack.close();
});

describe('chat page', () => {
  it('signs in, streams a reply with its tool calls and keeps the conversation', async (ctx) => {
    browser = await launchChromium(ctx);
    const page = await browser.newPage();
    const consoleErrors: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text());
    });

    await page.goto(stack.url);
    await page.fill('#token', 'haa_wrong');
    await page.click('#sign-in-form button');
    await page.waitForSelector('#sign-in-error:not(:empty)');
    expect(await page.textContent('#sign-in-error')).toContain('UNAUTHENTICATED');

    await page.fill('#token', key);
    await page.click('#sign-in-form button');
    await page.waitForSelector('#chat:not([hidden])');
    expect(await page.textContent('#who')).toContain('page-user');

    await page.fill('#message', 'Turn off the kitchen light');
    await page.press('#message', 'Enter');
    await page.waitForFunction(() => document.querySelectorAll('.message.assistant .tool[data-status="COMPLETED"]').length >= 2);
    await page.waitForFunction(() => !document.querySelector('#stop') || (document.querySelector('#stop') as HTMLElement).hidden);

    const replyText = await page.textContent('.message.assistant .text');
    expect(replyText).toMatch(/Kitchen Light/);
    expect(stack.homeAssistant.getState('light.kitchen')?.state).toBe('off');
    const toolHeadings = await page.$$eval('.message.assistant .tool > div:first-child', (nodes) =>
      nodes.map((node) => ({ text: node.textContent, title: node.getAttribute('title') })),
    );
    expect(toolHeadings.map((heading) => heading.title)).toEqual(['search_entities', 'call_service']);
    expect(toolHeadings[0]?.text).toMatch(/^Search entities · completed/);
    expect(toolHeadings[1]?.text).toMatch(/^Call service · completed/);
    expect(toolHeadings.some((heading) => heading.text?.includes('_'))).toBe(false);
    await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'chat-page.png'), fullPage: true });

    const stored = await postGraphQL(
      stack.graphqlUrl,
      '{ conversations { edges { node { id title messages { edges { node { role content } } } } } } }',
      {},
      key,
    );
    const conversation = stored.body.data?.conversations.edges[0].node;
    expect(conversation.title).toBe('Turn off the kitchen light');
    expect(conversation.messages.edges[1].node.content).toBe(replyText);
    expect(await page.textContent('#conversations')).toContain('Turn off the kitchen light');
    expect(await page.textContent('#conversation-title')).toBe('Turn off the kitchen light');

    const conversationId = conversation.id as string;
    expect(new URL(page.url()).hash).toBe(`#conversation=${conversationId}`);

    // The reload reopens the conversation without a click on the sidebar.
    await page.reload();
    await page.waitForSelector('#chat:not([hidden])');
    await page.waitForFunction(() => document.querySelectorAll('#messages .message').length === 2);
    expect(await page.textContent('.message.assistant .text')).toBe(replyText);
    expect(await page.textContent('#conversation-title')).toBe('Turn off the kitchen light');
    expect(await page.getAttribute(`#conversations button[data-id="${conversationId}"]`, 'aria-current')).toBe('true');
    expect(await page.textContent('#chat-error')).toBe('');

    await page.click('#new-conversation');
    expect(new URL(page.url()).hash).toBe('');
    await page.click(`#conversations button[data-id="${conversationId}"]`);
    await page.waitForFunction(() => document.querySelectorAll('#messages .message').length === 2);
    expect(new URL(page.url()).hash).toBe(`#conversation=${conversationId}`);
    expect(consoleErrors.filter((text) => !text.includes('401'))).toEqual([]);
  });
});

describe('chat page sign-in screen', () => {
  const CHAT_CONTROLS = ['#chat', '#sidebar', '#new-conversation', '#conversations', '#message', '#send'];

  it('hides the chat screen while signed out', async (ctx) => {
    browser ??= await launchChromium(ctx);
    const page = await browser.newPage();
    await page.goto(stack.url);
    await page.waitForSelector('#sign-in-form button');

    for (const selector of CHAT_CONTROLS) expect({ selector, visible: await page.isVisible(selector) }).toEqual({ selector, visible: false });
    expect(await page.$eval('#chat', (node) => getComputedStyle(node).display)).toBe('none');
    await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'chat-page-sign-in.png'), fullPage: true });

    await page.fill('#token', key);
    await page.click('#sign-in-form button');
    await page.waitForSelector('#chat:not([hidden])');
    expect(await page.isVisible('#send')).toBe(true);
    expect(await page.isVisible('#sign-in')).toBe(false);

    await page.click('#sign-out');
    for (const selector of CHAT_CONTROLS) expect({ selector, visible: await page.isVisible(selector) }).toEqual({ selector, visible: false });
    expect(await page.isVisible('#sign-in')).toBe(true);
  });

  it('keeps the sign-in button on one line', async (ctx) => {
    browser ??= await launchChromium(ctx);
    // The first size is Playwright's default viewport.
    for (const viewport of [
      { width: 1280, height: 720 },
      { width: 375, height: 667 },
    ]) {
      const page = await browser.newPage({ viewport });
      await page.goto(stack.url);
      const lines = await page.$eval('#sign-in-form button', (button) => {
        const range = document.createRange();
        range.selectNodeContents(button);
        return range.getClientRects().length;
      });
      expect({ viewport, lines }).toEqual({ viewport, lines: 1 });
      await page.screenshot({ path: path.join(SCREENSHOT_DIR, `chat-page-sign-in-${viewport.width}.png`) });
      await page.close();
    }
  });
});

describe('chat page remembered conversation', () => {
  it('starts a new conversation when the remembered one is gone', async (ctx) => {
    browser ??= await launchChromium(ctx);
    const page = await browser.newPage();
    await page.goto(stack.url);
    await page.fill('#token', key);
    await page.click('#sign-in-form button');
    await page.waitForSelector('#chat:not([hidden])');

    // An id that never existed, and one that is not even a UUID (the API rejects it as BAD_USER_INPUT).
    for (const staleId of ['0b0f8a4e-5d2c-4c1e-9a57-3f0d2b7c6e11', 'not-a-conversation-id']) {
      await page.evaluate((id) => {
        location.hash = `#conversation=${id}`;
      }, staleId);
      await page.reload();
      await page.waitForSelector('#chat:not([hidden])');
      await page.waitForFunction(() => location.hash === '', undefined, { timeout: 10_000 });

      expect(await page.textContent('#conversation-title')).toBe('New conversation');
      expect(await page.$$eval('#messages .message', (nodes) => nodes.length)).toBe(0);
      expect(await page.textContent('#chat-error')).toBe('');
      expect(await page.isVisible('#send')).toBe(true);
    }
  });
});

describe('chat page confirmations', () => {
  it('approves an unlock that waits for the user', async (ctx) => {
    browser ??= await launchChromium(ctx);
    const page = await browser.newPage();
    await setHomeState(stack, 'lock.front_door', 'locked');

    await page.goto(stack.url);
    await page.fill('#token', key);
    await page.click('#sign-in-form button');
    await page.waitForSelector('#chat:not([hidden])');
    await page.click('#new-conversation');
    await page.fill('#message', 'Unlock the front door');
    await page.press('#message', 'Enter');

    await page.waitForSelector('.confirm .approve');
    const card = (await page.textContent('.tool[data-status="AWAITING_CONFIRMATION"]')) ?? '';
    expect(card.split('Unlock Front Door (lock.front_door).').length - 1).toBe(1);
    expect(await page.textContent('.tool[data-status="AWAITING_CONFIRMATION"] .confirm .muted')).toMatch(/^expires \d{1,2}:\d{2}:\d{2}/);
    expect(stack.homeAssistant.getState('lock.front_door')?.state).toBe('locked');
    await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'chat-page-confirmation.png'), fullPage: true });
    await page.click('.confirm .approve');

    await page.waitForFunction(() => document.querySelector('#stop')?.hasAttribute('hidden'));
    await page.waitForFunction(() => (document.querySelectorAll('.message.assistant .text')[0]?.textContent ?? '').includes('unlocked'));
    expect(stack.homeAssistant.getState('lock.front_door')?.state).toBe('unlocked');
    expect(await page.textContent('.message.assistant .tool[data-status="COMPLETED"]:last-of-type')).toContain('changed');
  });

  it('denies an unlock and leaves the door locked', async (ctx) => {
    browser ??= await launchChromium(ctx);
    const page = await browser.newPage();
    await setHomeState(stack, 'lock.front_door', 'locked');

    await page.goto(stack.url);
    await page.fill('#token', key);
    await page.click('#sign-in-form button');
    await page.waitForSelector('#chat:not([hidden])');
    await page.click('#new-conversation');
    await page.fill('#message', 'Unlock the front door');
    await page.press('#message', 'Enter');
    await page.waitForSelector('.confirm .deny');
    await page.click('.confirm .deny');

    await page.waitForFunction(() => document.querySelector('#stop')?.hasAttribute('hidden'));
    expect(await page.textContent('.message.assistant .tool[data-status="REJECTED"]')).toContain('rejected');
    expect(stack.homeAssistant.getState('lock.front_door')?.state).toBe('locked');
  });
});
