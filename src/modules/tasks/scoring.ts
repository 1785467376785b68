// Task scoring: 0.6 × skill match + 0.4 × priority. The claim query orders by the same formula
// (see claimSqlScore), so the engine and this function always agree.

export const PRIORITIES = ['low', 'medium', 'high', 'urgent'] as const;
export type Priority = (typeof PRIORITIES)[number];

export const PRIORITY_WEIGHT: Readonly<Record<Priority, number>> = {
  urgent: 1.0,
  high: 0.8,
  medium: 0.5,
  low: 0.2,
};

export const SKILL_WEIGHT = 0.6;
export const PRIORITY_SHARE = 0.4;

/** |skills ∩ labels| / |labels|, case-insensitive. A task without labels matches nobody in particular: 0. */
export function skillMatch(agentSkills: readonly string[], taskLabels: readonly string[]): number {
  if (taskLabels.length === 0) return 0;
  const skills = new Set(agentSkills.map((s) => s.toLowerCase()));
  const hits = taskLabels.filter((l) => skills.has(l.toLowerCase())).length;
  return hits / taskLabels.length;
}

/** Scores are rounded (here and in SQL) so exact ties stay ties despite floating-point noise: 0.6·1 + 0.4·0.2 ≠ 0.6·0.6 + 0.4·0.8 in doubles. */
const SCORE_DECIMALS = 9;

export function scoreTask(agentSkills: readonly string[], task: { labels: readonly string[]; priority: Priority }): number {
  const raw = SKILL_WEIGHT * skillMatch(agentSkills, task.labels) + PRIORITY_SHARE * PRIORITY_WEIGHT[task.priority];
  return Math.round(raw * 10 ** SCORE_DECIMALS) / 10 ** SCORE_DECIMALS;
}

export interface RankableTask {
  id: string;
  labels: readonly string[];
  priority: Priority;
  createdAt: Date;
  seq: number;
}

/** Best first: highest score, then the oldest task. */
export function rankTasks<T extends RankableTask>(agentSkills: readonly string[], tasks: readonly T[]): T[] {
  return [...tasks]
    .map((t) => ({ t, s: scoreTask(agentSkills, t) }))
    .sort((a, b) => b.s - a.s || a.t.createdAt.getTime() - b.t.createdAt.getTime() || a.t.seq - b.t.seq)
    .map((x) => x.t);
}

/**
 * The same score as SQL over a `tasks` row aliased `t`, with the agent's lower-cased skills in
 * parameter $skillsParam. Built from the constants above so the two cannot drift apart.
 */
export function claimSqlScore(skillsParam: number): string {
  const prio = PRIORITIES.map((p) => `WHEN '${p}' THEN ${PRIORITY_WEIGHT[p]}`).join(' ');
  return (
    `round((${SKILL_WEIGHT} * CASE WHEN cardinality(t.labels) = 0 THEN 0 ELSE ` +
    `(SELECT count(*) FROM unnest(t.labels) AS l(v) WHERE lower(l.v) = ANY($${skillsParam}::text[]))::float8 / cardinality(t.labels) END ` +
    `+ ${PRIORITY_SHARE} * CASE t.priority ${prio} ELSE 0 END)::numeric, ${SCORE_DECIMALS})`
  );
}
