import { describe, expect, it } from 'vitest';
import { ToolCallAssembler } from '../../src/llm/tool-call-assembler.js';

describe('ToolCallAssembler', () => {
  it('joins argument fragments by index', () => {
    const assembler = new ToolCallAssembler();
    assembler.add({ index: 0, id: 'call_a', type: 'function', function: { name: 'get_states', arguments: '' } });
    assembler.add({ index: 1, id: 'call_b', type: 'function', function: { name: 'call_service', arguments: '' } });
    assembler.add({ index: 0, function: { arguments: '{"dom' } });
    assembler.add({ index: 1, function: { arguments: '{"domain":"light"' } });
    assembler.add({ index: 0, function: { arguments: 'ain":"light"}' } });
    assembler.add({ index: 1, function: { arguments: '}' } });
    expect(assembler.result()).toEqual([
      { id: 'call_a', name: 'get_states', arguments: '{"domain":"light"}' },
      { id: 'call_b', name: 'call_service', arguments: '{"domain":"light"}' },
    ]);
  });

  it('accepts a whole call in one delta', () => {
    const assembler = new ToolCallAssembler();
    assembler.add({ index: 0, id: 'call_x', type: 'function', function: { name: 'get_states', arguments: '{"domain":"fan"}' } });
    expect(assembler.result()).toEqual([{ id: 'call_x', name: 'get_states', arguments: '{"domain":"fan"}' }]);
  });

  it('starts a new call for a new id without index', () => {
    const assembler = new ToolCallAssembler();
    assembler.add({ id: 'call_1', function: { name: 'a', arguments: '{}' } });
    assembler.add({ id: 'call_2', function: { name: 'b', arguments: '{"x":' } });
    assembler.add({ function: { arguments: '1}' } });
    expect(assembler.result()).toEqual([
      { id: 'call_1', name: 'a', arguments: '{}' },
      { id: 'call_2', name: 'b', arguments: '{"x":1}' },
    ]);
  });

  it('keeps the first name when a server repeats it', () => {
    const assembler = new ToolCallAssembler();
    assembler.add({ index: 0, id: 'c', function: { name: 'get_states', arguments: '{' } });
    assembler.add({ index: 0, function: { name: 'get_states', arguments: '}' } });
    expect(assembler.result()[0]?.name).toBe('get_states');
  });
});
