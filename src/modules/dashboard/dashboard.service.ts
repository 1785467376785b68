import { Injectable } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { Db } from '../../infra/database/db';
import { Presence } from '../../infra/shared-state/presence';
import type { BlockerAnalysis } from '../ai/fallback-blocker';
import * as Q from './dashboard.queries';

export interface DashboardCard {
  id: string;
  name: string;
  priority: Q.CardRow['priority'];
  labels: string[];
  assigned_to: string | null;
  assignee_name: string | null;
  progress: number | null;
  lease_expires_at: string | null;
  completed_at: string | null;
}

export interface DashboardAgent {
  id: string;
  name: string;
  role: string;
  /** working: holds a task; blocked: every task it holds is blocked; idle: connected, holds nothing. */
  status: 'working' | 'blocked' | 'idle' | 'offline';
  connected: boolean;
  capacity: number;
  total_completed: number;
  tasks: { task_id: string; task_name: string; task_status: Q.TaskStatus; progress: number; lease_expires_at: string }[];
}

export interface DashboardBlocker {
  id: string;
  task_id: string;
  task_name: string;
  agent_id: string;
  agent_name: string | null;
  severity: Q.BlockerRow['severity'];
  description: string;
  suggestions: string[];
  analysis: BlockerAnalysis | null;
  created_at: string;
}

export interface DashboardSnapshot {
  project: { id: string; name: string };
  /** Server clock at the time of the snapshot: the page counts leases down against it, not its own clock. */
  server_time: string;
  columns: { status: Q.TaskStatus; count: number; cards: DashboardCard[] }[];
  agents: { total: number; connected: number; list: DashboardAgent[] };
  blockers: DashboardBlocker[];
  throughput: { last_hour: number; last_24h: number; per_hour: number[]; done_total: number; tasks_total: number };
}

const iso = (d: Date | null): string | null => (d ? new Date(d).toISOString() : null);

/** Builds the dashboard's view of a project from the database and the shared presence. */
@Injectable()
export class DashboardService {
  constructor(
    private readonly db: Db,
    private readonly presence: Presence,
  ) {}

  listProjects(): Promise<{ id: string; name: string }[]> {
    return Q.listProjects(this.db);
  }

  async snapshot(projectId: string): Promise<DashboardSnapshot | null> {
    const name = await Q.projectName(this.db, projectId);
    if (name === null) return null;
    const [counts, cards, agentRows, held, blockers, tp, online] = await Promise.all([
      Q.statusCounts(this.db, projectId),
      Q.boardCards(this.db, projectId),
      Q.agents(this.db, projectId),
      Q.heldTasks(this.db, projectId),
      Q.openBlockers(this.db, projectId),
      Q.throughput(this.db, projectId),
      this.presence.online(projectId),
    ]);
    const connected = new Set(online.map((e) => e.agentId));
    const agentNames = new Map(agentRows.rows.map((a) => [a.id, a.name]));
    const heldBy = new Map<string, Q.HeldRow[]>();
    for (const h of held) heldBy.set(h.agent_id, [...(heldBy.get(h.agent_id) ?? []), h]);

    const columns = Q.TASK_STATUSES.map((status) => ({
      status,
      count: counts[status],
      cards: cards
        .filter((c) => c.status === status)
        .map(
          (c): DashboardCard => ({
            id: c.id,
            name: c.name,
            priority: c.priority,
            labels: c.labels,
            assigned_to: c.assigned_to,
            assignee_name: c.assigned_to ? (agentNames.get(c.assigned_to) ?? c.assigned_to) : null,
            progress: c.progress,
            lease_expires_at: iso(c.lease_expires_at),
            completed_at: iso(c.completed_at),
          }),
        ),
    }));

    const list = agentRows.rows.map((a): DashboardAgent => {
      const tasks = (heldBy.get(a.id) ?? []).map((h) => ({
        task_id: h.task_id,
        task_name: h.task_name,
        task_status: h.task_status,
        progress: h.progress,
        lease_expires_at: new Date(h.lease_expires_at).toISOString(),
      }));
      const isOn = connected.has(a.id);
      const status: DashboardAgent['status'] =
        tasks.length > 0 ? (tasks.every((t) => t.task_status === 'blocked') ? 'blocked' : 'working') : isOn ? 'idle' : 'offline';
      return { id: a.id, name: a.name, role: a.role, status, connected: isOn, capacity: a.capacity, total_completed: a.total_completed, tasks };
    });

    const perHour = new Array<number>(24).fill(0);
    for (const b of tp.buckets) perHour[b.ago] = b.n;
    return {
      project: { id: projectId, name },
      server_time: new Date().toISOString(),
      columns,
      agents: { total: agentRows.total, connected: list.filter((a) => a.connected).length, list },
      blockers: blockers.map((b) => ({
        id: b.id,
        task_id: b.task_id,
        task_name: b.task_name,
        agent_id: b.agent_id,
        agent_name: b.agent_name,
        severity: b.severity,
        description: b.description,
        suggestions: Array.isArray(b.suggestions) ? b.suggestions.map(String) : [],
        analysis: b.analysis,
        created_at: new Date(b.created_at).toISOString(),
      })),
      throughput: {
        last_hour: tp.last_hour,
        last_24h: tp.last_24h,
        per_hour: perHour,
        done_total: counts.done,
        tasks_total: Q.TASK_STATUSES.reduce((s, st) => s + counts[st], 0),
      },
    };
  }
}

/** A fingerprint of what the page shows: the clock moves every second, the content rarely. */
export function snapshotHash(s: DashboardSnapshot): string {
  return createHash('sha1').update(JSON.stringify({ ...s, server_time: '' })).digest('base64url');
}
