import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import pg from 'pg';
const db = new PGlite(); await db.waitReady;
const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 14 });
await server.start();
const pool = new pg.Pool({ connectionString: `postgres://postgres@${server.getServerConn()}/postgres`, max: 10 });
const errors = new Map(); const note = (m) => errors.set(m, (errors.get(m) ?? 0) + 1);
pool.on('error', (e) => note('idle: ' + e.message));
await pool.query('CREATE TABLE p (id int primary key, name text)');
await pool.query('INSERT INTO p SELECT g, $1 || g FROM generate_series(1,100) g', ['n']);
let wrong = 0;
const mode = process.argv[2];
for (let round = 0; round < 20; round++) {
  await Promise.all(Array.from({ length: 30 }, async (_, i) => {
    const id = (i % 100) + 1;
    try {
      if (mode === 'alltx' || (mode === 'mixed' && i % 3 === 0)) {
        const c = await pool.connect();
        try { await c.query('BEGIN'); const r = await c.query('SELECT name FROM p WHERE id = $1', [id]); if (r.rows[0]?.name !== 'n' + id) wrong++; await c.query('UPDATE p SET name = name WHERE id = $1', [id]); await c.query('COMMIT'); } finally { c.release(); }
      } else {
      const r = await pool.query('SELECT id, name, $1::int AS x FROM p WHERE id = $1', [id]);
      if (r.rows.length !== 1 || r.rows[0].name !== 'n' + id) wrong++;
      }
    } catch (e) { note(e.message); }
  }));
}
console.log(mode, { wrong, errors });
await pool.end(); await server.stop(); await db.close();
