import { z } from 'zod';

// Every environment variable pm-agent reads, with its default. README's config table mirrors this.
const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const num = (min: number, max: number) => z.coerce.number().min(min).max(max);

export const configSchema = z.object({
  PORT: int(0, 65535).default(3100),
  HOST: z.string().min(1).default('0.0.0.0'),
  LOG_LEVEL: z.enum(['error', 'warn', 'log', 'debug', 'verbose']).default('log'),
  LOG_FORMAT: z.enum(['auto', 'json', 'text']).default('auto'),
  PM_AGENT_DATA_DIR: z.string().min(1).default('./data'),
  DATABASE_URL: z.url().optional(),
  DATABASE_POOL_MAX: int(1, 500).default(10),
  DATABASE_STATEMENT_TIMEOUT_MS: int(0, 600_000).default(10_000),
  DATABASE_PREPARED_STATEMENTS: bool.default(true),
  PM_AGENT_EMBEDDED_DB: z.enum(['disk', 'memory']).default('disk'),
  PM_AGENT_ADMIN_KEY: z.string().min(16).optional(),
  PM_AGENT_JWT_SECRET: z.string().min(32).optional(),
  // Verify-only secrets kept during a rotation, so tokens signed before it still work until they expire.
  PM_AGENT_JWT_PREVIOUS_SECRETS: z
    .string()
    .regex(/^[^,\s]{32,}(,[^,\s]{32,})*$/, 'comma-separated secrets of at least 32 characters')
    .optional(),
  // A JWKS file of public keys (RS/PS/ES 256–512, each with a kid) for agent tokens issued elsewhere.
  PM_AGENT_JWT_PUBLIC_KEYS_FILE: z.string().min(1).optional(),
  PM_AGENT_JWT_EXTERNAL_ISSUER: z.string().min(1).max(256).default('pm-agent'),
  JWT_TTL_SECONDS: int(60, 24 * 3600).default(900),
  LEASE_TIMEOUT_SCALE: num(0.0001, 1000).default(1),
  LEASE_SWEEP_INTERVAL_MS: int(10, 3_600_000).default(5000),
  LEASE_INITIAL_SECONDS: num(1, 86_400).default(180),
  LEASE_INITIAL_GRACE_SECONDS: num(0, 86_400).default(60),
  LEASE_STARTED_SECONDS: num(1, 86_400).default(240),
  LEASE_STARTED_GRACE_SECONDS: num(0, 86_400).default(60),
  LEASE_MIDWAY_SECONDS: num(1, 86_400).default(300),
  LEASE_MIDWAY_GRACE_SECONDS: num(0, 86_400).default(60),
  LEASE_FINISHING_SECONDS: num(1, 86_400).default(360),
  LEASE_FINISHING_GRACE_SECONDS: num(0, 86_400).default(90),
  RETRY_AFTER_SECONDS: int(1, 3600).default(30),
  AGENT_DEFAULT_CAPACITY: int(1, 32).default(1),
  MAX_MESSAGE_BYTES: int(1024, 16 * 1024 * 1024).default(1_048_576),
  REDIS_CLUSTER_NODES: z
    .string()
    .regex(/^[^\s,:]+:\d+(,[^\s,:]+:\d+)*$/, 'comma-separated host:port list')
    .optional(),
  REDIS_URL: z.url().optional(),
  REDIS_KEY_PREFIX: z.string().regex(/^[a-z0-9_-]{1,32}$/).default('pm'),
  REPLICA_ID: z.string().regex(/^[A-Za-z0-9._-]{1,128}$/).optional(),
  RATE_LIMIT_AGENT_PER_MINUTE: int(1, 1_000_000).default(100),
  RATE_LIMIT_HANDSHAKE_PER_MINUTE: int(1, 1_000_000).default(120),
  MAX_CONNECTIONS_PER_REPLICA: int(1, 1_000_000).default(15_000),
  MAX_CALLS_IN_FLIGHT_PER_SOCKET: int(1, 10_000).default(16),
  MAX_REFUSED_CALLS_PER_SOCKET: int(1, 1_000_000).default(200),
  TOOL_CALL_TIMEOUT_MS: int(100, 600_000).default(30_000),
  HTTP_REQUEST_TIMEOUT_MS: int(1000, 600_000).default(30_000),
  HTTP_HEADERS_TIMEOUT_MS: int(1000, 600_000).default(10_000),
  KEY_REVOCATION_POLL_MS: int(100, 600_000).default(2000),
  PRESENCE_TTL_SECONDS: int(5, 3600).default(30),
  PRESENCE_HEARTBEAT_MS: int(100, 600_000).default(10_000),
  SHUTDOWN_GRACE_MS: int(0, 600_000).default(25_000),
  DRAIN_NOTICE_MS: int(0, 60_000).default(1000),
  RABBITMQ_URL: z.url().optional(),
  RABBITMQ_QUEUE_TYPE: z.enum(['classic', 'quorum']).default('classic'),
  RABBITMQ_PREFIX: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/).default('pm-agent'),
  RABBITMQ_PREFETCH: int(1, 10_000).default(32),
  CONSUMER_MAX_ATTEMPTS: int(1, 100).default(5),
  CONSUMER_RETRY_BASE_MS: int(1, 600_000).default(1000),
  OUTBOX_RELAY_ENABLED: bool.default(true),
  OUTBOX_RELAY_INTERVAL_MS: int(10, 60_000).default(250),
  OUTBOX_BATCH_SIZE: int(1, 10_000).default(500),
  OUTBOX_RETENTION_HOURS: num(0, 24 * 365).default(24),
  ANTHROPIC_API_KEY: z.string().min(1).optional(),
  ANTHROPIC_MODEL: z.string().min(1).default('claude-sonnet-5-5'),
  ANTHROPIC_BASE_URL: z.url().optional(),
  AI_TIMEOUT_MS: int(100, 600_000).default(30_000),
  AI_MAX_RETRIES: int(0, 10).default(2),
  MANAGEMENT_PORT: int(0, 65535).default(9464),
  MANAGEMENT_ENABLED: bool.default(true),
  CONSUL_HTTP_ADDR: z.string().regex(/^(https?:\/\/)?[^\s/]+(:\d+)?$/, 'host:port or http(s)://host:port').optional(),
  CONSUL_HTTP_TOKEN: z.string().min(1).optional(),
  CONSUL_SERVICE_NAME: z.string().regex(/^[a-z0-9-]{1,63}$/).default('pm-agent'),
  CONSUL_SERVICE_ADDRESS: z.string().min(1).optional(),
  CONSUL_TAGS: z.string().default(''),
  CONSUL_META: z.string().default(''),
  CONSUL_CHECK_INTERVAL: z.string().regex(/^\d+(ms|s|m)$/).default('10s'),
  CONSUL_CHECK_TIMEOUT: z.string().regex(/^\d+(ms|s|m)$/).default('2s'),
  CONSUL_DEREGISTER_AFTER: z.string().regex(/^\d+(ms|s|m|h)$/).default('1m'),
  PM_AGENT_GENERATE_SECRETS: bool.optional(),
  KANBAN_SYNC_INTERVAL_SECONDS: int(5, 86_400).default(60),
  KANBAN_WRITEBACK_INTERVAL_MS: int(50, 600_000).default(500),
  KANBAN_HTTP_TIMEOUT_MS: int(100, 600_000).default(10_000),
  KANBAN_HTTP_MAX_RETRIES: int(0, 10).default(3),
  KANBAN_HTTP_CONNECTIONS: int(1, 256).default(16),
  KANBAN_RATE_LIMIT_MAX_WAIT_MS: int(0, 3_600_000).default(30_000),
  KANBAN_BREAKER_FAILURES: int(1, 1000).default(5),
  KANBAN_BREAKER_RESET_MS: int(100, 3_600_000).default(60_000),
  KANBAN_CACHE_TTL_MS: int(0, 3_600_000).default(30_000),
  KANBAN_LOCAL_CACHE_TTL_MS: int(0, 3_600_000).default(2_000),
  LEADER_ELECTION: z.enum(['auto', 'kubernetes', 'postgres', 'local']).default('auto'),
  LEADER_ELECTION_NAME: z.string().regex(/^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$/).default('pm-agent-leader'),
  LEADER_ELECTION_NAMESPACE: z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/).optional(),
  LEADER_LEASE_SECONDS: int(2, 3600).default(15),
  LEADER_RENEW_DEADLINE_SECONDS: num(1, 3600).default(10),
  LEADER_RETRY_SECONDS: num(0.1, 600).default(2),
  KUBERNETES_SERVICE_HOST: z.string().optional(),
  DASHBOARD_ALLOWED_ORIGINS: z
    .string()
    .regex(/^\s*https?:\/\/[^\s,/]+\s*(,\s*https?:\/\/[^\s,/]+\s*)*$/, 'comma-separated list of origins like https://ops.example.com')
    .optional(),
  DASHBOARD_REFRESH_MS: int(100, 60_000).default(1000),
});

/** Board credentials are read from variables with this prefix, named in each project's board settings. */
export const BOARD_SECRET_ENV = /^PM_AGENT_BOARD_[A-Z0-9_]{1,64}$/;

export type RawConfig = z.infer<typeof configSchema> & { BOARD_SECRETS?: Readonly<Record<string, string>> };
