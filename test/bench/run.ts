import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot } from '../support/fixtures.js';
import { benchContext } from './context.js';
import { benchDelivery } from './delivery.js';
import { benchIdleMemory } from './idle-memory.js';
import { describeMachine } from './machine.js';
import { benchQueryRate } from './query-rate.js';
import { startBenchStack } from './stack.js';
import { round, table } from './stats.js';
import { benchTimeToFirstToken } from './ttft.js';

const { values } = parseArgs({ options: { quick: { type: 'boolean' }, 'no-write': { type: 'boolean' } } });
const quick = values.quick === true;

/** Sizes of each benchmark; --quick shrinks them for a smoke run. */
const SIZES = quick
  ? { ttftConcurrency: [1, 10], ttftSamples: 20, deliverySubscribers: 5, deliveryWords: 500, querySeconds: 2, idleSubscriptions: 500 }
  : { ttftConcurrency: [1, 50, 200], ttftSamples: 200, deliverySubscribers: 10, deliveryWords: 2000, querySeconds: 8, idleSubscriptions: 10_000 };

/** Everything from this heading on in BENCHMARKS.md is kept across runs. */
const NOTES_HEADING = '## Notes';

const verdict = (met: boolean) => (met ? 'met' : 'missed');
const sections: string[] = [];
const log = (text: string) => {
  process.stdout.write(`${text}\n`);
  sections.push(text);
};

const startedAt = new Date();
log(`Machine: ${describeMachine()}`);

const stack = await startBenchStack();
try {
  const ttft = await benchTimeToFirstToken(stack, SIZES.ttftConcurrency, SIZES.ttftSamples);
  log('\n## Time to first token\n');
  log(
    'Time from starting a turn to its first text, in milliseconds. "model" is a streaming request straight to the scripted model; "service" is `chatStream` over graphql-ws through the whole service (auth, storage, prompt, model, event log). Target: p99 added ≤ 5 ms at 200 concurrent streams.\n',
  );
  log(
    table(
      ['concurrent streams', 'samples', 'model p50', 'model p99', 'service p50', 'service p99', 'added p50', 'added p99'],
      ttft.map((row) => [row.concurrency, row.samples, row.modelP50, row.modelP99, row.serviceP50, row.serviceP99, row.addedP50, row.addedP99]),
    ),
  );
  const at200 = ttft.find((row) => row.concurrency === 200);
  if (at200) log(`\nTarget p99 added ≤ 5 ms at 200: ${verdict(at200.addedP99 <= 5)} (${at200.addedP99} ms).`);

  const delivery = await benchDelivery(stack, SIZES.deliverySubscribers, SIZES.deliveryWords);
  log('\n## Token events delivered per second\n');
  log(
    `${delivery.subscribers} graphql-ws subscribers each receive a reply of ${delivery.eventsPerSubscriber} events (replayed through \`replyStream\`), against a bare graphql-yoga + graphql-ws server streaming the same number of events of the same shape. Target: ≥ 90 % of the baseline.\n`,
  );
  log(table(['baseline events/s', 'service events/s', 'ratio'], [[delivery.baselinePerSecond, delivery.replayPerSecond, delivery.replayRatio]]));
  log(`\nTarget ≥ 90 %: ${verdict(delivery.replayRatio >= 0.9)}.`);

  const query = await benchQueryRate(stack, 32, SIZES.querySeconds);
  log('\n## Authenticated query throughput\n');
  log(
    `\`conversation { messages(first: 50) }\` (id, role, content, status and createdAt of 50 messages) with an API key, rate limits and every plugin on, from ${query.concurrency} keep-alive connections in another process for ${query.seconds} s each, against \`{ hello }\` on a bare graphql-yoga server. Two more rows split the difference: the bare server answering the same query from memory (no authentication, limits or database), and the service answering \`{ viewer { id } }\` (authentication, limits and plugins with almost no work). Target: ≥ 60 % of the baseline.\n`,
  );
  log(
    table(
      ['server', 'query', 'requests/s', 'ratio to baseline'],
      [
        ['bare graphql-yoga (baseline)', '`{ hello }`', query.baselinePerSecond, 1],
        ['bare graphql-yoga', 'messages(first: 50) from memory', query.bareMessagesPerSecond, query.bareMessagesRatio],
        ['service', '`{ viewer { id } }`', query.viewerPerSecond, query.viewerRatio],
        ['service', 'messages(first: 50)', query.servicePerSecond, query.ratio],
      ],
    ),
  );
  if (query.serviceFailed > 0) log(`\n${query.serviceFailed} requests failed.`);
  log(`\nTarget ≥ 60 %: ${verdict(query.ratio >= 0.6)}.`);
} finally {
  await stack.stop();
}

const contexts = await benchContext(4000);
log('\n## Home context\n');
log(
  'Building the prompt\'s home context with a 4,000-token budget. "first build" indexes the home; later turns reuse the entity list and rebuild only the states. Target: ≤ 20 ms from cache and ≤ 4,000 tokens.\n',
);
log(
  table(
    ['home', 'entities', 'first build ms', 'cached median ms', 'cached p99 ms', 'tokens', 'sections'],
    contexts.map((row) => [row.home, row.entities, row.firstBuildMs, row.cachedMedianMs, row.cachedP99Ms, row.tokens, row.sections]),
  ),
);
log(`\nTarget: ${verdict(contexts.every((row) => row.cachedP99Ms <= 20 && row.tokens <= 4000))}.`);

const idle = await benchIdleMemory(SIZES.idleSubscriptions, {});
log('\n## Memory per idle subscription\n');
log(
  `${idle.subscriptions} WebSocket connections from another process, each with one \`conversationEvents\` subscription that receives nothing. Memory of the server process after a full garbage collection, before and after. Target: ≤ 40 KB each.\n`,
);
log(
  table(
    ['connected', 'RSS before MiB', 'RSS after MiB', 'heap before MiB', 'heap after MiB', 'RSS per subscription KiB', 'heap per subscription KiB'],
    [[idle.connected, idle.rssBeforeMiB, idle.rssAfterMiB, idle.heapBeforeMiB, idle.heapAfterMiB, idle.rssPerSubscriptionKiB, idle.heapPerSubscriptionKiB]],
  ),
);
// The target is in kilobytes (1,000 bytes), the table in KiB; the larger of RSS and heap must fit.
const perSubscriptionKB = (Math.max(idle.rssPerSubscriptionKiB, idle.heapPerSubscriptionKiB) * 1024) / 1000;
log(`\nTarget ≤ 40 KB: ${verdict(perSubscriptionKB <= 40)} (${Math.round(perSubscriptionKB * 10) / 10} KB).`);

const seconds = round((Date.now() - startedAt.getTime()) / 1000, 0);
log(`\nTotal time: ${seconds} s.`);

if (!values['no-write'] && !quick) {
  const header = [
    '# Benchmarks',
    '',
    `Produced by \`npm run bench\` (\`tsx test/bench/run.ts\`) on ${startedAt.toISOString()}. Every figure is compared with a baseline measured in the same run on the same machine; the service, the simulators and the load each run in their own process.`,
    '',
  ];
  // The notes at the end are written by hand, so a run replaces only the figures above them.
  const file = path.join(repoRoot, 'BENCHMARKS.md');
  const previous = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const notesAt = previous.indexOf(NOTES_HEADING);
  const notes = notesAt >= 0 ? previous.slice(notesAt) : `${NOTES_HEADING}\n\nNone yet.\n`;
  writeFileSync(file, `${[...header, ...sections].join('\n')}\n\n${notes}`);
  process.stdout.write('Wrote BENCHMARKS.md\n');
}
process.exit(0);
