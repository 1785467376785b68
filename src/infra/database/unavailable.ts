// Errors that say the database is out of reach for now (restarting, unreachable, saturated), not
// that the work is wrong: the caller should try again later, and nothing should count them as the
// work's own failures.

const MESSAGE = /timeout exceeded when trying to connect|Connection terminated|ECONNREFUSED|ECONNRESET|the database system is (starting up|shutting down|in recovery mode)|too many clients|terminating connection due to administrator command/i;

/** SQLSTATE classes and codes of an unavailable server: connection exceptions, shutdown, too many connections. */
const CODE = /^(08...|57P0[1-3]|53300)$/;

export function isDatabaseUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  return (typeof code === 'string' && (CODE.test(code) || code === 'ECONNREFUSED' || code === 'ECONNRESET')) || MESSAGE.test(err.message);
}
