import type { ObjectRef } from '@pothos/core';
import type { Page } from '../../conversations/conversation-service.js';
import type { Builder, SchemaTypes } from '../builder.js';

type Types = PothosSchemaTypes.ExtendDefaultTypes<SchemaTypes>;

const pageInfos = new WeakMap<Builder, ObjectRef<Types, Page<unknown>>>();

/** Adds the Relay PageInfo type to the builder once, and returns it on every call. */
export function addPageInfo(builder: Builder): ObjectRef<Types, Page<unknown>> {
  const existing = pageInfos.get(builder);
  if (existing) return existing;
  const pageInfo = builder.objectRef<Page<unknown>>('PageInfo');
  builder.objectType(pageInfo, {
    description: 'Relay page information.',
    fields: (t) => ({
      hasNextPage: t.exposeBoolean('hasNextPage'),
      hasPreviousPage: t.exposeBoolean('hasPreviousPage'),
      startCursor: t.string({ nullable: true, resolve: (page) => page.cursors[0] ?? null }),
      endCursor: t.string({ nullable: true, resolve: (page) => page.endCursor ?? page.cursors.at(-1) ?? null }),
    }),
  });
  pageInfos.set(builder, pageInfo);
  return pageInfo;
}

/** Implements a Relay connection type (`edges { cursor node }` and `pageInfo`) over a Page. */
export function implementConnection<Node>(
  builder: Builder,
  refs: { connection: ObjectRef<Types, Page<Node>>; node: ObjectRef<Types, Node>; pageInfo: ObjectRef<Types, Page<unknown>> },
  description: string,
): void {
  const edge = builder.objectRef<{ cursor: string; node: Node }>(refs.connection.name.replace(/Connection$/, 'Edge'));
  builder.objectType(edge, {
    fields: (t) => ({
      cursor: t.exposeString('cursor'),
      // The cast only bridges Pothos's conditional resolver type, which cannot see through a generic Node.
      node: t.field({ type: refs.node, resolve: (item) => item.node as never }),
    }),
  });
  builder.objectType(refs.connection, {
    description,
    fields: (t) => ({
      edges: t.field({
        type: [edge],
        resolve: (page) => page.items.map((node, index) => ({ node, cursor: page.cursors[index] ?? '' })),
      }),
      pageInfo: t.field({ type: refs.pageInfo, resolve: (page) => page as Page<unknown> }),
    }),
  });
}
