import { PmAgentError } from './errors';
import type { ReportTaskProgressAnswer, ReportTaskProgressPayload } from './types';

export interface KeepAliveOptions {
  /** Progress to report (a number or a function read at each report); default: the last one reported. */
  progress?: number | (() => number);
  message?: string | (() => string);
}

/** Answers that mean the task is not ours any more: renewing again cannot help. */
const LOST = new Set(['STALE_COMPLETION', 'TASK_NOT_FOUND', 'AGENT_NOT_REGISTERED', 'CLIENT_CLOSED']);

/**
 * Renews one task's lease with in_progress reports until stopped. Reports are chained (never two
 * at once), so a slow answer delays the next report instead of piling them up.
 */
export class KeepAlive {
  private timer?: NodeJS.Timeout;
  private stoppedFlag = false;
  /** Reports sent that were answered with success. */
  renewals = 0;

  constructor(
    readonly taskId: string,
    readonly everyMs: number,
    private readonly opts: KeepAliveOptions,
    private readonly lastProgress: () => number,
    private readonly report: (p: Omit<ReportTaskProgressPayload, 'agent_id'>) => Promise<ReportTaskProgressAnswer>,
    private readonly onError: (error: Error, stopped: boolean) => void,
    private readonly onStop: () => void,
  ) {
    if (!(everyMs > 0)) throw new RangeError('keepAlive: everyMs must be > 0');
  }

  get stopped(): boolean {
    return this.stoppedFlag;
  }

  start(): void {
    this.schedule();
  }

  stop(): void {
    if (this.stoppedFlag) return;
    this.stoppedFlag = true;
    clearTimeout(this.timer);
    this.onStop();
  }

  private schedule(): void {
    if (this.stoppedFlag) return;
    this.timer = setTimeout(() => void this.tick(), this.everyMs);
  }

  private async tick(): Promise<void> {
    if (this.stoppedFlag) return;
    const { progress, message } = this.opts;
    try {
      await this.report({
        task_id: this.taskId,
        status: 'in_progress',
        progress: typeof progress === 'function' ? progress() : (progress ?? this.lastProgress()),
        message: typeof message === 'function' ? message() : (message ?? 'working'),
      });
      this.renewals++;
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      const lost = error instanceof PmAgentError && LOST.has(error.code);
      if (lost) this.stop();
      this.onError(error, lost);
    }
    this.schedule();
  }
}
