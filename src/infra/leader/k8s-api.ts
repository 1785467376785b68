import { CoordinationV1Api, KubeConfig } from '@kubernetes/client-node';

// The Kubernetes API as the Lease elector uses it: clients, and failures described without secrets.

/** The CoordinationV1 API of the cluster this pod runs in (service-account token, in-cluster CA). */
export function kubernetesCoordinationApi(): CoordinationV1Api {
  const kc = new KubeConfig();
  kc.loadFromCluster();
  return kc.makeApiClient(CoordinationV1Api);
}

/** A CoordinationV1 API talking plain HTTP to `serverUrl` with a bearer token (tests, against a fake API server). */
export function coordinationApiFor(serverUrl: string, token = 'test-token'): CoordinationV1Api {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'test', server: serverUrl, skipTLSVerify: true }],
    users: [{ name: 'test', token }],
    contexts: [{ name: 'test', cluster: 'test', user: 'test' }],
    currentContext: 'test',
  });
  return kc.makeApiClient(CoordinationV1Api);
}

/** The status code of a failed API call (client-node's ApiException), if it got an answer. */
export function statusCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** A short description of a failure; never the request (no tokens) nor response headers. */
export function describeApiFailure(err: unknown): string {
  const code = statusCode(err);
  if (code !== undefined) {
    const body = (err as { body?: unknown }).body;
    const parsed: unknown = typeof body === 'string' ? safeJson(body) : body;
    const status = parsed as { reason?: unknown; message?: unknown } | undefined;
    const reason = typeof status?.reason === 'string' ? status.reason : '';
    const message = typeof status?.message === 'string' ? `: ${status.message}` : '';
    return `HTTP ${code}${reason ? ` ${reason}` : ''}${message}`;
  }
  if (err instanceof Error) return err.name === 'AbortError' ? 'request timed out' : err.message;
  return String(err);
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}
