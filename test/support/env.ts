// Where the real services of this machine are (set by .ci/run; these are its defaults).
export const TEST_DATABASE_URL = process.env.PM_AGENT_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const TEST_REDIS_CLUSTER = process.env.PM_AGENT_TEST_REDIS_CLUSTER ?? '127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002';
export const TEST_REDIS_URL = process.env.PM_AGENT_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const TEST_RABBITMQ_URL = process.env.PM_AGENT_TEST_RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
