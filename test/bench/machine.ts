import { cpus, freemem, release, totalmem, type } from 'node:os';

/** One line that says what the figures were measured on. */
export function describeMachine(): string {
  const processors = cpus();
  const model = processors[0]?.model.trim() ?? 'unknown CPU';
  const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(1)} GiB`;
  return `${processors.length} × ${model}, ${gib(totalmem())} RAM (${gib(freemem())} free at start), ${type()} ${release()}, Node.js ${process.version}`;
}
