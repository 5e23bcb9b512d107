import { createRedisEventTarget } from '@graphql-yoga/redis-event-target';
import { Redis } from 'ioredis';
import type { Logger } from '../observability/logger.js';
import { createEventTargetBus, type EventBus, type PayloadEventTarget } from './event-bus.js';

/** Time allowed for the first connection at startup, in milliseconds. */
const CONNECT_TIMEOUT_MS = 5_000;

export interface RedisEventBus extends EventBus {
  /** Sends PING for readiness checks; rejects when Redis does not respond within timeoutMs. */
  ping(timeoutMs: number): Promise<void>;
}

/** REDIS_URL without its password, for messages and logs. */
export function redactRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'REDIS_URL';
  }
}

function withTimeout<T>(promise: Promise<T>, timeoutMs: number, operation: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${operation} timed out after ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Logs a connection's errors once per outage: ioredis reports every failed reconnect attempt, and a
 * Redis restart would otherwise fill the log.
 */
function watchConnection(client: Redis, role: string, logger: Logger): void {
  let failing = false;
  client.on('error', (error: Error) => {
    if (failing) return;
    failing = true;
    logger.warn({ event: 'redis.error', role, err: { message: error.message } }, 'Redis connection failed; retrying');
  });
  client.on('ready', () => {
    if (!failing) return;
    failing = false;
    logger.info({ event: 'redis.reconnected', role }, 'Redis connection restored');
  });
}

/**
 * Creates an event bus over Redis pub/sub, so reply events reach subscribers on every instance. It uses two
 * connections, because a Redis connection in subscriber mode cannot publish.
 *
 * Every channel starts with `channelPrefix` (REDIS_KEY_PREFIX), so deployments that share one Redis
 * never see each other's events or cancel requests.
 *
 * Redis keeps no history: events published while a subscriber's connection is down never reach it.
 * Reply streams recover those from stored events (see followReply).
 */
export async function createRedisEventBus(url: string, logger: Logger, channelPrefix: string): Promise<RedisEventBus> {
  const options = { lazyConnect: true, connectTimeout: CONNECT_TIMEOUT_MS, maxRetriesPerRequest: 2 };
  const publisher = new Redis(url, { ...options, connectionName: 'ha-ai-agent-publish', enableOfflineQueue: false });
  const subscriber = new Redis(url, { ...options, connectionName: 'ha-ai-agent-subscribe' });
  watchConnection(publisher, 'publish', logger);
  watchConnection(subscriber, 'subscribe', logger);

  try {
    await withTimeout(Promise.all([publisher.connect(), subscriber.connect()]), CONNECT_TIMEOUT_MS, 'Connecting');
  } catch (error) {
    publisher.disconnect();
    subscriber.disconnect();
    throw new Error(`Redis at REDIS_URL could not be reached (${redactRedisUrl(url)}): ${(error as Error).message}. Check REDIS_URL.`);
  }

  let droppedPublishes = 0;
  const reportDropped = (error: Error) => {
    droppedPublishes += 1;
    // One line for the first failure and then one per thousand, so an outage stays readable.
    if (droppedPublishes % 1000 === 1) {
      logger.warn(
        { event: 'redis.publish_failed', dropped: droppedPublishes, err: { message: error.message } },
        'Publishing to Redis failed; subscribers will read stored events',
      );
    }
  };

  // redis-event-target calls publish, subscribe and unsubscribe without handling their promises. These
  // adapters catch the rejections (Redis down), which would otherwise end the process as unhandled.
  const publishAdapter = {
    publish: (channel: string, message: string) => publisher.publish(channel, message).catch(reportDropped),
  };
  const subscribeAdapter = {
    on: (event: 'message', listener: (channel: string, message: string) => void) => subscriber.on(event, listener),
    subscribe: (channel: string) => subscriber.subscribe(channel).catch(() => undefined),
    unsubscribe: (channel: string) => subscriber.unsubscribe(channel).catch(() => undefined),
  };
  const target = createRedisEventTarget({
    publishClient: publishAdapter as unknown as Redis,
    subscribeClient: subscribeAdapter as unknown as Redis,
  }) as unknown as PayloadEventTarget;

  const prefixed: PayloadEventTarget = {
    addEventListener: (type, listener) => target.addEventListener(channelPrefix + type, listener),
    removeEventListener: (type, listener) => target.removeEventListener(channelPrefix + type, listener),
    dispatchEvent: (event) => target.dispatchEvent(new CustomEvent(channelPrefix + event.type, { detail: (event as CustomEvent).detail })),
  };

  const bus = createEventTargetBus(prefixed, {
    // Redis processes the commands of one connection in order, so when this second SUBSCRIBE is confirmed,
    // the one the event target sent before it is active too.
    subscribed: (topic) =>
      subscriber.subscribe(channelPrefix + topic).then(
        () => undefined,
        (error: Error) => logger.warn({ event: 'redis.subscribe_failed', err: { message: error.message } }, 'Subscribing in Redis failed'),
      ),
    onClose: async () => {
      await Promise.allSettled([subscriber.quit(), publisher.quit()]);
      subscriber.disconnect();
      publisher.disconnect();
    },
  });

  return {
    ...bus,
    async ping(timeoutMs) {
      await withTimeout(publisher.ping(), timeoutMs, 'Redis PING');
    },
  };
}
