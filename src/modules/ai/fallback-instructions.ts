// Deterministic instructions, given at once when no LLM is configured (or while it thinks).

export interface InstructionInput {
  agentName: string;
  task: {
    name: string;
    description: string;
    priority: string;
    estimated_hours: number | null;
    labels: readonly string[];
    acceptance_criteria: readonly string[];
  };
  dependencies: readonly { id: string; name: string }[];
  recovery?: { previous_agent: string; previous_progress: number; last_message: string | null } | null;
}

/** Notes for an agent taking over a task whose previous holder went silent. */
export function recoverySection(recovery: NonNullable<InstructionInput['recovery']>): string {
  return [
    '## Picking up where someone left off',
    `${recovery.previous_agent} stopped at ${recovery.previous_progress}%` +
      (recovery.last_message ? `; their last report: "${recovery.last_message}"` : '.'),
    'Check the existing work (branches, artifacts, decisions) before starting over.',
  ].join('\n');
}

export function fallbackInstructions(input: InstructionInput): string {
  const { task } = input;
  const lines: string[] = [
    `# Task Assignment for ${input.agentName}`,
    '',
    `## Task: ${task.name}`,
    '',
    task.description || '(no description)',
    '',
    `**Priority:** ${task.priority}`,
    `**Estimated effort:** ${task.estimated_hours != null ? `${task.estimated_hours} hours` : 'not estimated'}`,
  ];
  if (input.recovery) lines.push('', recoverySection(input.recovery));
  if (input.dependencies.length > 0) {
    lines.push('', '## Dependencies to review', ...input.dependencies.map((d) => `- ${d.name} (${d.id})`));
  }
  lines.push(
    '',
    '## Implementation steps',
    '1. Read the task and the code it touches; note open questions.',
    '2. Plan the change in small steps and log key decisions with `log_decision`.',
    '3. Implement step by step, with tests alongside the code.',
    '4. Run the whole test suite and fix what breaks.',
    '5. Record outputs worth keeping with `log_artifact`.',
    '',
    '## Definition of done',
    ...(task.acceptance_criteria.length > 0
      ? task.acceptance_criteria.map((c) => `- ${c}`)
      : ['- The change does what the task asks', '- Tests cover it and pass', '- No regressions']),
    '',
    '## How to communicate',
    '- `report_task_progress` at 25%, 50%, 75% and on completion (each report renews your lease).',
    '- `report_blocker` as soon as something stops you; you keep the task while blocked.',
  );
  if (task.labels.length > 0) lines.push('', `**Labels:** ${task.labels.join(', ')}`);
  return lines.join('\n');
}
