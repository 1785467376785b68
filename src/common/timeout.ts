import { AppError, CommonErrorCode } from './errors';

/** Rejects when `p` takes longer than `ms` (the work itself is not cancelled). */
export function withTimeout<T>(p: Promise<T>, ms: number, what = 'operation'): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

/**
 * A tool call bounded by `ms`: past it the caller is told to retry (with the same request_id,
 * which makes the retry safe whether or not the first attempt went through).
 */
export async function withCallTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  const late = Symbol('late');
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([p, new Promise<typeof late>((resolve) => (timer = setTimeout(() => resolve(late), ms)))]).finally(() => clearTimeout(timer));
  if (outcome === late) throw new AppError(CommonErrorCode.UNAVAILABLE, 'The call took too long; retry with the same request_id', { retry_after_seconds: 1 });
  return outcome;
}
