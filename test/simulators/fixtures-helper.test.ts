import { afterEach, describe, expect, it, vi } from 'vitest';

import { FIXTURES_PATH, fixturesDir, requireFixtures } from '../support/fixtures.js';

describe('requireFixtures', () => {
  const originalCi = process.env.CI;

  afterEach(() => {
    if (originalCi === undefined) {
      delete process.env.CI;
    } else {
      process.env.CI = originalCi;
    }
    vi.restoreAllMocks();
  });

  function fakeContext() {
    return {
      skip: vi.fn((note?: string): never => {
        throw new Error(`skip: ${note}`);
      }),
    };
  }

  it('fails under CI when fixtures are missing', () => {
    process.env.CI = 'true';
    const ctx = fakeContext();
    expect(() => requireFixtures(ctx, 'no-such-folder')).toThrow(/Fixtures missing at .*no-such-folder/);
    expect(ctx.skip).not.toHaveBeenCalled();
  });

  it('skips with a reason outside CI', () => {
    delete process.env.CI;
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const ctx = fakeContext();
    expect(() => requireFixtures(ctx, 'no-such-folder')).toThrow(/^skip: skipped: fixtures missing/);
    expect(ctx.skip).toHaveBeenCalledTimes(1);
    expect(console.warn).toHaveBeenCalledWith(expect.stringContaining('no-such-folder'));
  });

  it('returns existing paths unchanged', () => {
    expect(fixturesDir('no-such-folder')).toBeUndefined();
    const found = fixturesDir();
    if (found !== undefined) {
      expect(found).toBe(FIXTURES_PATH);
      expect(requireFixtures(fakeContext())).toBe(FIXTURES_PATH);
    }
  });
});
