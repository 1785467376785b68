import { readFileSync } from 'node:fs';
import type { AppConfig } from '../../config/app-config';
import { kubernetesCoordinationApi } from './k8s-api';
import { KubernetesLeaseElector } from './k8s-lease-elector';
import type { LeaderElector } from './leader-elector';
import { LocalLeaderElector } from './local-elector';
import { PgAdvisoryLeaderElector } from './pg-advisory-elector';

const SA_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/** The elector the deployment calls for (LEADER_ELECTION; `auto` picks by environment). */
export function createLeaderElector(config: AppConfig): LeaderElector {
  const e = config.leaderElection;
  switch (e.mode) {
    case 'kubernetes':
      return new KubernetesLeaseElector({
        api: kubernetesCoordinationApi(),
        namespace: e.namespace ?? podNamespace(),
        name: e.name,
        identity: config.replicaId,
        leaseDurationSeconds: e.leaseSeconds,
        renewDeadlineSeconds: e.renewDeadlineSeconds,
        retryPeriodSeconds: e.retrySeconds,
      });
    case 'postgres':
      if (!config.database.url) return new LocalLeaderElector({ identity: config.replicaId });
      return new PgAdvisoryLeaderElector({
        connectionString: config.database.url,
        name: e.name,
        identity: config.replicaId,
        retryMs: e.retrySeconds * 1000,
        checkMs: e.retrySeconds * 1000,
      });
    case 'local':
      return new LocalLeaderElector({ identity: config.replicaId });
  }
}

function podNamespace(): string {
  try {
    return readFileSync(SA_NAMESPACE, 'utf8').trim() || 'default';
  } catch {
    return 'default';
  }
}
