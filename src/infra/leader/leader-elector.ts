import { Logger } from '@nestjs/common';

export type LeaderElectorKind = 'kubernetes' | 'postgres' | 'local';

export type LeadershipListener = (leader: boolean) => void;

/** Where electors report; Nest's Logger fits. */
export interface ElectionLog {
  log(message: string): void;
  warn(message: string): void;
  debug?(message: string): void;
}

/** The default log of an elector (Nest's logger, with a context naming the election). */
export function electionLog(context: string): ElectionLog {
  return new Logger(context);
}

/**
 * Decides which one of pm-agent's replicas runs the periodic board sync. Also the Nest
 * injection token: modules ask for `LeaderElector` and get the implementation the deployment
 * calls for (Kubernetes Lease, Postgres advisory lock, or the single embedded process).
 */
export abstract class LeaderElector {
  abstract readonly identity: string;
  abstract readonly kind: LeaderElectorKind;

  /** Begins campaigning; resolves once the first attempt is over (leader or not). Never rejects because the backend is down. */
  abstract start(): Promise<void>;

  /** Stops campaigning; a leader steps down first and then releases the lock so another replica takes over promptly. */
  abstract stop(): Promise<void>;

  private leading = false;
  // Objects, not the functions themselves, so one function registered twice unsubscribes once.
  private listeners: { fn: LeadershipListener }[] = [];

  protected constructor(protected readonly log: ElectionLog) {}

  isLeader(): boolean {
    return this.leading;
  }

  /** Calls `listener` on every change of leadership; returns the unsubscribe function. */
  onChange(listener: LeadershipListener): () => void {
    const entry = { fn: listener };
    this.listeners.push(entry);
    return () => {
      this.listeners = this.listeners.filter((e) => e !== entry);
    };
  }

  /** Records a change and tells the listeners; a failing listener is logged and the rest still run. */
  protected setLeader(leader: boolean, reason: string): void {
    if (this.leading === leader) return;
    this.leading = leader;
    this.log.log(`${this.identity} ${leader ? 'is now the leader' : 'is no longer the leader'} (${reason})`);
    for (const { fn } of [...this.listeners]) {
      try {
        const result: unknown = fn(leader);
        // An async listener's rejection would otherwise be an unhandled rejection.
        if (result instanceof Promise) result.catch((err: unknown) => this.listenerFailed(err));
      } catch (err) {
        this.listenerFailed(err);
      }
    }
  }

  private listenerFailed(err: unknown): void {
    this.log.warn(`a leadership listener failed: ${err instanceof Error ? err.message : String(err)}`);
  }
}
