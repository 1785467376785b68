import { Injectable } from '@nestjs/common';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { BOARD_SECRET_ENV, configSchema, type RawConfig } from './config.schema';
import type { LeaseSchedule } from '../modules/tasks/lease';

export class ConfigError extends Error {}

/** Reads and validates the environment once; fails naming every bad variable. */
export function parseConfig(env: NodeJS.ProcessEnv = process.env): RawConfig {
  const blanksRemoved = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v.trim() !== ''));
  const result = configSchema.safeParse(blanksRemoved);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const boardSecrets = Object.fromEntries(Object.entries(blanksRemoved).filter(([k]) => BOARD_SECRET_ENV.test(k))) as Record<string, string>;
  return { ...result.data, BOARD_SECRETS: boardSecrets };
}

/** The one validated config object. Nothing else reads process.env. */
@Injectable()
export class AppConfig {
  readonly port: number;
  readonly host: string;
  readonly logLevel: RawConfig['LOG_LEVEL'];
  readonly logFormat: 'json' | 'text';
  readonly dataDir: string;
  readonly database: {
    readonly url?: string;
    readonly poolMax: number;
    readonly statementTimeoutMs: number;
    /** Prepare each statement once per connection (off behind a transaction-mode pooler). */
    readonly preparedStatements: boolean;
    readonly embeddedStorage: 'disk' | 'memory';
  };
  readonly secrets: { adminKey?: string; jwtSecret?: string; jwtPreviousSecrets: string[] };
  readonly jwtTtlSeconds: number;
  /** Asymmetric verification of tokens issued elsewhere (JWKS file), when configured. */
  readonly jwtExternal: { readonly publicKeysFile?: string; readonly issuer: string };
  readonly limits: {
    readonly connectionsPerReplica: number;
    readonly callsInFlightPerSocket: number;
    /** Refused calls a socket may make within 10 s before it is disconnected. */
    readonly refusedCallsBeforeDisconnect: number;
    readonly toolCallTimeoutMs: number;
    readonly httpRequestTimeoutMs: number;
    readonly httpHeadersTimeoutMs: number;
  };
  readonly keyRevocationPollMs: number;
  readonly lease: LeaseSchedule & { sweepIntervalMs: number };
  readonly retryAfterSeconds: number;
  readonly agentDefaultCapacity: number;
  readonly maxMessageBytes: number;
  readonly redis: { readonly clusterNodes?: { host: string; port: number }[]; readonly url?: string; readonly keyPrefix: string };
  readonly replicaId: string;
  /** Internal port for health and metrics (0 = any free port); null when disabled. */
  readonly managementPort: number | null;
  readonly consul?: {
    readonly addr: string;
    readonly token?: string;
    readonly serviceName: string;
    readonly address?: string;
    readonly tags: string[];
    readonly meta: Record<string, string>;
    readonly checkInterval: string;
    readonly checkTimeout: string;
    readonly deregisterAfter: string;
  };
  readonly ai: { readonly apiKey?: string; readonly model: string; readonly baseUrl?: string; readonly timeoutMs: number; readonly maxRetries: number };
  readonly rabbitmq: {
    readonly url?: string;
    readonly queueType: 'classic' | 'quorum';
    readonly prefetch: number;
    readonly prefix: string;
  };
  readonly consumers: { readonly maxAttempts: number; readonly retryBaseMs: number };
  readonly outbox: { readonly relayEnabled: boolean; readonly relayIntervalMs: number; readonly batchSize: number; readonly retentionHours: number };
  readonly rateLimits: { readonly agentPerMinute: number; readonly handshakePerMinute: number };
  readonly presence: { readonly ttlSeconds: number; readonly heartbeatMs: number };
  readonly shutdown: { readonly graceMs: number; readonly drainNoticeMs: number };
  readonly kanban: {
    readonly syncIntervalMs: number;
    readonly writebackIntervalMs: number;
    readonly httpTimeoutMs: number;
    readonly httpMaxRetries: number;
    readonly httpConnections: number;
    readonly rateLimitMaxWaitMs: number;
    readonly breakerFailures: number;
    readonly breakerResetMs: number;
    readonly cacheTtlMs: number;
    readonly localCacheTtlMs: number;
  };
  readonly leaderElection: {
    readonly mode: 'kubernetes' | 'postgres' | 'local';
    readonly name: string;
    readonly namespace?: string;
    readonly leaseSeconds: number;
    readonly renewDeadlineSeconds: number;
    readonly retrySeconds: number;
  };
  /** Live dashboard: extra origins allowed to open /dashboard (besides the service's own), snapshot interval. */
  readonly dashboard: { readonly allowedOrigins: readonly string[]; readonly refreshMs: number };
  /** Board credentials by variable name (PM_AGENT_BOARD_*); never logged. */
  private readonly boardSecrets: Readonly<Record<string, string>>;
  /** Generating secrets is an embedded-mode convenience; cluster replicas must share them. */
  readonly generateSecrets: boolean;

  constructor(raw: RawConfig) {
    this.port = raw.PORT;
    this.logFormat = raw.LOG_FORMAT === 'auto' ? (process.stdout.isTTY ? 'text' : 'json') : raw.LOG_FORMAT;
    this.host = raw.HOST;
    this.logLevel = raw.LOG_LEVEL;
    this.dataDir = resolve(raw.PM_AGENT_DATA_DIR);
    this.database = {
      url: raw.DATABASE_URL,
      poolMax: raw.DATABASE_POOL_MAX,
      statementTimeoutMs: raw.DATABASE_STATEMENT_TIMEOUT_MS,
      preparedStatements: raw.DATABASE_PREPARED_STATEMENTS,
      embeddedStorage: raw.PM_AGENT_EMBEDDED_DB,
    };
    this.secrets = {
      adminKey: raw.PM_AGENT_ADMIN_KEY,
      jwtSecret: raw.PM_AGENT_JWT_SECRET,
      jwtPreviousSecrets: raw.PM_AGENT_JWT_PREVIOUS_SECRETS?.split(',') ?? [],
    };
    this.jwtTtlSeconds = raw.JWT_TTL_SECONDS;
    this.jwtExternal = { publicKeysFile: raw.PM_AGENT_JWT_PUBLIC_KEYS_FILE, issuer: raw.PM_AGENT_JWT_EXTERNAL_ISSUER };
    this.limits = {
      connectionsPerReplica: raw.MAX_CONNECTIONS_PER_REPLICA,
      callsInFlightPerSocket: raw.MAX_CALLS_IN_FLIGHT_PER_SOCKET,
      refusedCallsBeforeDisconnect: raw.MAX_REFUSED_CALLS_PER_SOCKET,
      toolCallTimeoutMs: raw.TOOL_CALL_TIMEOUT_MS,
      httpRequestTimeoutMs: raw.HTTP_REQUEST_TIMEOUT_MS,
      httpHeadersTimeoutMs: raw.HTTP_HEADERS_TIMEOUT_MS,
    };
    this.keyRevocationPollMs = raw.KEY_REVOCATION_POLL_MS;
    this.lease = {
      scale: raw.LEASE_TIMEOUT_SCALE,
      sweepIntervalMs: raw.LEASE_SWEEP_INTERVAL_MS,
      initial: { timeout: raw.LEASE_INITIAL_SECONDS, grace: raw.LEASE_INITIAL_GRACE_SECONDS },
      started: { timeout: raw.LEASE_STARTED_SECONDS, grace: raw.LEASE_STARTED_GRACE_SECONDS },
      midway: { timeout: raw.LEASE_MIDWAY_SECONDS, grace: raw.LEASE_MIDWAY_GRACE_SECONDS },
      finishing: { timeout: raw.LEASE_FINISHING_SECONDS, grace: raw.LEASE_FINISHING_GRACE_SECONDS },
    };
    this.retryAfterSeconds = raw.RETRY_AFTER_SECONDS;
    this.agentDefaultCapacity = raw.AGENT_DEFAULT_CAPACITY;
    this.maxMessageBytes = raw.MAX_MESSAGE_BYTES;
    this.redis = {
      clusterNodes: raw.REDIS_CLUSTER_NODES?.split(',').map((hp) => {
        const [host, port] = hp.split(':');
        return { host, port: Number(port) };
      }),
      url: raw.REDIS_URL,
      keyPrefix: raw.REDIS_KEY_PREFIX,
    };
    this.rabbitmq = { url: raw.RABBITMQ_URL, queueType: raw.RABBITMQ_QUEUE_TYPE, prefetch: raw.RABBITMQ_PREFETCH, prefix: raw.RABBITMQ_PREFIX };
    this.consumers = { maxAttempts: raw.CONSUMER_MAX_ATTEMPTS, retryBaseMs: raw.CONSUMER_RETRY_BASE_MS };
    this.outbox = { relayEnabled: raw.OUTBOX_RELAY_ENABLED, relayIntervalMs: raw.OUTBOX_RELAY_INTERVAL_MS, batchSize: raw.OUTBOX_BATCH_SIZE, retentionHours: raw.OUTBOX_RETENTION_HOURS };
    this.ai = {
      apiKey: raw.ANTHROPIC_API_KEY,
      model: raw.ANTHROPIC_MODEL,
      baseUrl: raw.ANTHROPIC_BASE_URL,
      timeoutMs: raw.AI_TIMEOUT_MS,
      maxRetries: raw.AI_MAX_RETRIES,
    };
    this.managementPort = raw.MANAGEMENT_ENABLED ? raw.MANAGEMENT_PORT : null;
    this.consul = raw.CONSUL_HTTP_ADDR
      ? {
          addr: raw.CONSUL_HTTP_ADDR,
          token: raw.CONSUL_HTTP_TOKEN,
          serviceName: raw.CONSUL_SERVICE_NAME,
          address: raw.CONSUL_SERVICE_ADDRESS,
          tags: raw.CONSUL_TAGS.split(',').map((t) => t.trim()).filter(Boolean),
          meta: Object.fromEntries(
            raw.CONSUL_META.split(',')
              .map((kv): string[] => kv.split('=').map((x) => x.trim()))
              .filter((kv) => kv.length === 2 && kv[0] !== '')
              .map((kv): [string, string] => [kv[0], kv[1]]),
          ),
          checkInterval: raw.CONSUL_CHECK_INTERVAL,
          checkTimeout: raw.CONSUL_CHECK_TIMEOUT,
          deregisterAfter: raw.CONSUL_DEREGISTER_AFTER,
        }
      : undefined;
    this.replicaId = raw.REPLICA_ID ?? `${hostname()}-${process.pid}`;
    this.rateLimits = { agentPerMinute: raw.RATE_LIMIT_AGENT_PER_MINUTE, handshakePerMinute: raw.RATE_LIMIT_HANDSHAKE_PER_MINUTE };
    this.presence = { ttlSeconds: raw.PRESENCE_TTL_SECONDS, heartbeatMs: raw.PRESENCE_HEARTBEAT_MS };
    this.shutdown = { graceMs: raw.SHUTDOWN_GRACE_MS, drainNoticeMs: raw.DRAIN_NOTICE_MS };
    this.kanban = {
      syncIntervalMs: raw.KANBAN_SYNC_INTERVAL_SECONDS * 1000,
      writebackIntervalMs: raw.KANBAN_WRITEBACK_INTERVAL_MS,
      httpTimeoutMs: raw.KANBAN_HTTP_TIMEOUT_MS,
      httpMaxRetries: raw.KANBAN_HTTP_MAX_RETRIES,
      httpConnections: raw.KANBAN_HTTP_CONNECTIONS,
      rateLimitMaxWaitMs: raw.KANBAN_RATE_LIMIT_MAX_WAIT_MS,
      breakerFailures: raw.KANBAN_BREAKER_FAILURES,
      breakerResetMs: raw.KANBAN_BREAKER_RESET_MS,
      cacheTtlMs: raw.KANBAN_CACHE_TTL_MS,
      localCacheTtlMs: raw.KANBAN_LOCAL_CACHE_TTL_MS,
    };
    // In a pod: a Lease; with a shared database: an advisory lock; alone: always the leader.
    const mode = raw.LEADER_ELECTION === 'auto' ? (raw.KUBERNETES_SERVICE_HOST ? 'kubernetes' : raw.DATABASE_URL ? 'postgres' : 'local') : raw.LEADER_ELECTION;
    this.leaderElection = {
      mode,
      name: raw.LEADER_ELECTION_NAME,
      namespace: raw.LEADER_ELECTION_NAMESPACE,
      leaseSeconds: raw.LEADER_LEASE_SECONDS,
      // client-go's rules: lease > renew deadline > 1.2 × retry period.
      renewDeadlineSeconds: Math.min(raw.LEADER_RENEW_DEADLINE_SECONDS, raw.LEADER_LEASE_SECONDS - 1),
      retrySeconds: Math.min(raw.LEADER_RETRY_SECONDS, Math.min(raw.LEADER_RENEW_DEADLINE_SECONDS, raw.LEADER_LEASE_SECONDS - 1) / 1.25),
    };
    this.dashboard = {
      allowedOrigins: (raw.DASHBOARD_ALLOWED_ORIGINS ?? '').split(',').map((o) => o.trim()).filter(Boolean).map((o) => new URL(o).origin),
      refreshMs: raw.DASHBOARD_REFRESH_MS,
    };
    this.boardSecrets = raw.BOARD_SECRETS ?? {};
    // Replicas sharing a database or Redis must share secrets: generation is embedded-only.
    this.generateSecrets = raw.PM_AGENT_GENERATE_SECRETS ?? (this.database.url === undefined && !this.sharedState);
  }

  /** Every secret value in the config, for the log redactor (passwords inside URLs included). */
  secretValues(): string[] {
    const urlPassword = (u?: string) => {
      try {
        return u ? decodeURIComponent(new URL(u).password) : undefined;
      } catch {
        return undefined;
      }
    };
    return [
      this.secrets.adminKey,
      this.secrets.jwtSecret,
      ...this.secrets.jwtPreviousSecrets,
      this.ai.apiKey,
      this.consul?.token,
      urlPassword(this.database.url),
      urlPassword(this.redis.url),
      urlPassword(this.rabbitmq.url),
      ...Object.values(this.boardSecrets),
    ].filter((v): v is string => typeof v === 'string' && v !== '');
  }

  /** A board credential by variable name; only PM_AGENT_BOARD_* variables are readable. */
  boardSecret(name: string): string | undefined {
    return BOARD_SECRET_ENV.test(name) ? this.boardSecrets[name] : undefined;
  }

  /** Shared state across replicas lives in Redis (a Cluster or a single server). */
  get sharedState(): boolean {
    return this.redis.clusterNodes !== undefined || this.redis.url !== undefined;
  }

  get embedded(): boolean {
    return this.database.url === undefined;
  }
}
