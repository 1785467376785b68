// Options of a PmAgentClient.

/** Who the agent is; sent with register_agent on every (re)connect. */
export interface AgentProfile {
  agent_id: string;
  name: string;
  role: string;
  skills?: string[];
  capacity?: number;
}

export interface BackoffOptions {
  /** First wait (ms); doubled (× factor) after each failure up to maxMs. */
  initialMs?: number;
  maxMs?: number;
  factor?: number;
}

export interface PmAgentClientOptions {
  /** Base URL of one replica (http://host:port). Use `urls` for several. */
  url?: string;
  /** Replica base URLs; the client moves to the next one when the current one fails. */
  urls?: readonly string[];
  /** Project API key, exchanged for an agent token over HTTP (again when the token is refused). */
  apiKey?: string;
  /** A token obtained elsewhere; used instead of (or before) the API key. */
  token?: string;
  agent: AgentProfile;
  /** Time to wait for one answer before the call is retried (default 10 s). */
  callTimeoutMs?: number;
  /** Attempts of one call, first included (default 5). */
  maxAttempts?: number;
  /** Time to wait for a socket to open, or for the token endpoint (default 5 s). */
  connectTimeoutMs?: number;
  /** Connection attempts (over all URLs) before a connect gives up (default 5 per URL, at least 8). */
  maxConnectAttempts?: number;
  backoff?: BackoffOptions;
}

export interface CallOptions {
  timeoutMs?: number;
}
