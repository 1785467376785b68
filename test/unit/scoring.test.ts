import { describe, expect, it } from 'vitest';
import { PRIORITY_WEIGHT, rankTasks, scoreTask, skillMatch, type Priority, type RankableTask } from '../../src/modules/tasks/scoring';

function task(id: string, over: Partial<RankableTask> = {}): RankableTask {
  return { id, labels: [], priority: 'medium', createdAt: new Date('2025-01-01T00:00:00Z'), seq: 1, ...over };
}

describe('skillMatch', () => {
  it('is |skills ∩ labels| / |labels|', () => {
    expect(skillMatch(['ts', 'sql'], ['ts', 'sql'])).toBe(1);
    expect(skillMatch(['ts'], ['ts', 'sql'])).toBe(0.5);
    expect(skillMatch(['ts'], ['ts', 'sql', 'css', 'go'])).toBe(0.25);
    expect(skillMatch(['python'], ['ts', 'sql'])).toBe(0);
    expect(skillMatch([], ['ts'])).toBe(0);
  });

  it('ignores case on both sides', () => {
    expect(skillMatch(['TypeScript'], ['typescript'])).toBe(1);
    expect(skillMatch(['frontend'], ['FrontEnd', 'BACKEND'])).toBe(0.5);
    expect(skillMatch(['SQL', 'Go'], ['sql', 'go', 'css'])).toBeCloseTo(2 / 3, 12);
  });

  it('gives 0 for a task without labels, whatever the skills', () => {
    expect(skillMatch([], [])).toBe(0);
    expect(skillMatch(['ts', 'sql'], [])).toBe(0);
  });

  it('counts skills outside the labels for nothing (the denominator is the labels)', () => {
    expect(skillMatch(['ts', 'sql', 'css', 'go', 'rust'], ['ts'])).toBe(1);
  });
});

describe('scoreTask', () => {
  it('uses the documented priority weights', () => {
    expect(PRIORITY_WEIGHT).toEqual({ urgent: 1.0, high: 0.8, medium: 0.5, low: 0.2 });
  });

  it.each<[Priority, number]>([
    ['urgent', 0.4],
    ['high', 0.32],
    ['medium', 0.2],
    ['low', 0.08],
  ])('a %s task nobody is skilled for scores 0.4 × weight = %s', (priority, expected) => {
    expect(scoreTask(['x'], { labels: ['y'], priority })).toBeCloseTo(expected, 12);
    expect(scoreTask([], { labels: [], priority })).toBeCloseTo(expected, 12);
  });

  it('adds 0.6 × skill match', () => {
    expect(scoreTask(['ts'], { labels: ['ts'], priority: 'urgent' })).toBeCloseTo(1.0, 12);
    expect(scoreTask(['ts'], { labels: ['ts'], priority: 'low' })).toBeCloseTo(0.68, 12);
    expect(scoreTask(['ts'], { labels: ['ts', 'sql'], priority: 'medium' })).toBeCloseTo(0.3 + 0.2, 12);
    expect(scoreTask(['TS'], { labels: ['ts', 'sql', 'go'], priority: 'high' })).toBeCloseTo(0.2 + 0.32, 12);
  });

  it('lets a full skill match outweigh priority alone', () => {
    const matching = scoreTask(['ts'], { labels: ['ts'], priority: 'low' });
    const urgent = scoreTask(['ts'], { labels: ['go'], priority: 'urgent' });
    expect(matching).toBeGreaterThan(urgent);
  });
});

describe('rankTasks', () => {
  it('orders by score, best first', () => {
    const tasks = [
      task('low', { priority: 'low' }),
      task('urgent', { priority: 'urgent' }),
      task('skilled', { priority: 'medium', labels: ['ts'] }),
      task('high', { priority: 'high' }),
    ];
    expect(rankTasks(['ts'], tasks).map((t) => t.id)).toEqual(['skilled', 'urgent', 'high', 'low']);
  });

  it('gives ties to the oldest task', () => {
    const tasks = [
      task('newest', { createdAt: new Date('2025-03-01T00:00:00Z'), seq: 1 }),
      task('oldest', { createdAt: new Date('2025-01-01T00:00:00Z'), seq: 3 }),
      task('middle', { createdAt: new Date('2025-02-01T00:00:00Z'), seq: 2 }),
    ];
    expect(rankTasks([], tasks).map((t) => t.id)).toEqual(['oldest', 'middle', 'newest']);
  });

  it('breaks a tie of score and age by seq', () => {
    const at = new Date('2025-01-01T00:00:00Z');
    const tasks = [task('c', { createdAt: at, seq: 30 }), task('a', { createdAt: at, seq: 10 }), task('b', { createdAt: at, seq: 20 })];
    expect(rankTasks(['x'], tasks).map((t) => t.id)).toEqual(['a', 'b', 'c']);
  });

  // 0.6·(3/5) + 0.4·0.8 = 0.6·1 + 0.4·0.2 = 0.68 exactly; naive floating point makes them differ.
  it.each<[string, string[], Partial<RankableTask>, Partial<RankableTask>]>([
    ['0 labels high ~ 1/5 medium', ['a'], { labels: [], priority: 'high' }, { labels: ['a', 'b', 'c', 'd', 'e'], priority: 'medium' }],
    ['0 labels high ~ 2/5 low', ['a', 'b'], { labels: [], priority: 'high' }, { labels: ['a', 'b', 'c', 'd', 'e'], priority: 'low' }],
    ['3/5 high ~ 1/1 low', ['a', 'b', 'c'], { labels: ['a', 'b', 'c', 'x', 'y'], priority: 'high' }, { labels: ['a'], priority: 'low' }],
    ['1/5 high ~ 2/5 medium', ['a', 'b'], { labels: ['a', 'x', 'y', 'z', 'w'], priority: 'high' }, { labels: ['a', 'b', 'y', 'z', 'w'], priority: 'medium' }],
  ])('scores a mathematical tie (%s) equal, so the oldest wins', (_name, skills, newer, older) => {
    const o = task('older', { ...older, createdAt: new Date('2025-01-01T00:00:00Z'), seq: 2 });
    const n = task('newer', { ...newer, createdAt: new Date('2025-02-01T00:00:00Z'), seq: 1 });
    expect(scoreTask(skills, o)).toBe(scoreTask(skills, n));
    expect(rankTasks(skills, [n, o]).map((t) => t.id)).toEqual(['older', 'newer']);
  });

  it('prefers a better score over age', () => {
    const tasks = [
      task('old-medium', { createdAt: new Date('2020-01-01T00:00:00Z'), seq: 1 }),
      task('new-high', { priority: 'high', createdAt: new Date('2025-01-01T00:00:00Z'), seq: 2 }),
    ];
    expect(rankTasks([], tasks)[0].id).toBe('new-high');
  });

  it('ranks by the agent’s own skills', () => {
    const tasks = [task('fe', { labels: ['frontend'], seq: 1 }), task('be', { labels: ['backend'], seq: 2 })];
    expect(rankTasks(['Backend'], tasks)[0].id).toBe('be');
    expect(rankTasks(['FRONTEND'], tasks)[0].id).toBe('fe');
  });

  it('does not mutate its input and handles an empty list', () => {
    const tasks = [task('a', { priority: 'low', seq: 1 }), task('b', { priority: 'urgent', seq: 2 })];
    const copy = [...tasks];
    const ranked = rankTasks([], tasks);
    expect(ranked.map((t) => t.id)).toEqual(['b', 'a']);
    expect(tasks).toEqual(copy);
    expect(rankTasks([], [])).toEqual([]);
  });
});
