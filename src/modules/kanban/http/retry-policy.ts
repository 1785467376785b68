// When to retry a board API call and how long to wait: pure, so every header rule is unit-tested.

export interface RetryInput {
  /** HTTP status, or null for a network error or timeout. */
  status: number | null;
  headers: Readonly<Record<string, string | undefined>>;
  /** 0 for the first retry. */
  attempt: number;
  nowMs: number;
  baseMs: number;
  /** Random in [0, 1): jitter source. */
  random: number;
}

export type RetryDecision = { retry: false } | { retry: true; delayMs: number; rateLimited: boolean };

const BACKOFF_CAP_MS = 10_000;

function backoff(i: RetryInput): number {
  const exp = Math.min(BACKOFF_CAP_MS, i.baseMs * 2 ** i.attempt);
  return Math.round(exp / 2 + (exp / 2) * i.random); // "equal jitter": never less than half
}

/** Retry-After as seconds or an HTTP date. */
function retryAfterMs(h: RetryInput['headers'], nowMs: number): number | null {
  const v = h['retry-after'];
  if (v === undefined) return null;
  if (/^\d+(\.\d+)?$/.test(v.trim())) return Math.round(Number(v) * 1000);
  const at = Date.parse(v);
  return Number.isNaN(at) ? null : Math.max(0, at - nowMs);
}

/** GitHub: x-ratelimit-remaining 0 and x-ratelimit-reset in epoch seconds. */
function githubResetMs(h: RetryInput['headers'], nowMs: number): number | null {
  if (h['x-ratelimit-remaining'] !== '0') return null;
  const reset = Number(h['x-ratelimit-reset']);
  return Number.isFinite(reset) && reset > 0 ? Math.max(0, reset * 1000 - nowMs) : null;
}

/** Linear: x-ratelimit-{requests,complexity}-remaining 0 with -reset in epoch milliseconds. */
function linearResetMs(h: RetryInput['headers'], nowMs: number): number | null {
  let wait: number | null = null;
  for (const kind of ['requests', 'complexity']) {
    if (h[`x-ratelimit-${kind}-remaining`] !== '0') continue;
    const reset = Number(h[`x-ratelimit-${kind}-reset`]);
    if (Number.isFinite(reset) && reset > 0) wait = Math.max(wait ?? 0, reset - nowMs);
  }
  return wait === null ? null : Math.max(0, wait);
}

export function isRateLimited(status: number | null, headers: RetryInput['headers']): boolean {
  if (status === 429) return true;
  if (status !== 403) return false;
  return headers['x-ratelimit-remaining'] === '0' || headers['retry-after'] !== undefined;
}

export function retryDecision(i: RetryInput): RetryDecision {
  if (isRateLimited(i.status, i.headers)) {
    const told = retryAfterMs(i.headers, i.nowMs) ?? githubResetMs(i.headers, i.nowMs) ?? linearResetMs(i.headers, i.nowMs);
    return { retry: true, delayMs: told ?? backoff(i), rateLimited: true };
  }
  if (i.status === null || i.status === 500 || i.status === 502 || i.status === 503 || i.status === 504) {
    return { retry: true, delayMs: retryAfterMs(i.headers, i.nowMs) ?? backoff(i), rateLimited: false };
  }
  return { retry: false };
}
