// Regenerates docs/dashboard.png, the README's picture of the live dashboard:
//   npm run build && npx tsx scripts/dashboard-screenshot.ts [output.png]
// Starts the built service (dist/main.js, embedded in-memory database) on a free port, seeds a
// small realistic project through the public API and agent sockets, opens the page in headless
// Chromium at 1366×768, enters the project key and saves a screenshot. The built service is used
// because tsx does not emit the decorator metadata Nest's injection needs.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { io, type Socket } from 'socket.io-client';

const ROOT = resolve(__dirname, '..');
const OUT = resolve(process.argv[2] ?? join(ROOT, 'docs', 'dashboard.png'));
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'];

interface Answer {
  success: boolean;
  task?: { id: string; name: string; lease: { token: string } };
  [k: string]: unknown;
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => res(port));
    });
  });
}

async function waitReady(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the service exited with code ${child.exitCode}`);
    try {
      if ((await fetch(`${url}/health/ready`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error('the service did not become ready within 60 s');
}

async function http<T>(url: string, method: string, path: string, key: string | undefined, body?: unknown): Promise<T> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

class Agent {
  constructor(
    readonly id: string,
    private readonly socket: Socket,
  ) {}

  static async connect(url: string, apiKey: string, id: string, name: string, role: string, skills: string[], capacity: number): Promise<Agent> {
    const { access_token } = await http<{ access_token: string }>(url, 'POST', '/api/v1/agents/auth', undefined, { api_key: apiKey, agent_id: id });
    const socket = io(`${url}/agents`, { auth: { token: access_token }, transports: ['websocket'], reconnection: false, forceNew: true });
    await new Promise<void>((res, rej) => {
      socket.once('connect', () => res());
      socket.once('connect_error', rej);
    });
    const agent = new Agent(id, socket);
    await agent.call('register_agent', { agent_id: id, name, role, skills, capacity });
    return agent;
  }

  async call(tool: string, payload: Record<string, unknown>): Promise<Answer> {
    const answer = (await this.socket.timeout(15_000).emitWithAck(tool, payload)) as Answer;
    if (!answer.success) throw new Error(`${this.id} ${tool}: ${JSON.stringify(answer)}`);
    return answer;
  }

  async claim(): Promise<{ id: string; token: string }> {
    const a = await this.call('request_next_task', { agent_id: this.id });
    if (!a.task) throw new Error(`${this.id}: no task to claim`);
    return { id: a.task.id, token: a.task.lease.token };
  }

  progress(t: { id: string; token: string }, progress: number, message: string): Promise<Answer> {
    return this.call('report_task_progress', { agent_id: this.id, task_id: t.id, status: 'in_progress', progress, message, lease_token: t.token });
  }

  complete(t: { id: string; token: string }): Promise<Answer> {
    return this.call('report_task_progress', { agent_id: this.id, task_id: t.id, status: 'completed', progress: 100, message: 'done', lease_token: t.token });
  }

  close(): void {
    this.socket.disconnect();
  }
}

const TASKS: { name: string; priority: string; labels: string[] }[] = [
  // Claimed and finished first (the highest priorities go first).
  { name: 'Set up CI pipeline', priority: 'urgent', labels: ['devops'] },
  { name: 'Design the database schema', priority: 'urgent', labels: ['backend'] },
  { name: 'Landing page layout', priority: 'urgent', labels: ['frontend'] },
  { name: 'Smoke tests for signup', priority: 'urgent', labels: ['qa'] },
  { name: 'REST endpoints for orders', priority: 'urgent', labels: ['backend'] },
  // Then held, some blocked.
  { name: 'Payment provider integration', priority: 'high', labels: ['backend'] },
  { name: 'Checkout form validation', priority: 'high', labels: ['frontend'] },
  { name: 'Staging environment on Kubernetes', priority: 'high', labels: ['devops'] },
  { name: 'Order history page', priority: 'high', labels: ['frontend'] },
  { name: 'Invoice PDF generation', priority: 'high', labels: ['backend'] },
  // Left to do.
  { name: 'Password reset emails', priority: 'medium', labels: ['backend'] },
  { name: 'Dark mode', priority: 'low', labels: ['frontend'] },
  { name: 'Load test the checkout', priority: 'medium', labels: ['qa'] },
  { name: 'Accessibility audit', priority: 'medium', labels: ['frontend', 'qa'] },
  { name: 'Rotate database credentials', priority: 'medium', labels: ['devops'] },
  { name: 'Admin dashboard for refunds', priority: 'low', labels: ['frontend'] },
];

async function seed(url: string, adminKey: string): Promise<{ apiKey: string; agents: Agent[] }> {
  const project = await http<{ id: string; api_key: string }>(url, 'POST', '/api/v1/projects', adminKey, { name: 'Shop relaunch' });
  for (const t of TASKS) await http(url, 'POST', `/api/v1/projects/${project.id}/tasks`, project.api_key, t);
  const k = project.api_key;
  const ada = await Agent.connect(url, k, 'ada', 'Ada', 'backend developer', ['backend'], 2);
  const grace = await Agent.connect(url, k, 'grace', 'Grace', 'frontend developer', ['frontend'], 2);
  const linus = await Agent.connect(url, k, 'linus', 'Linus', 'devops engineer', ['devops'], 1);
  const margaret = await Agent.connect(url, k, 'margaret', 'Margaret', 'tester', ['qa'], 1);
  // A first round finished: five tasks done.
  for (const a of [linus, ada, grace, margaret, ada]) await a.complete(await a.claim());
  // Work in progress, at various stages.
  const payment = await ada.claim();
  await ada.progress(payment, 60, 'Webhooks verified; refunds next');
  const invoice = await ada.claim();
  await ada.progress(invoice, 20, 'Template drafted');
  const checkout = await grace.claim();
  await grace.progress(checkout, 85, 'All fields validated; polishing error messages');
  const history = await grace.claim();
  await grace.progress(history, 35, 'Table and pagination done');
  const staging = await linus.claim();
  await linus.call('report_blocker', {
    agent_id: 'linus',
    task_id: staging.id,
    blocker_description: 'The cluster credentials for staging are missing: kubectl answers 403 Forbidden on every namespace',
    severity: 'high',
    lease_token: staging.token,
  });
  return { apiKey: k, agents: [ada, grace, linus, margaret] };
}

async function main(): Promise<void> {
  if (!existsSync(join(ROOT, 'dist', 'main.js'))) throw new Error('dist/main.js not found: run `npm run build` first');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const adminKey = `screenshot-${randomBytes(12).toString('hex')}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'pm-agent-shot-'));
  const child = spawn(process.execPath, [join(ROOT, 'dist', 'main.js')], {
    env: {
      PATH: process.env.PATH,
      PORT: String(port),
      HOST: '127.0.0.1',
      PM_AGENT_DATA_DIR: dataDir,
      PM_AGENT_EMBEDDED_DB: 'memory',
      PM_AGENT_ADMIN_KEY: adminKey,
      MANAGEMENT_ENABLED: 'false',
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  let agents: Agent[] = [];
  try {
    await waitReady(url, child);
    const seeded = await seed(url, adminKey);
    agents = seeded.agents;
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    try {
      const page = await browser.newPage({ viewport: { width: 1366, height: 768 } });
      await page.goto(`${url}/`);
      await page.locator('#key').fill(seeded.apiKey);
      await page.getByRole('button', { name: 'Open dashboard' }).click();
      await page.locator('.blocker').first().waitFor();
      await page.locator('tr[data-agent-id="margaret"]').waitFor();
      // Let one countdown tick pass so the leases show a running clock.
      await page.waitForTimeout(1500);
      await page.screenshot({ path: OUT });
      console.log(`wrote ${OUT}`);
    } finally {
      await browser.close();
    }
  } finally {
    for (const a of agents) a.close();
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
