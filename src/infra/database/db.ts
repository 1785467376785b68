import { Logger } from '@nestjs/common';
import { Pool, type PoolClient, type QueryResultRow } from 'pg';
import { AppConfig } from '../../config/app-config';
import { EmbeddedPostgres } from './embedded-postgres';
import { runMigrations } from './migrate';
import { prepareStatements } from './statement-cache';

export interface Queryable {
  query<R extends QueryResultRow = QueryResultRow>(text: string, params?: unknown[]): Promise<{ rows: R[]; rowCount: number | null }>;
}

// Transactions (by their client) that wrote outbox rows: only their commits wake the relay.
const wroteOutbox = new WeakSet<object>();

/** Marks the running transaction as one that announced an event (see Db.onOutboxCommit). */
export function noteOutboxWrite(q: Queryable): void {
  wroteOutbox.add(q);
}

const RETRYABLE = new Set([
  '23505', // unique_violation: a concurrent claim won the race; the partial indexes said no
  '40001', // serialization_failure
  '40P01', // deadlock_detected
]);

/** The pooled connection to Postgres (external, or embedded PGlite), migrated on start. */
export class Db implements Queryable {
  private readonly logger = new Logger('Database');
  private readonly commitListeners: (() => void)[] = [];

  private constructor(
    readonly pool: Pool,
    private readonly embedded?: EmbeddedPostgres,
  ) {}

  static async connect(config: AppConfig, opts: { migrate?: boolean } = {}): Promise<Db> {
    let embedded: EmbeddedPostgres | undefined;
    let url = config.database.url;
    if (!url) {
      embedded = await EmbeddedPostgres.start({
        dataDir: config.database.embeddedStorage === 'disk' ? config.dataDir : undefined,
        maxConnections: config.database.poolMax + 4,
      });
      url = embedded.url;
    }
    const pool = new Pool({
      connectionString: url,
      max: config.database.poolMax,
      // PGlite ignores per-session settings it does not know; a real server enforces the timeout.
      ...(embedded ? {} : { statement_timeout: config.database.statementTimeoutMs || undefined }),
      connectionTimeoutMillis: 10_000,
      idleTimeoutMillis: 30_000,
    });
    // A client losing its server must not crash the process: idle ones are reported by the pool
    // and replaced; a checked-out one (between two statements of a transaction when Postgres
    // restarts) emits 'error' on itself, so every client gets a listener. Its next query fails,
    // and the pool discards it on release.
    pool.on('error', (err) => new Logger('Database').warn(`idle connection error: ${err.message}`));
    pool.on('connect', (client) => {
      client.on('error', (err) => new Logger('Database').warn(`connection error: ${err.message}`));
      if (!embedded && config.database.preparedStatements) prepareStatements(client);
    });
    const db = new Db(pool, embedded);
    if (opts.migrate !== false) await runMigrations(url);
    db.logger.log(embedded ? 'embedded Postgres (PGlite) ready' : 'connected to Postgres');
    return db;
  }

  async query<R extends QueryResultRow = QueryResultRow>(text: string, params: unknown[] = []) {
    // PGlite has one session for all connections: the socket server keeps a transaction's
    // messages together, but a bare query's Parse/Bind/Execute can interleave with another
    // connection's transaction and run against its unnamed statement (wrong rows, or
    // 'portal "" does not exist'). Embedded, every query therefore runs in a transaction.
    const r = this.embedded ? await this.inOwnTransaction<R>(text, params) : await this.pool.query<R>(text, params);
    return { rows: r.rows, rowCount: r.rowCount };
  }

  private async inOwnTransaction<R extends QueryResultRow>(text: string, params: unknown[]) {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const r = await client.query<R>(text, params);
      await client.query('COMMIT');
      return r;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  /** Runs fn in one transaction; retried (whole) when Postgres reports a lost race. */
  async tx<T>(fn: (q: PoolClient) => Promise<T>, attempts = 4): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const client = await this.pool.connect();
      try {
        await client.query('BEGIN');
        const result = await fn(client);
        await client.query('COMMIT');
        if (wroteOutbox.delete(client)) for (const l of this.commitListeners) l();
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        const code = (err as { code?: string }).code;
        if (code && RETRYABLE.has(code) && attempt < attempts) continue;
        throw err;
      } finally {
        wroteOutbox.delete(client);
        client.release();
      }
    }
  }

  /** Called after each commit that wrote outbox rows (the relay then publishes promptly). */
  onOutboxCommit(listener: () => void): void {
    this.commitListeners.push(listener);
  }

  async ping(): Promise<void> {
    await this.query('SELECT 1');
  }

  async close(): Promise<void> {
    await this.pool.end();
    await this.embedded?.stop();
  }
}
