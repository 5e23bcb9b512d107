import { setMaxListeners } from 'node:events';

/**
 * Publish/subscribe for live events. The default lives in this process; the Redis variant (same interface)
 * reaches subscribers on every instance. Listeners run synchronously in publish order per topic.
 */
export interface EventBus {
  publish(topic: string, payload: unknown): void;
  /** Returns a function that removes the listener. */
  subscribe(topic: string, listener: (payload: unknown) => void): Unsubscribe;
  close(): Promise<void>;
}

/** Removes a listener when called. */
export interface Unsubscribe {
  (): void;
  /**
   * Settles once events published from now on reach the listener. Immediate in memory; with Redis it
   * waits for the server to confirm the subscription. It never rejects: a failed subscription is
   * logged, and readers fall back to stored events.
   */
  readonly ready: Promise<void>;
}

/**
 * Minimal view of an EventTarget that carries payloads as CustomEvent details. Node's EventTarget and
 * `@graphql-yoga/redis-event-target` both fit it.
 */
export interface PayloadEventTarget {
  addEventListener(type: string, listener: (event: Event) => void): void;
  removeEventListener(type: string, listener: (event: Event) => void): void;
  dispatchEvent(event: Event): boolean;
}

export interface EventTargetBusOptions {
  onClose?: () => Promise<void>;
  /** Resolves once the target delivers the topic's events; immediate when omitted. */
  subscribed?: (topic: string) => Promise<void>;
}

export function createEventTargetBus(target: PayloadEventTarget, options: EventTargetBusOptions = {}): EventBus {
  return {
    publish(topic, payload) {
      target.dispatchEvent(new CustomEvent(topic, { detail: payload }));
    },
    subscribe(topic, listener) {
      // Node rethrows listener exceptions as uncaught errors, which would end the process; a faulty
      // subscriber must only lose its own event.
      const handler = (event: Event) => {
        try {
          listener((event as CustomEvent).detail);
        } catch {
          // The subscriber reports its own failures.
        }
      };
      target.addEventListener(topic, handler);
      const unsubscribe = () => target.removeEventListener(topic, handler);
      return Object.assign(unsubscribe, { ready: options.subscribed ? options.subscribed(topic) : Promise.resolve() });
    },
    close: options.onClose ?? (async () => {}),
  };
}

export function createMemoryEventBus(): EventBus {
  const target = new EventTarget();
  // Every subscriber of a topic is a listener, and thousands of them on one conversation are normal.
  setMaxListeners(0, target);
  return createEventTargetBus(target);
}
