import { getOperationAST, Kind, type DocumentNode } from 'graphql';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';
import type { Metrics } from './metrics.js';

/**
 * Returns the first root field of the operation, which names it in metrics. Only fields of the schema pass
 * validation, so the label has a bounded set of values, unlike client-chosen operation names.
 */
function rootField(document: DocumentNode, operationName: string | null | undefined): string {
  const operation = getOperationAST(document, operationName);
  const first = operation?.selectionSet.selections.find((selection) => selection.kind === Kind.FIELD);
  return first?.kind === Kind.FIELD ? first.name.value : 'unknown';
}

/** Counts operations by type and root field, and tracks the subscriptions open on this instance. */
export function useOperationMetrics(metrics: Metrics): Plugin {
  return {
    onExecute({ args }) {
      const operation = getOperationAST(args.document, args.operationName);
      metrics.operations.inc({ type: operation?.operation ?? 'unknown', field: rootField(args.document, args.operationName) });
    },
    onSubscribe({ args }) {
      const field = rootField(args.document, args.operationName);
      metrics.operations.inc({ type: 'subscription', field });
      metrics.activeSubscriptions.inc({ field });
      let open = true;
      const close = () => {
        if (!open) return;
        open = false;
        metrics.activeSubscriptions.dec({ field });
      };
      return {
        onSubscribeResult({ result }) {
          if (!isAsyncIterable(result)) {
            close();
            return;
          }
          return { onEnd: close };
        },
        onSubscribeError: close,
      };
    },
  };
}
