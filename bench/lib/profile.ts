// Where the time goes: summaries of V8 CPU profiles of the replicas (by package, and the socket
// writes by the code that made them) and of pg_stat_statements for the run's database.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { round } from './result';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** `pg`, `@nestjs/core`, `node:net`, `app:modules/tasks`, or a V8 pseudo-frame such as `(garbage collector)`. */
export function frameOwner(url: string, fn: string): string {
  if (url.includes('node_modules/')) {
    const rest = url.split('node_modules/').pop()!.split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  if (url.startsWith('node:')) return url;
  if (url.includes('/dist/')) return `app:${url.split('/dist/')[1].split('/').slice(0, 2).join('/')}`;
  return url ? url : fn || '(anonymous)';
}

/** Native frames that are the kernel's share of a socket write (the syscall and the copy into it). */
const SOCKET_WRITES = new Set(['writev', 'writeBuffer', 'writeUtf8String', 'writeLatin1String']);

export interface CpuSummary {
  profiles: number;
  sampledS: number;
  /** Share of samples (%) by owner of the frame the sample was in, largest first. */
  byOwner: [string, number][];
  /** Share of all samples (%) spent in socket writes. */
  socketWritesPct: number;
  /** Those writes (% of them) by the first package or app file up the stack that asked for them. */
  socketWritesBy: [string, number][];
}

export function summarizeCpuProfiles(dir: string, top = 12): CpuSummary | undefined {
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  if (files.length === 0) return undefined;
  const byOwner = new Map<string, number>();
  const writesBy = new Map<string, number>();
  let total = 0;
  let writes = 0;
  for (const f of files) {
    const p = JSON.parse(readFileSync(join(dir, f), 'utf8')) as CpuProfile;
    const byId = new Map(p.nodes.map((n) => [n.id, n]));
    const parent = new Map<number, number>();
    for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    const self = new Map<number, number>();
    p.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
    for (const [id, us] of self) {
      const n = byId.get(id)!;
      total += us;
      const owner = frameOwner(n.callFrame.url, n.callFrame.functionName);
      byOwner.set(owner, (byOwner.get(owner) ?? 0) + us);
      if (!SOCKET_WRITES.has(n.callFrame.functionName)) continue;
      writes += us;
      // Up the stack to the first frame of a package (the client library) or of the app.
      let who = '(unknown)';
      for (let up = parent.get(id); up !== undefined; up = parent.get(up)) {
        const cf = byId.get(up)!.callFrame;
        if (cf.url.includes('node_modules/') || cf.url.includes('/dist/')) {
          who = frameOwner(cf.url, cf.functionName);
          break;
        }
      }
      writesBy.set(who, (writesBy.get(who) ?? 0) + us);
    }
  }
  const pct = (m: Map<string, number>, of: number): [string, number][] =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, v]) => [k, round((100 * v) / Math.max(1, of), 1)]);
  return {
    profiles: files.length,
    sampledS: round(total / 1e6, 1),
    byOwner: pct(byOwner, total),
    socketWritesPct: round((100 * writes) / Math.max(1, total), 1),
    socketWritesBy: pct(writesBy, writes),
  };
}

export interface StatementSummary {
  calls: number;
  execMs: number;
  planMs: number;
  /** Heaviest statements: calls, total exec + plan ms, first words. */
  top: { calls: number; ms: number; query: string }[];
}

/**
 * pg_stat_statements of one database, when the server loads the extension
 * (shared_preload_libraries); undefined otherwise. `reset` before the measured part.
 */
export class StatementStats {
  private constructor(
    private readonly db: Client,
    private readonly available: boolean,
  ) {}

  static async open(databaseUrl: string): Promise<StatementStats> {
    const db = new Client({ connectionString: databaseUrl });
    await db.connect();
    const libs = (await db.query<{ l: string }>('SELECT current_setting($1) AS l', ['shared_preload_libraries'])).rows[0].l;
    const available = libs.split(',').some((l) => l.trim() === 'pg_stat_statements');
    if (available) await db.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
    return new StatementStats(db, available);
  }

  get enabled(): boolean {
    return this.available;
  }

  async reset(): Promise<void> {
    if (this.available) await this.db.query('SELECT pg_stat_statements_reset()');
  }

  async read(top = 10): Promise<StatementSummary | undefined> {
    if (!this.available) return undefined;
    const r = await this.db.query<{ calls: string; exec: number; plan: number; query: string }>(
      `SELECT calls, total_exec_time AS exec, total_plan_time AS plan, query FROM pg_stat_statements
        WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND query NOT LIKE '%pg_stat_statements%'`,
    );
    const rows = r.rows.map((x) => ({ calls: Number(x.calls), exec: Number(x.exec), plan: Number(x.plan), query: x.query.replace(/\s+/g, ' ').trim() }));
    return {
      calls: rows.reduce((a, x) => a + x.calls, 0),
      execMs: round(rows.reduce((a, x) => a + x.exec, 0)),
      planMs: round(rows.reduce((a, x) => a + x.plan, 0)),
      top: rows
        .sort((a, b) => b.exec + b.plan - (a.exec + a.plan))
        .slice(0, top)
        .map((x) => ({ calls: x.calls, ms: round(x.exec + x.plan), query: x.query.slice(0, 90) })),
    };
  }

  async close(): Promise<void> {
    await this.db.end();
  }
}
