export interface AssembledToolCall {
  /** The id the model gave the call; the tool result goes back under it. */
  id: string;
  name: string;
  /** The raw JSON text of the arguments, exactly as the model produced it. */
  arguments: string;
}

export interface ToolCallDelta {
  index?: number;
  id?: string;
  type?: string;
  function?: { name?: string | null; arguments?: string | null } | null;
}

/**
 * Joins streamed tool-call deltas by their `index`. OpenAI sends the id and name in the first delta and
 * the arguments in fragments; some compatible servers send a whole call in one delta or omit the index,
 * so a delta without index that carries a new id starts a new call.
 */
export class ToolCallAssembler {
  private readonly calls = new Map<number, { id: string; name: string; arguments: string }>();
  private lastIndex = -1;

  add(delta: ToolCallDelta): void {
    let index = delta.index;
    if (index === undefined) {
      const current = this.calls.get(this.lastIndex);
      index = current && (!delta.id || delta.id === current.id) ? this.lastIndex : this.lastIndex + 1;
    }
    this.lastIndex = Math.max(this.lastIndex, index);

    const call = this.calls.get(index) ?? { id: '', name: '', arguments: '' };
    if (delta.id) call.id = delta.id;
    if (delta.function?.name && !call.name) call.name = delta.function.name;
    if (delta.function?.arguments) call.arguments += delta.function.arguments;
    this.calls.set(index, call);
  }

  get size(): number {
    return this.calls.size;
  }

  /** The calls in index order. Calls without an id get a generated one, since the result must refer to some id. */
  result(): AssembledToolCall[] {
    return [...this.calls.entries()]
      .sort(([a], [b]) => a - b)
      .map(([index, call]) => ({
        id: call.id || `call_${index}`,
        name: call.name,
        arguments: call.arguments,
      }));
  }
}
