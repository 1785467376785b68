import { Client } from 'pg';
import { advisoryKey, pgRetryDelayMs } from './election';
import { electionLog, LeaderElector, type ElectionLog } from './leader-elector';

export interface PgAdvisoryLeaderElectorOptions {
  connectionString: string;
  /** Election name; replicas with the same name compete for one lock. */
  name: string;
  identity: string;
  /** How often a replica that is not the leader tries to take the lock (and reconnects). */
  retryMs: number;
  /** How often the leader checks that its session is alive. */
  checkMs: number;
  /** Timeout of each query on the election session (default min(max(checkMs, 250), 2000)). */
  queryTimeoutMs?: number;
  /** Timeout of connecting (default 5000). */
  connectTimeoutMs?: number;
  log?: ElectionLog;
}

type State = 'idle' | 'running' | 'stopping';

const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/**
 * Leader election through a session-level Postgres advisory lock, for deployments outside
 * Kubernetes. The lock lives exactly as long as the session that took it, so the elector keeps a
 * DEDICATED connection (not one of the pool's, which are shared and recycled): when the leader
 * dies, even by SIGKILL, its session ends, Postgres frees the lock, and another replica takes it at
 * its next retry. The leader proves its session every `checkMs`; any error or end of the
 * connection is reported as loss at once, and the elector reconnects and campaigns again.
 */
export class PgAdvisoryLeaderElector extends LeaderElector {
  readonly kind = 'postgres' as const;
  readonly identity: string;
  readonly name: string;
  /** The advisory-lock key (signed 64-bit, decimal). */
  readonly key: string;
  private readonly queryTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  private state: State = 'idle';
  private client?: Client;
  private pid?: number;
  /** Whether the current session holds the lock (known even while stopping, when leadership is not announced). */
  private holding = false;
  /** Set when the session was lost involuntarily: the next retry waits a little longer. */
  private lostSession = false;
  private running?: Promise<void>;
  private stopping?: Promise<void>;
  private wake?: () => void;
  private lastProblem = '';

  constructor(private readonly opts: PgAdvisoryLeaderElectorOptions) {
    super(opts.log ?? electionLog(`LeaderElection:${opts.name}`));
    if (!(opts.retryMs > 0) || !(opts.checkMs > 0)) throw new Error('retryMs and checkMs must be greater than zero');
    this.identity = opts.identity;
    this.name = opts.name;
    this.key = advisoryKey(opts.name);
    this.queryTimeoutMs = opts.queryTimeoutMs ?? Math.min(Math.max(opts.checkMs, 250), 2000);
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 5000;
  }

  /** The Postgres backend pid of the election session, while connected (diagnostics). */
  get backendPid(): number | undefined {
    return this.pid;
  }

  async start(): Promise<void> {
    if (this.state !== 'idle') return;
    this.state = 'running';
    let firstAttempt!: () => void;
    const attempted = new Promise<void>((resolve) => (firstAttempt = resolve));
    this.running = this.loop(firstAttempt);
    await attempted;
  }

  stop(): Promise<void> {
    // A second caller waits for the same stop (and release) as the first.
    if (this.state === 'running') this.stopping = this.halt().finally(() => (this.stopping = undefined));
    return this.stopping ?? Promise.resolve();
  }

  private async halt(): Promise<void> {
    this.state = 'stopping';
    // Stop leading at once; a lock taken by a query still in flight is only released (see tryAcquire).
    this.setLeader(false, 'stopping');
    this.wake?.();
    await this.running;
    const client = this.client;
    this.client = undefined;
    this.pid = undefined;
    if (client) {
      if (this.holding) {
        // Ending the session would free the lock too; unlocking first is just explicit.
        await client.query('SELECT pg_advisory_unlock($1::bigint)', [this.key]).catch((err: unknown) => this.log.warn(`unlock failed: ${errorText(err)}`));
      }
      await this.endClient(client);
    }
    this.holding = false;
    this.state = 'idle';
  }

  private async loop(firstAttempt: () => void): Promise<void> {
    while (this.state === 'running') {
      if (this.holding) {
        await this.sleep(this.opts.checkMs);
        if (this.state !== 'running') break;
        await this.check();
        continue;
      }
      if (this.lostSession) {
        // Counted from the loss (sessionLost wakes the loop), not from the last check.
        this.lostSession = false;
        await this.sleep(pgRetryDelayMs(this.opts.retryMs, true));
        if (this.state !== 'running') break;
      }
      await this.tryAcquire();
      firstAttempt();
      if (this.state === 'running' && !this.holding && !this.lostSession) await this.sleep(this.opts.retryMs);
    }
    firstAttempt();
  }

  private async tryAcquire(): Promise<void> {
    let client: Client | undefined;
    try {
      client = this.client ?? (await this.connect());
      const r = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS locked', [this.key]);
      if (client !== this.client || !r.rows[0]?.locked) return;
      this.holding = true;
      // While stopping the lock is only released again: no leadership to announce.
      if (this.state === 'running') this.setLeader(true, `advisory lock ${this.key} taken`);
    } catch (err) {
      if (client) this.sessionLost(client, errorText(err));
      else this.problem(`cannot reach Postgres: ${errorText(err)}`);
    }
  }

  private async check(): Promise<void> {
    const client = this.client;
    if (!client) return;
    try {
      await client.query('SELECT 1');
    } catch (err) {
      this.sessionLost(client, `session check failed: ${errorText(err)}`);
    }
  }

  private async connect(): Promise<Client> {
    const client = new Client({
      connectionString: this.opts.connectionString,
      application_name: `pm-agent leader ${this.identity}`.slice(0, 63),
      connectionTimeoutMillis: this.connectTimeoutMs,
      query_timeout: this.queryTimeoutMs,
      keepAlive: true,
    });
    // Without an 'error' listener a dying connection would crash the process.
    client.on('error', (err) => this.sessionLost(client, errorText(err)));
    client.on('end', () => this.sessionLost(client, 'connection ended'));
    try {
      await client.connect();
      const r = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      this.client = client;
      this.pid = r.rows[0]?.pid;
      if (this.lastProblem) this.log.log('connected to Postgres again');
      this.lastProblem = '';
      return client;
    } catch (err) {
      await this.endClient(client);
      throw err;
    }
  }

  /** The session is gone or unusable: report loss at once and drop it (its lock dies with it). */
  private sessionLost(client: Client, why: string): void {
    if (client !== this.client) return;
    this.client = undefined;
    this.pid = undefined;
    const held = this.holding;
    this.holding = false;
    this.lostSession = true;
    if (held) this.log.warn(`lost the advisory lock: ${why}`);
    this.setLeader(false, `session lost: ${why}`);
    // A session that still answers slowly may hold the lock: end() destroys the socket if a query
    // is stuck, so the server ends the session and frees the lock.
    void this.endClient(client);
    this.wake?.();
  }

  private problem(text: string): void {
    // The same failure every retry period would drown the log.
    if (text !== this.lastProblem) this.log.warn(text);
    this.lastProblem = text;
  }

  private async endClient(client: Client): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      client.end().catch(() => undefined),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, this.queryTimeoutMs);
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        if (this.wake === done) this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      timer.unref();
      this.wake = done;
    });
  }
}
