import { describe, expect, it } from 'vitest';
import { ineligibility, isEligible, TASK_STATUSES, type EligibilityView, type IneligibleReason } from '../../src/modules/tasks/eligibility';

const PROJECT = 'p1';

function view(over: Partial<EligibilityView> = {}): EligibilityView {
  return { id: 't1', projectId: PROJECT, status: 'todo', held: false, dependencyStatuses: [], subtaskStatuses: [], ...over };
}

describe('eligibility', () => {
  it('accepts a free todo task of the project with nothing open', () => {
    expect(ineligibility(view(), PROJECT)).toBeNull();
    expect(isEligible(view(), PROJECT)).toBe(true);
  });

  it('accepts a task whose dependencies and subtasks are all done', () => {
    const v = view({ dependencyStatuses: ['done', 'done'], subtaskStatuses: ['done'] });
    expect(ineligibility(v, PROJECT)).toBeNull();
    expect(isEligible(v, PROJECT)).toBe(true);
  });

  const cases: [string, Partial<EligibilityView>, IneligibleReason][] = [
    ['another project', { projectId: 'p2' }, 'other_project'],
    ['in progress', { status: 'in_progress' }, 'not_todo'],
    ['done', { status: 'done' }, 'not_todo'],
    ['blocked', { status: 'blocked' }, 'not_todo'],
    ['held by an active assignment', { held: true }, 'held'],
    ['an open dependency', { dependencyStatuses: ['done', 'todo'] }, 'dependencies_open'],
    ['a dependency in progress', { dependencyStatuses: ['in_progress'] }, 'dependencies_open'],
    ['a blocked dependency', { dependencyStatuses: ['blocked'] }, 'dependencies_open'],
    ['an open subtask', { subtaskStatuses: ['done', 'todo'] }, 'subtasks_open'],
    ['a blocked subtask', { subtaskStatuses: ['blocked'] }, 'subtasks_open'],
  ];

  it.each(cases)('refuses a task with %s', (_what, over, reason) => {
    expect(ineligibility(view(over), PROJECT)).toBe(reason);
    expect(isEligible(view(over), PROJECT)).toBe(false);
  });

  it('reports the first reason in rule order', () => {
    const everything = view({
      projectId: 'p2',
      status: 'done',
      held: true,
      dependencyStatuses: ['todo'],
      subtaskStatuses: ['todo'],
    });
    expect(ineligibility(everything, PROJECT)).toBe('other_project');
    expect(ineligibility({ ...everything, projectId: PROJECT }, PROJECT)).toBe('not_todo');
    expect(ineligibility({ ...everything, projectId: PROJECT, status: 'todo' }, PROJECT)).toBe('held');
    expect(ineligibility({ ...everything, projectId: PROJECT, status: 'todo', held: false }, PROJECT)).toBe('dependencies_open');
    expect(ineligibility({ ...everything, projectId: PROJECT, status: 'todo', held: false, dependencyStatuses: ['done'] }, PROJECT)).toBe(
      'subtasks_open',
    );
  });

  it('treats every status but done as open, for dependencies and subtasks alike', () => {
    for (const s of TASK_STATUSES) {
      const expected = s === 'done';
      expect(isEligible(view({ dependencyStatuses: [s] }), PROJECT)).toBe(expected);
      expect(isEligible(view({ subtaskStatuses: [s] }), PROJECT)).toBe(expected);
    }
  });
});
