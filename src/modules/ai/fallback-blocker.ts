// Deterministic blocker analysis: the answer an agent gets at once, whatever the LLM does later.

export type Severity = 'low' | 'medium' | 'high' | 'critical';

export interface BlockerAnalysis {
  root_cause: string;
  impact_assessment: string;
  resolution_steps: string[];
  required_resources: string[];
  estimated_hours: number;
  escalation_needed: boolean;
  prevention_measures: string[];
}

interface Rule {
  match: RegExp;
  cause: string;
  steps: string[];
  resources: string[];
}

const RULES: Rule[] = [
  {
    match: /\b(depend|waiting|blocked by|upstream|prerequisite)/i,
    cause: 'Waiting on work outside this task',
    steps: ['Identify the exact task or team the work waits on', 'Agree on an interface or stub to work against meanwhile'],
    resources: ['Owner of the upstream work'],
  },
  {
    match: /\b(permission|access|credential|token|auth|forbidden|401|403)/i,
    cause: 'Missing access or credentials',
    steps: ['List the exact permission or secret needed', 'Request it from the project owner; never hard-code credentials'],
    resources: ['Project administrator'],
  },
  {
    match: /\b(test|flaky|fail(s|ing)?|assert)/i,
    cause: 'Failing or unstable tests',
    steps: ['Reproduce the failure alone and record the exact output', 'Bisect recent changes to find the first bad one'],
    resources: ['CI logs'],
  },
  {
    match: /\b(api|endpoint|http|timeout|network|service|database|connection)/i,
    cause: 'An external service or API misbehaves',
    steps: ['Check the service status and the exact error response', 'Add retries with backoff or a fallback where sensible'],
    resources: ['Service documentation', 'Service owner'],
  },
  {
    match: /\b(unclear|ambiguous|spec|requirement|which|how should)/i,
    cause: 'Unclear requirements',
    steps: ['Write down the open questions with concrete options', 'Ask the task owner to choose; log the answer with log_decision'],
    resources: ['Task owner'],
  },
];

export function fallbackBlockerAnalysis(description: string, severity: Severity): BlockerAnalysis {
  const hits = RULES.filter((r) => r.match.test(description));
  const steps = hits.flatMap((r) => r.steps);
  steps.push('Break the problem into smaller pieces and report progress on the parts that can move');
  if (severity === 'high' || severity === 'critical') steps.push('Escalate to a human lead now');
  return {
    root_cause: hits.length > 0 ? hits.map((r) => r.cause).join('; ') : 'Not determined from the description',
    impact_assessment:
      severity === 'low' ? 'Slows this task; others can continue' : severity === 'medium' ? 'Stops this task' : 'Stops this task and may hold up dependent work',
    resolution_steps: steps,
    required_resources: [...new Set(hits.flatMap((r) => r.resources))],
    estimated_hours: severity === 'low' ? 2 : 4,
    escalation_needed: severity === 'high' || severity === 'critical',
    prevention_measures: ['Record the cause and the fix with log_decision so the next agent avoids it'],
  };
}
