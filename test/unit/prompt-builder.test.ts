import { describe, expect, it } from 'vitest';
import type { HistoryUnit } from '../../src/agent/history.js';
import { buildPrompt } from '../../src/agent/prompt-builder.js';
import { AppError } from '../../src/security/errors.js';

const unit = (role: 'user' | 'assistant', content: string, tokens: number): HistoryUnit => ({ messages: [{ role, content }], tokens });

describe('buildPrompt', () => {
  it('keeps the newest history units that fit', () => {
    const history = [unit('user', 'one', 100), unit('assistant', 'two', 100), unit('user', 'three', 100), unit('assistant', 'four', 100)];
    const prompt = buildPrompt({ system: 'sys', context: '', history, message: 'now', tools: [] }, 230);
    const contents = prompt.messages.map((message) => message.content);
    expect(contents).toEqual(['sys', 'three', 'four', 'now']);
    expect(prompt.breakdown.historyMessages).toBe(2);
    expect(prompt.breakdown.history).toBe(200);
  });

  it('never starts the history with an assistant reply', () => {
    const history = [unit('user', 'one', 100), unit('assistant', 'two', 100)];
    const prompt = buildPrompt({ system: 'sys', context: '', history, message: 'now', tools: [] }, 130);
    expect(prompt.messages.map((message) => message.content)).toEqual(['sys', 'now']);
    expect(prompt.breakdown.historyMessages).toBe(0);
  });

  it('rejects a message that cannot fit with the system prompt', () => {
    expect(() => buildPrompt({ system: 'sys', context: '', history: [], message: 'word '.repeat(500), tools: [] }, 300)).toThrow(AppError);
    try {
      buildPrompt({ system: 'sys', context: '', history: [], message: 'word '.repeat(500), tools: [] }, 300);
    } catch (error) {
      expect((error as AppError).code).toBe('BAD_USER_INPUT');
      expect((error as AppError).message).toContain('300 tokens');
    }
  });

  it('leaves out a context that does not fit', () => {
    const prompt = buildPrompt({ system: 'sys', context: 'ctx '.repeat(400), history: [], message: 'now', tools: [] }, 300);
    expect(prompt.breakdown.context).toBe(0);
    expect(prompt.messages).toHaveLength(2);
  });
});
