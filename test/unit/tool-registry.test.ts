import { describe, expect, it } from 'vitest';
import { HOME_TOOLS } from '../../src/agent/tools/index.js';
import { ToolRegistry } from '../../src/agent/tools/registry.js';
import type { Caller } from '../../src/auth/caller.js';
import type { Scope } from '../../src/config.js';
import { countToolTokens } from '../../src/agent/prompt-builder.js';

const caller = (...scopes: Scope[]): Caller => ({ userId: 'user-1', scopes: new Set(scopes), credential: { kind: 'api-key', keyId: 'key-1' } });
const names = (registry: ToolRegistry, requester: Caller) =>
  registry.definitions({ caller: requester }).map((tool) => (tool.type === 'function' ? tool.function.name : tool.custom.name));

describe('ToolRegistry.definitions', () => {
  it('separates read-only and control callers', () => {
    const registry = new ToolRegistry(HOME_TOOLS);
    const full = names(registry, caller('chat', 'read', 'control'));
    const readOnly = names(registry, caller('chat', 'read'));
    const changing = HOME_TOOLS.filter((tool) => tool.changesState).map((tool) => tool.name);

    expect(changing.length).toBeGreaterThan(0);
    expect(full).toEqual(HOME_TOOLS.map((tool) => tool.name));
    expect(readOnly).toEqual(HOME_TOOLS.filter((tool) => !tool.changesState).map((tool) => tool.name));
    // Asked again, in the other order, each caller still gets its own list.
    expect(names(registry, caller('chat', 'read'))).toEqual(readOnly);
    expect(names(registry, caller('admin'))).toEqual(full);
  });

  it('reuses definitions and their token count', () => {
    const registry = new ToolRegistry(HOME_TOOLS);
    const first = registry.definitions({ caller: caller('chat', 'control') });
    const second = registry.definitions({ caller: caller('chat', 'control') });
    expect(second).toBe(first);
    const fresh = new ToolRegistry(HOME_TOOLS).definitions({ caller: caller('chat', 'control') });
    expect(fresh).toEqual(first);
    expect(countToolTokens(first)).toBe(countToolTokens(fresh));
    expect(countToolTokens(first)).toBeGreaterThan(100);
  });
});
