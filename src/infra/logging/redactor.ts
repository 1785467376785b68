// Secret values never reach a log line: known secrets (registered at start) and anything shaped
// like a credential (project keys, JWTs, bearer headers, passwords in URLs) are masked.

const PATTERNS: [RegExp, string][] = [
  [/pmk_[0-9a-f]{16}_[A-Za-z0-9_-]{20,}/g, 'pmk_[REDACTED]'],
  [/\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g, '[REDACTED JWT]'],
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/gi, '$1 [REDACTED]'],
  [/(\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@]*:)[^\s@/]+@/gi, '$1[REDACTED]@'],
  [/\b(sk-ant-[A-Za-z0-9_-]{8,})/g, '[REDACTED]'],
];

const MIN_SECRET_CHARS = 8;

export class Redactor {
  private readonly secrets = new Set<string>();

  /** Registers a value to mask wherever it appears (too-short values would mask ordinary words). */
  addSecret(value: string | undefined): void {
    if (value && value.length >= MIN_SECRET_CHARS) this.secrets.add(value);
  }

  scrub(text: string): string {
    let out = text;
    for (const s of this.secrets) if (out.includes(s)) out = out.split(s).join('[REDACTED]');
    for (const [re, by] of PATTERNS) out = out.replace(re, by);
    return out;
  }
}

/** The process-wide redactor: secrets are registered as they are resolved, every log line goes through it. */
export const redactor = new Redactor();
