import { format } from 'node:util';
import { afterAll, expect } from 'vitest';
import { watchedSecrets } from './secret-registry';

// Log capture over the whole suite: every test file (vitest setupFiles) records everything its
// process writes (service logs, console, the SDK), and the helpers that mint secrets (admin keys,
// JWT secrets, project keys, agent tokens) register them here. After the file, none may appear.

const OUTPUT_KEY = Symbol.for('pm-agent.test.output');
type Globals = typeof globalThis & { [OUTPUT_KEY]?: string[] };
const g = globalThis as Globals;

export { watchSecret } from './secret-registry';

/** Installs the capture once per test file (called from the vitest setup file). */
export function installSecretWatch(): void {
  if (g[OUTPUT_KEY]) return;
  const output: string[] = (g[OUTPUT_KEY] = []);
  let size = 0;
  const keep = (text: string) => {
    // Bounded: the oldest output goes first on a very chatty file.
    output.push(text);
    size += text.length;
    while (size > 64 * 1024 * 1024 && output.length > 1) size -= output.shift()!.length;
  };
  for (const stream of [process.stdout, process.stderr]) {
    const original = stream.write;
    stream.write = function (this: NodeJS.WriteStream, chunk: unknown, ...rest: unknown[]) {
      keep(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
      return (original as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
    };
  }
  for (const m of ['log', 'info', 'warn', 'error', 'debug'] as const) {
    const original = console[m];
    console[m] = (...args: unknown[]) => {
      keep(format(...args));
      original.apply(console, args);
    };
  }
  afterAll(() => {
    const all = output.join('');
    const leaked = watchedSecrets().filter((s) => all.includes(s));
    // Name the leak by its length and first characters only: the report must not leak it again.
    expect(leaked.map((s) => `${s.slice(0, 6)}… (${s.length} chars)`), 'secret values found in the output of this test file').toEqual([]);
  });
}
