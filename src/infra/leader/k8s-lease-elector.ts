import {
  CoordinationV1Api,
  Observable,
  V1MicroTime,
  type ConfigurationOptions,
  type ObservableMiddleware,
  type RequestContext,
  type ResponseContext,
  type V1Lease,
} from '@kubernetes/client-node';
import {
  acquireRecord,
  candidateDelayMs,
  leadershipDeadline,
  mayAcquire,
  observeLease,
  releaseRecord,
  validateLeaseTimings,
  type LeaseObservation,
  type LeaseRecord,
} from './election';
import { describeApiFailure, statusCode } from './k8s-api';
import { electionLog, LeaderElector, type ElectionLog } from './leader-elector';

export interface KubernetesLeaseElectorOptions {
  api: CoordinationV1Api;
  namespace: string;
  /** Name of the Lease object; replicas with the same name compete for it. */
  name: string;
  /** This replica's identity (the pod name), written into spec.holderIdentity. */
  identity: string;
  /** How long candidates wait, from when they last saw the lease change, before taking it over. */
  leaseDurationSeconds: number;
  /** How long the leader keeps leading without a successful renewal. */
  renewDeadlineSeconds: number;
  /** How often the leader renews (candidates retry at a jittered fraction of it). */
  retryPeriodSeconds: number;
  /** This replica's clock, epoch ms (default Date.now). Only differences on it are ever compared. */
  now?: () => number;
  /** Random numbers in [0, 1) for the candidates' jitter (default Math.random). */
  random?: () => number;
  /** Timeout of each API request (default renewDeadlineSeconds). */
  requestTimeoutMs?: number;
  log?: ElectionLog;
}

type State = 'idle' | 'running' | 'stopping' | 'crashed';

/**
 * Leader election through a `coordination.k8s.io/v1` Lease, with the semantics of client-go's
 * leaderelection package:
 *
 * - read the Lease; create it if absent (409 AlreadyExists: another replica won, retry later);
 * - a Lease held by someone else is left alone until leaseDurationSeconds have passed on OUR
 *   clock since we last saw the record change, so clock skew between replicas does not matter;
 * - taking it over is a replace carrying the resourceVersion we read: a 409 Conflict means another
 *   replica wrote first and we are not the leader;
 * - the leader renews every retry period and steps down when it has not renewed within the renew
 *   deadline (counted from when the last successful write was sent), which is shorter than the
 *   lease duration, so it has stopped before any candidate may take over;
 * - a graceful stop releases the Lease (no holder, duration 1 s, as ReleaseOnCancel does).
 */
export class KubernetesLeaseElector extends LeaderElector {
  readonly kind = 'kubernetes' as const;
  readonly identity: string;
  private readonly api: CoordinationV1Api;
  private readonly clock: () => number;
  private readonly random: () => number;
  private readonly retryMs: number;
  private readonly renewDeadlineMs: number;
  private readonly requestTimeoutMs: number;
  private state: State = 'idle';
  /** The Lease object as last read or written (its resourceVersion makes our writes conditional). */
  private lease?: V1Lease;
  private observed?: LeaseObservation;
  /** Leadership lapses at this time on our clock unless a renewal succeeds first. */
  private leadingUntil = 0;
  private stepDownTimer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopping?: Promise<void>;
  private wake?: () => void;
  private abort = new AbortController();
  private lastProblem = '';

  constructor(private readonly opts: KubernetesLeaseElectorOptions) {
    super(opts.log ?? electionLog(`LeaderElection:${opts.namespace}/${opts.name}`));
    validateLeaseTimings(opts);
    if (!opts.identity) throw new Error('an identity is required');
    this.api = opts.api;
    this.identity = opts.identity;
    this.clock = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
    this.retryMs = opts.retryPeriodSeconds * 1000;
    this.renewDeadlineMs = opts.renewDeadlineSeconds * 1000;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? this.renewDeadlineMs;
  }

  /** Leader only while the last successful write is recent enough, even if a timer is late. */
  override isLeader(): boolean {
    if (!super.isLeader()) return false;
    if (this.clock() < this.leadingUntil) return true;
    this.stepDown(`could not renew within ${this.opts.renewDeadlineSeconds} s`);
    return false;
  }

  /** The Lease as this replica last read or wrote it (diagnostics). */
  get lastLease(): V1Lease | undefined {
    return this.lease;
  }

  async start(): Promise<void> {
    if (this.state !== 'idle') return;
    this.state = 'running';
    this.abort = new AbortController();
    let firstAttempt!: () => void;
    const attempted = new Promise<void>((resolve) => (firstAttempt = resolve));
    this.running = this.loop(firstAttempt);
    await attempted;
  }

  stop(): Promise<void> {
    // A second caller waits for the same stop (and release) as the first.
    if (this.state === 'running') this.stopping = this.halt().finally(() => (this.stopping = undefined));
    return this.stopping ?? Promise.resolve();
  }

  private async halt(): Promise<void> {
    this.state = 'stopping';
    // Stop leading at once; a renewal still in flight no longer makes us leader (see wrote()).
    this.stepDown('stopping');
    this.wake?.();
    await this.running;
    await this.release();
    this.state = 'idle';
  }

  /**
   * Test-only: dies like a killed process. Timers stop and requests in flight are abandoned,
   * and nothing is released: the others must wait for the lease to expire.
   */
  crash(): void {
    if (this.state === 'idle' || this.state === 'crashed') return;
    this.state = 'crashed';
    this.abort.abort();
    this.wake?.();
    this.stepDown('crashed');
  }

  private async loop(firstAttempt: () => void): Promise<void> {
    while (this.state === 'running') {
      const startedAt = this.clock();
      await this.tryAcquireOrRenew();
      firstAttempt();
      if (this.state !== 'running') break;
      const now = this.clock();
      // The leader renews once per retry period; candidates come back sooner (see candidateDelayMs).
      const delay = super.isLeader() ? Math.max(0, this.retryMs - (now - startedAt)) : candidateDelayMs(this.retryMs, this.random(), now, this.observed);
      await this.sleep(delay);
    }
    firstAttempt();
  }

  private async tryAcquireOrRenew(): Promise<void> {
    const sentAt = this.clock();
    // Fast path, as in client-go: the leader renews on the object it last wrote; only a
    // conflict sends it back to reading the Lease.
    if (this.isLeader() && this.lease && this.observed) {
      try {
        const written = await this.replace(this.lease, acquireRecord(this.observed, this.identity, sentAt, this.opts.leaseDurationSeconds));
        this.wrote(written, sentAt);
        return;
      } catch (err) {
        if (statusCode(err) !== 409) return this.problem('renewing the lease failed', err);
        this.log.debug?.('renewal conflicted; reading the lease again');
      }
    }

    let current: V1Lease;
    try {
      current = await this.api.readNamespacedLease({ name: this.opts.name, namespace: this.opts.namespace }, this.requestOptions());
    } catch (err) {
      if (statusCode(err) === 404) {
        // The record our leadership rested on is gone (deleted by hand): others may create it now.
        this.stepDown('the lease does not exist');
        return this.create(sentAt);
      }
      return this.problem('reading the lease failed', err);
    }
    if (!this.active()) return;
    this.lease = current;
    const observed = observeLease(this.observed, this.snapshot(current), this.clock());
    this.observed = observed;
    if (observed.holderIdentity !== this.identity) {
      // Whatever we believed, the record names someone else (or nobody): we are not leading.
      this.stepDown(observed.holderIdentity ? `the lease is held by ${observed.holderIdentity}` : 'the lease was released');
    }
    if (!mayAcquire(observed, this.identity, this.clock())) {
      this.problemCleared();
      return;
    }

    try {
      const written = await this.replace(current, acquireRecord(observed, this.identity, sentAt, this.opts.leaseDurationSeconds));
      if (observed.holderIdentity !== this.identity && observed.holderIdentity !== '') {
        this.log.log(`took over the lease of ${observed.holderIdentity}, which had not been renewed for ${observed.leaseDurationSeconds} s`);
      }
      this.wrote(written, sentAt);
    } catch (err) {
      if (statusCode(err) === 409) {
        // Another replica wrote between our read and our write: it won this round.
        this.log.debug?.('lost the race for the lease (409 Conflict)');
        this.problemCleared();
        return;
      }
      this.problem('taking the lease failed', err);
    }
  }

  private async create(sentAt: number): Promise<void> {
    if (!this.active()) return;
    const record = acquireRecord(undefined, this.identity, sentAt, this.opts.leaseDurationSeconds);
    const body: V1Lease = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: this.opts.name, namespace: this.opts.namespace },
      spec: this.spec(record),
    };
    try {
      const created = await this.api.createNamespacedLease({ namespace: this.opts.namespace, body }, this.requestOptions());
      this.log.log(`created lease ${this.opts.namespace}/${this.opts.name}`);
      this.wrote(created, sentAt);
    } catch (err) {
      // 409 AlreadyExists: another replica created it first; the next attempt reads it.
      if (statusCode(err) === 409) this.problemCleared();
      else this.problem('creating the lease failed', err);
    }
  }

  /** A write of ours succeeded: remember the object, and lead until the renew deadline. */
  private wrote(lease: V1Lease, sentAt: number): void {
    if (!this.active()) return;
    this.lease = lease;
    this.observed = observeLease(this.observed, this.snapshot(lease), this.clock());
    this.problemCleared();
    const until = leadershipDeadline(sentAt, this.renewDeadlineMs);
    const now = this.clock();
    // An answer that took longer than the renew deadline proves nothing any more; and while
    // stopping, the write is only released again.
    if (now >= until || this.state !== 'running') return;
    this.leadingUntil = until;
    this.armStepDown(until - now);
    this.setLeader(true, `holds lease ${this.opts.namespace}/${this.opts.name}`);
  }

  private armStepDown(ms: number): void {
    clearTimeout(this.stepDownTimer);
    this.stepDownTimer = setTimeout(() => {
      if (super.isLeader() && this.clock() >= this.leadingUntil) this.stepDown(`could not renew within ${this.opts.renewDeadlineSeconds} s`);
      else if (super.isLeader()) this.armStepDown(this.leadingUntil - this.clock());
    }, ms);
    this.stepDownTimer.unref();
  }

  private stepDown(reason: string): void {
    clearTimeout(this.stepDownTimer);
    this.stepDownTimer = undefined;
    this.leadingUntil = 0;
    this.setLeader(false, reason);
  }

  /** Graceful stop: if the record still names us, hand it over at once. */
  private async release(): Promise<void> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const lease = this.lease;
      const observed = this.observed;
      if (!lease || !observed || observed.holderIdentity !== this.identity) return;
      try {
        const released = await this.replace(lease, releaseRecord(observed, this.clock()), true);
        this.lease = released;
        this.observed = observeLease(observed, this.snapshot(released), this.clock());
        this.log.log(`released lease ${this.opts.namespace}/${this.opts.name}`);
        return;
      } catch (err) {
        if (statusCode(err) !== 409) return this.log.warn(`releasing the lease failed (${describeApiFailure(err)}); it expires by itself`);
      }
      // Conflict: read it again, and release only if it still names us.
      try {
        this.lease = await this.api.readNamespacedLease({ name: this.opts.name, namespace: this.opts.namespace }, this.requestOptions(true));
        this.observed = observeLease(observed, this.snapshot(this.lease), this.clock());
      } catch (err) {
        return this.log.warn(`releasing the lease failed (${describeApiFailure(err)}); it expires by itself`);
      }
    }
  }

  private replace(base: V1Lease, record: LeaseRecord, releasing = false): Promise<V1Lease> {
    const body: V1Lease = {
      ...base,
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      // The resourceVersion read with `base` makes the write conditional.
      metadata: { ...base.metadata, name: this.opts.name, namespace: this.opts.namespace },
      spec: { ...base.spec, ...this.spec(record) },
    };
    return this.api.replaceNamespacedLease({ name: this.opts.name, namespace: this.opts.namespace, body }, this.requestOptions(releasing));
  }

  private spec(r: LeaseRecord): NonNullable<V1Lease['spec']> {
    // V1MicroTime serialises with the six fractional digits the API server requires.
    return {
      holderIdentity: r.holderIdentity,
      leaseDurationSeconds: r.leaseDurationSeconds,
      acquireTime: new V1MicroTime(r.acquireTime),
      renewTime: new V1MicroTime(r.renewTime),
      leaseTransitions: r.leaseTransitions,
    };
  }

  private snapshot(lease: V1Lease) {
    // client-node leaves MicroTime fields as the strings it received.
    const spec = lease.spec as { holderIdentity?: string; leaseDurationSeconds?: number; leaseTransitions?: number; acquireTime?: Date | string; renewTime?: Date | string } | undefined;
    return {
      resourceVersion: lease.metadata?.resourceVersion,
      holderIdentity: spec?.holderIdentity,
      leaseDurationSeconds: spec?.leaseDurationSeconds,
      leaseTransitions: spec?.leaseTransitions,
      acquireTime: spec?.acquireTime,
      renewTime: spec?.renewTime,
    };
  }

  /** Per-request options: a timeout, and the elector's abort signal (crash() abandons requests). */
  private requestOptions(releasing = false): ConfigurationOptions<ObservableMiddleware> {
    const signals = [AbortSignal.timeout(this.requestTimeoutMs)];
    if (!releasing) signals.push(this.abort.signal);
    const signal = AbortSignal.any(signals);
    const middleware: ObservableMiddleware = {
      pre: (ctx: RequestContext) => {
        ctx.setSignal(signal);
        return new Observable(Promise.resolve(ctx));
      },
      post: (ctx: ResponseContext) => new Observable(Promise.resolve(ctx)),
    };
    return { middleware: [middleware], middlewareMergeStrategy: 'append' };
  }

  private active(): boolean {
    return this.state === 'running' || this.state === 'stopping';
  }

  private problem(what: string, err: unknown): void {
    if (!this.active()) return;
    const text = `${what}: ${describeApiFailure(err)}`;
    // Repeats of the same failure every retry period would drown the log.
    if (text !== this.lastProblem) this.log.warn(text);
    this.lastProblem = text;
  }

  private problemCleared(): void {
    if (this.lastProblem) this.log.log('the Kubernetes API answers again');
    this.lastProblem = '';
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        if (this.wake === done) this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      timer.unref();
      this.wake = done;
    });
  }
}
