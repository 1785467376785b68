import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../support/app';
import { launchChromium } from '../support/chromium';
import { ApiClient, type AgentSocket } from '../support/client';

// The page at `/` in headless Chromium: it asks for a key, then shows the board and the agents,
// and a task completed by an agent moves to Done without a reload.

const ARTIFACTS = join(__dirname, '..', '..', 'test-artifacts');

describe('dashboard page in Chromium (embedded)', () => {
  let t: TestApp;
  let api: ApiClient;
  let browser: Browser;
  let page: Page;
  let project: { id: string; api_key: string };
  let agent: AgentSocket;
  const problems: string[] = [];

  beforeAll(async () => {
    // Short leases (18 s before the first report) so the countdown shows its under-30-s warning.
    t = await startTestApp('embedded', { DASHBOARD_REFRESH_MS: '200', LEASE_TIMEOUT_SCALE: '0.1' });
    api = new ApiClient(t.url, t.adminKey);
    project = await api.createProject('Website relaunch');
    await api.addTask(project.id, { name: 'Build the login form', priority: 'high', labels: ['frontend'] });
    await api.addTask(project.id, { name: 'Write <b>the</b> release notes', priority: 'low' });
    agent = await api.agent(project.api_key, 'ui-agent-1', [], 'Alice');
    mkdirSync(ARTIFACTS, { recursive: true });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1366, height: 768 } });
    // A CSP violation or a script error would show here: the page must run under `default-src 'self'`.
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(e.message));
  });

  afterAll(async () => {
    await browser?.close();
    agent?.close();
    await t?.close();
  });

  it('serves the page and its assets with a strict policy', async () => {
    const res = await fetch(`${t.url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('content-security-policy')).toContain("default-src 'self'");
    const html = await res.text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/); // no inline script
    expect(html).not.toMatch(/<style|\sstyle=/); // no inline style
    for (const path of ['/dashboard/app.js', '/dashboard/app.css', '/socket.io/socket.io.min.js']) expect((await fetch(`${t.url}${path}`)).status).toBe(200);
    expect((await fetch(`${t.url}/dashboard/..%2Fdashboard.controller.ts`)).status).toBe(404);
    expect((await fetch(`${t.url}/dashboard/index.html`)).status).toBe(404);
  });

  it('asks for a key, then shows tasks and agents; a completed task moves to Done without reload', async () => {
    await page.goto(`${t.url}/`);
    await page.getByLabel('Key', { exact: true }).fill(project.api_key);
    await page.getByRole('button', { name: 'Open dashboard' }).click();

    await expect.poll(() => page.locator('#project-name').textContent()).toBe('Website relaunch');
    await expect.poll(() => page.locator('#conn-text').textContent()).toBe('live');
    const todo = page.locator('.column[data-status="todo"]');
    await expect.poll(() => todo.locator('.card-name').allTextContents()).toEqual(['Build the login form', 'Write <b>the</b> release notes']);
    // Task names are text, never markup.
    expect(await page.locator('.card-name b').count()).toBe(0);
    await expect.poll(() => page.locator('tr[data-agent-id="ui-agent-1"]').textContent()).toContain('Alice');
    expect(await page.locator('tr[data-agent-id="ui-agent-1"] .dot').getAttribute('class')).toContain('dot-on');

    // The agent claims the high-priority task: it moves to In progress, with a lease countdown.
    const next = await agent.call('request_next_task', { agent_id: 'ui-agent-1' });
    expect(next.task.name).toBe('Build the login form');
    const card = page.locator(`.column[data-status="in_progress"] [data-task-id="${next.task.id}"]`);
    await expect.poll(() => card.count()).toBe(1);
    const row = page.locator('tr[data-agent-id="ui-agent-1"]');
    await expect.poll(() => row.textContent()).toContain('Build the login form');
    await expect.poll(() => row.locator('.lease').textContent()).toMatch(/^0:[01]\d$/);
    expect(await row.locator('.lease').getAttribute('class')).toContain('lease-low');

    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-in-progress.png') });
    // A mark in this document: still there at the end means no reload happened.
    await page.evaluate('window.__noReload = 42');
    const done = await agent.call('report_task_progress', {
      agent_id: 'ui-agent-1',
      task_id: next.task.id,
      status: 'completed',
      progress: 100,
      message: 'login form shipped',
      lease_token: next.task.lease.token,
    });
    expect(done.success).toBe(true);

    const doneCard = page.locator(`.column[data-status="done"] [data-task-id="${next.task.id}"]`);
    await expect.poll(() => doneCard.count(), { timeout: 10_000 }).toBe(1);
    expect(await page.locator(`.column[data-status="in_progress"] [data-task-id="${next.task.id}"]`).count()).toBe(0);
    await expect.poll(() => page.locator('#stat-hour').textContent()).toBe('1');
    await expect.poll(() => row.locator('td').nth(1).textContent()).toBe('idle');
    // Still the same document: the update came over the socket.
    expect(await page.evaluate('window.__noReload')).toBe(42);

    await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png') });
    expect(problems).toEqual([]);
  });

  it('lets the admin key pick a project from a list', async () => {
    const other = await api.createProject('Another project');
    const fresh = await browser.newPage({ viewport: { width: 1366, height: 768 } });
    try {
      await fresh.goto(`${t.url}/`);
      await fresh.getByLabel('Key', { exact: true }).fill(t.adminKey);
      await fresh.getByRole('button', { name: 'Open dashboard' }).click();
      await fresh.locator('#picker').waitFor();
      expect(await fresh.locator('#project-select option').allTextContents()).toEqual(expect.arrayContaining([expect.stringContaining('Website relaunch')]));
      await fresh.locator('#project-select').selectOption(other.id);
      await fresh.getByRole('button', { name: 'Open', exact: true }).click();
      await expect.poll(() => fresh.locator('#project-name').textContent()).toBe('Another project');
      // The choice survives a reload (sessionStorage), without asking for the key again.
      await fresh.reload();
      await expect.poll(() => fresh.locator('#project-name').textContent()).toBe('Another project');
    } finally {
      await fresh.close();
    }
  });

  it('refuses a wrong key on the page and asks again', async () => {
    const fresh = await browser.newPage({ viewport: { width: 1366, height: 768 } });
    try {
      await fresh.goto(`${t.url}/`);
      await fresh.getByLabel('Key', { exact: true }).fill('pmk_0000000000000000_' + 'x'.repeat(43));
      await fresh.getByRole('button', { name: 'Open dashboard' }).click();
      await expect.poll(() => fresh.locator('#login-error').textContent()).toContain('UNAUTHORIZED');
      expect(await fresh.locator('#main').isHidden()).toBe(true);
    } finally {
      await fresh.close();
    }
  });
});
