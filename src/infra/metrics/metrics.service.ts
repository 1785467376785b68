import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

type Source = () => number | Promise<number>;

/**
 * Prometheus metrics of this replica (its own registry, so several apps in one test process do
 * not collide). Gauges that describe shared state are read at scrape time from their sources.
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();
  private readonly sources = new Map<string, Source>();

  readonly connections: Gauge;
  readonly connectionsRefused: Counter<'reason'>;
  readonly taskAssignments: Counter;
  readonly requestDuration: Histogram<'event' | 'outcome'>;
  readonly leasesRecovered: Counter;
  readonly consumerFailures: Counter<'queue'>;
  readonly deadLettered: Counter<'queue'>;
  readonly boardSyncs: Counter<'provider' | 'result'>;
  readonly boardWritebacks: Counter<'provider' | 'result'>;

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'pm_agent_' });
    const r = [this.registry];
    this.connections = new Gauge({ name: 'pm_agent_connections', help: 'Agent sockets connected to this replica', registers: r });
    this.connectionsRefused = new Counter({ name: 'pm_agent_connections_refused', help: 'Agent handshakes refused, by reason', labelNames: ['reason'], registers: r });
    this.taskAssignments = new Counter({ name: 'pm_agent_task_assignments', help: 'Tasks assigned by this replica', registers: r });
    this.requestDuration = new Histogram({
      name: 'pm_agent_request_duration',
      help: 'Time to answer an agent call, in seconds, per event',
      labelNames: ['event', 'outcome'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: r,
    });
    this.leasesRecovered = new Counter({ name: 'pm_agent_leases_recovered', help: 'Expired leases this replica returned to the pool', registers: r });
    this.consumerFailures = new Counter({ name: 'pm_agent_consumer_failures', help: 'Event handler failures', labelNames: ['queue'], registers: r });
    this.deadLettered = new Counter({ name: 'pm_agent_dead_lettered', help: 'Events sent to a dead-letter queue', labelNames: ['queue'], registers: r });
    this.boardSyncs = new Counter({ name: 'pm_agent_kanban_syncs', help: 'Board imports run by this replica', labelNames: ['provider', 'result'], registers: r });
    this.boardWritebacks = new Counter({
      name: 'pm_agent_kanban_writebacks',
      help: 'Board write-backs attempted by this replica (applied, retry, dead)',
      labelNames: ['provider', 'result'],
      registers: r,
    });
    this.sourced('pm_agent_leader', '1 while this replica is the elected leader (board sync and write-back)');
    this.sourced('pm_agent_kanban_writebacks_pending', 'Board write-backs waiting for their board (all replicas)');
    this.sourced('pm_agent_leases_active', 'Leases held right now (all replicas)');
    this.sourced('pm_agent_leases_overdue', 'Leases past expiry and grace, awaiting the sweeper (all replicas)');
    this.sourced('pm_agent_outbox_pending', 'Outbox events not yet published (all replicas)');
    this.sourced('pm_agent_outbox_lag_seconds', 'Age of the oldest unpublished outbox event');
    this.sourced('pm_agent_kanban_breaker_open', 'Board providers whose circuit breaker is open');
  }

  /** Supplies the value of a scrape-time gauge. */
  setSource(name: string, source: Source): void {
    this.sources.set(name, source);
  }

  private sourced(name: string, help: string): void {
    const sources = this.sources;
    new Gauge({
      name,
      help,
      registers: [this.registry],
      async collect() {
        const src = sources.get(name);
        if (!src) return;
        try {
          this.set(await src());
        } catch {
          // a failed source leaves the last value; the scrape must not fail
        }
      },
    });
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
