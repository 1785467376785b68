import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

/**
 * Postgres in-process (PGlite, WASM) exposed on loopback through the pg wire protocol, so the
 * embedded mode runs the same driver, migrations and SQL as a real Postgres.
 * PGlite runs one statement at a time; the socket server keeps each transaction on its own
 * connection, so transactions are serialised rather than interleaved.
 */
export class EmbeddedPostgres {
  private constructor(
    private readonly db: PGlite,
    private readonly server: PGLiteSocketServer,
    readonly url: string,
  ) {}

  static async start(opts: { dataDir?: string; maxConnections: number }): Promise<EmbeddedPostgres> {
    let dataDir: string | undefined;
    if (opts.dataDir) {
      dataDir = join(opts.dataDir, 'pgdata');
      mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    }
    const db = new PGlite(dataDir);
    await db.waitReady;
    const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: opts.maxConnections });
    await server.start();
    const conn = server.getServerConn(); // "127.0.0.1:<port>"
    return new EmbeddedPostgres(db, server, `postgres://postgres@${conn}/postgres`);
  }

  async stop(): Promise<void> {
    await this.server.stop();
    await this.db.close();
  }
}
