import { createHmac, timingSafeEqual } from 'node:crypto';

// GitHub webhooks (https://docs.github.com/webhooks/using-webhooks/validating-webhook-deliveries):
// X-Hub-Signature-256 is `sha256=` + the hex HMAC-SHA256 of the raw body under the webhook secret.

const SIGNATURE = /^sha256=([0-9a-f]{64})$/i;

/** True only for a well-formed X-Hub-Signature-256 matching `rawBody` under `secret` (compared in constant time). */
export function verifyGitHubSignature(rawBody: Buffer, signatureHeader: string | undefined, secret: string): boolean {
  // An empty secret would make any signature forgeable.
  if (!secret || typeof signatureHeader !== 'string') return false;
  const m = SIGNATURE.exec(signatureHeader.trim());
  if (!m) return false;
  const given = Buffer.from(m[1], 'hex');
  const expected = createHmac('sha256', secret).update(rawBody).digest();
  return given.length === expected.length && timingSafeEqual(given, expected);
}

const record = (v: unknown): Record<string, unknown> | null => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null);
const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

/**
 * Whether a delivery can change a task, and which issues (node ids, pm-agent's external ids) to
 * re-read: `issues` and `issue_comment` name `issue.node_id` (comments on pull requests do not
 * count); `projects_v2_item` names `projects_v2_item.content_node_id` when the item is an Issue
 * (drafts, pull requests and mere reordering do not count). Anything else is irrelevant.
 */
export function githubWebhookHint(eventName: string, payload: unknown): { relevant: boolean; externalIds: string[] } {
  const none = { relevant: false, externalIds: [] };
  const p = record(payload);
  if (!p) return none;
  switch (eventName) {
    case 'issues':
    case 'issue_comment': {
      const issue = record(p.issue);
      if (!issue || (eventName === 'issue_comment' && issue.pull_request != null)) return none;
      const id = str(issue.node_id);
      return id ? { relevant: true, externalIds: [id] } : none;
    }
    case 'projects_v2_item': {
      const item = record(p.projects_v2_item);
      if (!item || item.content_type !== 'Issue' || p.action === 'reordered') return none;
      const id = str(item.content_node_id);
      return id ? { relevant: true, externalIds: [id] } : none;
    }
    default:
      return none;
  }
}
