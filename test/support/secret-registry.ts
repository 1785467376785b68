// Secrets the tests mint (admin keys, JWT secrets, project keys, agent tokens), registered by the
// helpers that create them; test/support/setup.ts fails a test file whose output shows any.
// No vitest import here: the benchmarks use the same helpers outside vitest.

const SECRETS_KEY = Symbol.for('pm-agent.test.secrets');
type Globals = typeof globalThis & { [SECRETS_KEY]?: Set<string> };
const g = globalThis as Globals;

/** Registers a secret value the tests created; the test file fails if any output contains it. */
export function watchSecret(value: string | undefined | null): void {
  if (typeof value === 'string' && value.length >= 12) (g[SECRETS_KEY] ??= new Set()).add(value);
}

export function watchedSecrets(): string[] {
  return [...(g[SECRETS_KEY] ?? [])];
}
