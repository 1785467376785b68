import { Injectable, Logger } from '@nestjs/common';
import Anthropic from '@anthropic-ai/sdk';
import { z } from 'zod';
import { AppConfig } from '../../config/app-config';
import { fallbackBlockerAnalysis, type BlockerAnalysis, type Severity } from './fallback-blocker';

export type AiSource = 'llm' | 'fallback';

const analysisSchema = z.object({
  root_cause: z.string().min(1).max(4000),
  impact_assessment: z.string().min(1).max(4000),
  resolution_steps: z.array(z.string().min(1).max(2000)).min(1).max(20),
  required_resources: z.array(z.string().max(500)).max(20),
  estimated_hours: z.number().finite().min(0).max(1000),
  escalation_needed: z.boolean(),
  prevention_measures: z.array(z.string().max(2000)).max(20),
});

export interface BlockerContext {
  taskName: string;
  taskDescription: string;
  description: string;
  severity: Severity;
  agentName: string;
}

export interface TaskBrief {
  name: string;
  description: string;
  priority: string;
  labels: readonly string[];
  acceptance_criteria: readonly string[];
  dependencies: readonly { name: string }[];
}

/**
 * The LLM (Anthropic Messages API). Never fails a caller: no key, an API error, a timeout or an
 * answer that is not the JSON asked for all give the deterministic fallback instead.
 */
@Injectable()
export class AiService {
  private readonly logger = new Logger('AI');
  private readonly client: Anthropic | null;

  constructor(private readonly config: AppConfig) {
    const { apiKey, baseUrl, timeoutMs, maxRetries } = config.ai;
    this.client = apiKey ? new Anthropic({ apiKey, baseURL: baseUrl, timeout: timeoutMs, maxRetries }) : null;
  }

  get enabled(): boolean {
    return this.client !== null;
  }

  async analyzeBlocker(ctx: BlockerContext): Promise<{ analysis: BlockerAnalysis; source: AiSource }> {
    const fallback = () => ({ analysis: fallbackBlockerAnalysis(ctx.description, ctx.severity), source: 'fallback' as const });
    if (!this.client) return fallback();
    const prompt = [
      'An autonomous coding agent is blocked. Analyse the blocker and answer with ONE JSON object only, with keys:',
      'root_cause (string), impact_assessment (string), resolution_steps (array of strings), required_resources (array of strings),',
      'estimated_hours (number), escalation_needed (boolean), prevention_measures (array of strings).',
      '',
      `Task: ${ctx.taskName}`,
      `Task description: ${ctx.taskDescription || '(none)'}`,
      `Reported by: ${ctx.agentName}`,
      `Severity: ${ctx.severity}`,
      `Blocker: ${ctx.description}`,
    ].join('\n');
    try {
      const text = await this.complete(prompt, 1500);
      return { analysis: analysisSchema.parse(extractJson(text)), source: 'llm' };
    } catch (err) {
      this.logger.warn(`blocker analysis fell back: ${describe(err)}`);
      return fallback();
    }
  }

  /** A task brief written ahead of assignment; null means "use the deterministic one". */
  async prepareInstructions(task: TaskBrief): Promise<string | null> {
    if (!this.client) return null;
    const prompt = [
      'Write concise implementation instructions in Markdown for an autonomous coding agent about to start this task.',
      'Sections: "## Task", "## Implementation steps" (numbered), "## Definition of done", "## Risks". No preamble.',
      '',
      `Task: ${task.name}`,
      `Priority: ${task.priority}`,
      `Description: ${task.description || '(none)'}`,
      `Labels: ${task.labels.join(', ') || '(none)'}`,
      `Acceptance criteria: ${task.acceptance_criteria.join('; ') || '(none)'}`,
      `Depends on: ${task.dependencies.map((d) => d.name).join(', ') || '(nothing)'}`,
    ].join('\n');
    try {
      const text = (await this.complete(prompt, 2000)).trim();
      if (text.length < 20) throw new Error('answer too short');
      return text.slice(0, 20_000);
    } catch (err) {
      this.logger.warn(`instructions fell back: ${describe(err)}`);
      return null;
    }
  }

  private async complete(prompt: string, maxTokens: number): Promise<string> {
    const res = await this.client!.messages.create({
      model: this.config.ai.model,
      max_tokens: maxTokens,
      messages: [{ role: 'user', content: prompt }],
    });
    return res.content.map((b) => (b.type === 'text' ? b.text : '')).join('');
  }
}

/** The first JSON object in a text (models sometimes wrap it in prose or a code fence). */
export function extractJson(text: string): unknown {
  const start = text.indexOf('{');
  const end = text.lastIndexOf('}');
  if (start < 0 || end <= start) throw new Error('no JSON object in the answer');
  return JSON.parse(text.slice(start, end + 1));
}

// Error text without request details (which could carry headers).
function describe(err: unknown): string {
  if (err instanceof Anthropic.APIError) return `API error ${err.status ?? 'connection'}`;
  if (err instanceof z.ZodError) return 'answer did not match the expected JSON';
  return err instanceof Error ? err.name + ': ' + err.message.slice(0, 200) : 'unknown error';
}
