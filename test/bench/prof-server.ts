import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { startChild } from './child.js';
import { DEMO_HOME_PATH, loadHome, startHomeAssistantSimulator } from '../../src/simulators/home-assistant/index.js';
import { startScriptedModel } from '../../src/simulators/scripted-model/index.js';
const ha = await startHomeAssistantSimulator({ home: loadHome(DEMO_HOME_PATH) });
const model = await startScriptedModel();
const dir = mkdtempSync(path.join(tmpdir(), 'prof-'));
const app = await createApp(loadConfig({ NODE_ENV: 'production', HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'warn', DATABASE_URL: `sqlite:${dir}/p.db`, OPENAI_BASE_URL: model.url, HA_URL: ha.url, HA_TOKEN: ha.token, RATE_LIMIT_OPERATIONS_PER_MINUTE: '1000000', RATE_LIMIT_CHAT_PER_MINUTE: '100000' }));
const url = await app.listen();
const key = (await app.services.apiKeys.create('u')).key;
let conversationId: string | undefined;
for (let i = 0; i < 25; i++) {
  const r = await fetch(url + '/graphql', { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body: JSON.stringify({ query: 'mutation($input: ChatInput!) { chat(input: $input) { conversation { id } } }', variables: { input: { message: 'hi ' + i, ...(conversationId ? { conversationId } : {}) } } }) });
  conversationId = ((await r.json()) as any).data.chat.conversation.id;
  await new Promise(r => setTimeout(r, 80));
}
const load = await startChild<any>('http-load-process.ts');
const body = JSON.stringify({ query: `query($id: ID!) { conversation(id: $id) { messages(first: 50) { edges { node { id role content status createdAt } } } } }`, variables: { id: conversationId } });
const which = process.argv[2] ?? 'messages';
const b = which === 'viewer' ? JSON.stringify({ query: '{ viewer { id } }' }) : body;
console.log(await load.call('run', { url: url + '/graphql', body: b, headers: { authorization: `Bearer ${key}` }, concurrency: 32, durationMs: 6000 }));
await load.stop(); await app.close(); await model.close(); await ha.close();
process.exit(0);
