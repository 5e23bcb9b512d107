import { setMaxListeners } from 'node:events';

/**
 * Publish/subscribe for live events. The default lives in this process; the Redis variant (same interface)
 * reaches subscribers on every instance. Listeners run synchronously in publish order per topic.
 */
export interface EventBus {
  publish(topic: string, payload: unknown): void;
  /** Returns a function that removes the listener. */
  subscribe(topic: string, listener: (payload: unknown) => void): () => void;
  close(): Promise<void>;
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

export function createEventTargetBus(target: PayloadEventTarget, onClose: () => Promise<void> = async () => {}): EventBus {
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
      return () => target.removeEventListener(topic, handler);
    },
    close: onClose,
  };
}

export function createMemoryEventBus(): EventBus {
  const target = new EventTarget();
  // Every subscriber of a topic is a listener, and thousands of them on one conversation are normal.
  setMaxListeners(0, target);
  return createEventTargetBus(target);
}
