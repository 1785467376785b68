import { describe, expect, it } from 'vitest';
import { fallbackBlockerAnalysis, type Severity } from '../../src/modules/ai/fallback-blocker';
import { fallbackInstructions, type InstructionInput } from '../../src/modules/ai/fallback-instructions';
import {
  assignmentComment,
  blockerComment,
  leaseRecoveredComment,
  progressComment,
  tickChecklist,
  type ChecklistItem,
} from '../../src/modules/kanban/comments';

const BACKSLASH_N = '\\n';
const at = new Date('2025-06-01T12:34:56.789Z');

describe('board comments (BEHAVIOUR.md formats)', () => {
  it('assignment: 📋 Task assigned to <agent> at <ISO time>', () => {
    expect(assignmentComment('Alice', at)).toBe('📋 Task assigned to Alice at 2025-06-01T12:34:56.789Z');
  });

  it('progress: 📊 Progress Update: <p>% | Status: <s> | <message>', () => {
    expect(progressComment(50, 'in_progress', 'halfway there')).toBe('📊 Progress Update: 50% | Status: in_progress | halfway there');
    expect(progressComment(100, 'completed', 'done')).toBe('📊 Progress Update: 100% | Status: completed | done');
  });

  it('blocker: header, reporter, description and numbered suggestions on real lines', () => {
    const body = blockerComment({
      severity: 'high',
      agentName: 'Bob',
      description: 'The staging database refuses connections',
      suggestions: ['Check the credentials', 'Ask the DBA'],
    });
    expect(body).toBe(
      [
        '🚫 BLOCKER (HIGH)',
        '',
        'Reported by: Bob',
        'Description: The staging database refuses connections',
        '',
        '📋 AI Suggestions:',
        '1. Check the credentials',
        '2. Ask the DBA',
      ].join('\n'),
    );
    expect(body.startsWith('🚫 BLOCKER (HIGH)\n')).toBe(true);
    expect(body).not.toContain(BACKSLASH_N);
    expect(body.split('\n')).toHaveLength(8);
  });

  it('blocker: upper-cases any severity and copes with no suggestions', () => {
    const body = blockerComment({ severity: 'critical', agentName: 'C', description: 'd', suggestions: [] });
    expect(body.split('\n')[0]).toBe('🚫 BLOCKER (CRITICAL)');
    expect(body.endsWith('📋 AI Suggestions:')).toBe(true);
  });

  it('lease recovery comment names the agent, the progress and the time', () => {
    expect(leaseRecoveredComment('agent-7', 40, at)).toBe(
      '⏰ Lease expired: agent-7 stopped reporting at 40%. Task returned to the pool at 2025-06-01T12:34:56.789Z with recovery notes.',
    );
  });
});

describe('tickChecklist', () => {
  const items = (n: number, done: number[] = []): ChecklistItem[] =>
    Array.from({ length: n }, (_, i) => ({ text: `item ${i + 1}`, done: done.includes(i) }));
  const ticked = (list: ChecklistItem[]) => list.map((i) => i.done);

  it.each<[number, number, number]>([
    [0, 4, 0],
    [24, 4, 0],
    [25, 4, 1],
    [49, 4, 1],
    [50, 4, 2],
    [99, 4, 3],
    [100, 4, 4],
    [33, 3, 0],
    [34, 3, 1],
    [66, 3, 1],
    [67, 3, 2],
    [58, 50, 29],
    [29, 100, 29],
  ])('at %d percent of %d items ticks the first %d', (p, n, expected) => {
    const out = tickChecklist(items(n), p);
    expect(out.filter((i) => i.done)).toHaveLength(expected);
    expect(ticked(out)).toEqual(Array.from({ length: n }, (_, i) => i < expected));
  });

  it('never unticks items already done', () => {
    const out = tickChecklist(items(4, [2, 3]), 25);
    expect(ticked(out)).toEqual([true, false, true, true]);
    expect(ticked(tickChecklist(items(4, [0, 1, 2, 3]), 0))).toEqual([true, true, true, true]);
  });

  it('keeps the texts, returns new objects and leaves the input alone', () => {
    const input = items(2);
    const out = tickChecklist(input, 100);
    expect(out.map((i) => i.text)).toEqual(['item 1', 'item 2']);
    expect(ticked(input)).toEqual([false, false]);
    expect(out[0]).not.toBe(input[0]);
    expect(tickChecklist([], 100)).toEqual([]);
  });
});

describe('fallbackBlockerAnalysis', () => {
  it.each<[Severity, number, boolean]>([
    ['low', 2, false],
    ['medium', 4, false],
    ['high', 4, true],
    ['critical', 4, true],
  ])('%s severity: %d h, escalation %s', (severity, hours, escalate) => {
    const a = fallbackBlockerAnalysis('something odd happened', severity);
    expect(a.estimated_hours).toBe(hours);
    expect(a.escalation_needed).toBe(escalate);
    expect(a.resolution_steps.includes('Escalate to a human lead now')).toBe(escalate);
  });

  it('has every field of the analysis', () => {
    const a = fallbackBlockerAnalysis('something odd happened', 'medium');
    expect(Object.keys(a).sort()).toEqual(
      ['estimated_hours', 'escalation_needed', 'impact_assessment', 'prevention_measures', 'required_resources', 'resolution_steps', 'root_cause'].sort(),
    );
    expect(a.root_cause).toBe('Not determined from the description');
    expect(a.required_resources).toEqual([]);
    expect(a.resolution_steps).toEqual(['Break the problem into smaller pieces and report progress on the parts that can move']);
    expect(a.prevention_measures.length).toBeGreaterThan(0);
    expect(a.impact_assessment).toBe('Stops this task');
  });

  it('assesses impact by severity', () => {
    expect(fallbackBlockerAnalysis('x', 'low').impact_assessment).toBe('Slows this task; others can continue');
    expect(fallbackBlockerAnalysis('x', 'high').impact_assessment).toBe('Stops this task and may hold up dependent work');
  });

  it.each<[string, string, string]>([
    ['Waiting for the payments team', 'Waiting on work outside this task', 'Owner of the upstream work'],
    ['This depends on task 12', 'Waiting on work outside this task', 'Owner of the upstream work'],
    ['Got 403 Forbidden from the registry', 'Missing access or credentials', 'Project administrator'],
    ['No credentials for S3', 'Missing access or credentials', 'Project administrator'],
    ['The suite is flaky on CI', 'Failing or unstable tests', 'CI logs'],
    ['Build keeps failing', 'Failing or unstable tests', 'CI logs'],
    ['The endpoint returns 500', 'An external service or API misbehaves', 'Service documentation'],
    ['Network timeout to S3', 'An external service or API misbehaves', 'Service owner'],
    ['The requirement is ambiguous', 'Unclear requirements', 'Task owner'],
  ])('"%s" → %s', (description, cause, resource) => {
    const a = fallbackBlockerAnalysis(description, 'medium');
    expect(a.root_cause).toBe(cause);
    expect(a.required_resources).toContain(resource);
    expect(a.resolution_steps.length).toBeGreaterThan(1);
    expect(a.resolution_steps.at(-1)).toBe('Break the problem into smaller pieces and report progress on the parts that can move');
  });

  it('combines several matching rules, without duplicate resources, generic step last before escalation', () => {
    const a = fallbackBlockerAnalysis('Tests fail because the auth service returns 401', 'high');
    expect(a.root_cause).toBe('Missing access or credentials; Failing or unstable tests; An external service or API misbehaves');
    expect(a.required_resources).toEqual(['Project administrator', 'CI logs', 'Service documentation', 'Service owner']);
    expect(a.resolution_steps).toHaveLength(2 + 2 + 2 + 2);
    expect(a.resolution_steps.slice(-2)).toEqual([
      'Break the problem into smaller pieces and report progress on the parts that can move',
      'Escalate to a human lead now',
    ]);
  });

  it('matches words from their start only', () => {
    expect(fallbackBlockerAnalysis('the latest contest result', 'low').root_cause).toBe('Not determined from the description');
  });
});

describe('fallbackInstructions', () => {
  const base: InstructionInput = {
    agentName: 'Alice',
    task: {
      name: 'Build login',
      description: 'OAuth login page',
      priority: 'high',
      estimated_hours: 3,
      labels: ['frontend', 'auth'],
      acceptance_criteria: ['Users can sign in with GitHub', 'Errors are shown inline'],
    },
    dependencies: [
      { id: 'dep-1', name: 'Set up OAuth app' },
      { id: 'dep-2', name: 'Design tokens' },
    ],
  };
  const section = (text: string, title: string): string[] => {
    const lines = text.split('\n');
    const start = lines.indexOf(title);
    expect(start).toBeGreaterThanOrEqual(0);
    const rest = lines.slice(start + 1);
    const end = rest.findIndex((l) => l === '' || l.startsWith('#'));
    return end === -1 ? rest : rest.slice(0, end);
  };

  it('is a markdown brief titled for the agent, with real newlines', () => {
    const text = fallbackInstructions(base);
    const lines = text.split('\n');
    expect(lines[0]).toBe('# Task Assignment for Alice');
    expect(lines).toContain('## Task: Build login');
    expect(lines).toContain('OAuth login page');
    expect(lines).toContain('**Priority:** high');
    expect(lines).toContain('**Estimated effort:** 3 hours');
    expect(lines).toContain('**Labels:** frontend, auth');
    expect(section(text, '## How to communicate').join('\n')).toContain('report_task_progress');
    expect(section(text, '## Implementation steps')).toHaveLength(5);
    expect(text).not.toContain(BACKSLASH_N);
  });

  it('lists the dependencies to review', () => {
    expect(section(fallbackInstructions(base), '## Dependencies to review')).toEqual(['- Set up OAuth app (dep-1)', '- Design tokens (dep-2)']);
    expect(fallbackInstructions({ ...base, dependencies: [] })).not.toContain('## Dependencies to review');
  });

  it('takes the definition of done from the acceptance criteria', () => {
    expect(section(fallbackInstructions(base), '## Definition of done')).toEqual(['- Users can sign in with GitHub', '- Errors are shown inline']);
    const generic = fallbackInstructions({ ...base, task: { ...base.task, acceptance_criteria: [] } });
    expect(section(generic, '## Definition of done')).toEqual(['- The change does what the task asks', '- Tests cover it and pass', '- No regressions']);
  });

  it('handles a bare task: no description, no estimate, no labels', () => {
    const text = fallbackInstructions({ ...base, task: { ...base.task, description: '', estimated_hours: null, labels: [] } });
    expect(text.split('\n')).toContain('(no description)');
    expect(text).toContain('**Estimated effort:** not estimated');
    expect(text).not.toContain('**Labels:**');
  });

  it('tells the next agent where the previous one stopped', () => {
    const text = fallbackInstructions({ ...base, recovery: { previous_agent: 'agent-9', previous_progress: 60, last_message: 'form done' } });
    expect(section(text, '## Picking up where someone left off')[0]).toBe('agent-9 stopped at 60%; their last report: "form done"');
    const quiet = fallbackInstructions({ ...base, recovery: { previous_agent: 'agent-9', previous_progress: 0, last_message: null } });
    expect(quiet).toContain('agent-9 stopped at 0%.');
    expect(fallbackInstructions(base)).not.toContain('Picking up where someone left off');
  });
});
