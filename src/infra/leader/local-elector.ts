import { hostname } from 'node:os';
import { electionLog, LeaderElector, type ElectionLog } from './leader-elector';

export interface LocalLeaderElectorOptions {
  identity?: string;
  log?: ElectionLog;
}

/** The single embedded process has nobody to compete with: it leads from start() until stop(). */
export class LocalLeaderElector extends LeaderElector {
  readonly kind = 'local' as const;
  readonly identity: string;

  constructor(opts: LocalLeaderElectorOptions = {}) {
    super(opts.log ?? electionLog('LeaderElection'));
    this.identity = opts.identity ?? `${hostname()}-${process.pid}`;
  }

  async start(): Promise<void> {
    this.setLeader(true, 'single embedded process');
  }

  async stop(): Promise<void> {
    this.setLeader(false, 'stopped');
  }
}
