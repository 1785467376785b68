/** A non-2xx answer from the service, carrying its `{ code, error }` body. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export class Api {
  constructor(readonly url: string) {}

  async request<T>(method: string, path: string, key: string | undefined, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.url}${path}`, {
        method,
        headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(key ? { authorization: `Bearer ${key}` } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
      throw new ApiError(0, 'UNREACHABLE', `cannot reach ${this.url}${cause}`);
    }
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = null; // a proxy's HTML error page, say
    }
    if (!res.ok) {
      const b = (parsed ?? {}) as { code?: unknown; error?: unknown };
      throw new ApiError(res.status, typeof b.code === 'string' ? b.code : `HTTP_${res.status}`, typeof b.error === 'string' ? b.error : res.statusText);
    }
    return parsed as T;
  }
}
