import { createHmac, timingSafeEqual } from 'node:crypto';

/** Linear's advice: refuse deliveries whose signed timestamp is more than a minute off. */
const MAX_SKEW_MS = 60_000;

/**
 * A Linear webhook delivery is genuine when `Linear-Signature` is the hex HMAC-SHA256 of the raw
 * body under the webhook's secret, and the body's `webhookTimestamp` (epoch ms, covered by the
 * signature, unlike the Linear-Timestamp header) is within a minute of now, so a captured delivery
 * cannot be replayed later. The comparison is constant-time.
 */
export function verifyLinearSignature(rawBody: Buffer, signatureHeader: string | undefined, secret: string, nowMs: number = Date.now()): boolean {
  if (!signatureHeader || !secret) return false;
  const given = signatureHeader.trim();
  if (!/^[0-9a-f]{64}$/i.test(given)) return false;
  const expected = createHmac('sha256', secret).update(rawBody).digest();
  if (!timingSafeEqual(Buffer.from(given, 'hex'), expected)) return false;
  let timestamp: unknown;
  try {
    timestamp = (JSON.parse(rawBody.toString('utf8')) as { webhookTimestamp?: unknown } | null)?.webhookTimestamp;
  } catch {
    return false;
  }
  return typeof timestamp === 'number' && Number.isFinite(timestamp) && Math.abs(nowMs - timestamp) <= MAX_SKEW_MS;
}

/** Delivery types that can change what the board shows. */
const RELEVANT_TYPES = new Set(['Issue', 'Comment', 'IssueLabel']);

/**
 * Whether a (verified) delivery concerns the board, and which issues it names: an Issue event its
 * own id, a Comment event the issue commented on. IssueLabel events are about a label, not one
 * issue, so they name none (every issue carrying it may read differently).
 */
export function linearWebhookHint(payload: unknown): { relevant: boolean; externalIds: string[] } {
  if (!isObject(payload) || typeof payload.type !== 'string' || !RELEVANT_TYPES.has(payload.type)) return { relevant: false, externalIds: [] };
  const data = isObject(payload.data) ? payload.data : {};
  const ids: unknown[] = [];
  if (payload.type === 'Issue') ids.push(data.id);
  if (payload.type === 'Comment') ids.push(data.issueId, isObject(data.issue) ? data.issue.id : undefined);
  const externalIds = [...new Set(ids.filter((x): x is string => typeof x === 'string' && x !== ''))];
  return { relevant: true, externalIds };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
