import type { z } from 'zod';
import { AppError, CommonErrorCode } from './errors';

/** Parses with a zod schema; failures become VALIDATION_FAILED naming the fields. */
export function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown): z.infer<S> {
  const result = schema.safeParse(input);
  if (result.success) {
    const bad = unstorableTextAt(result.data);
    if (bad !== undefined) {
      throw new AppError(CommonErrorCode.VALIDATION_FAILED, `Invalid payload: ${bad ? `${bad}: ` : ''}text must not contain NUL characters or unpaired surrogates`);
    }
    return result.data;
  }
  const issues = result.error.issues.slice(0, 5).map((i) => {
    const path = i.path.map(String).join('.');
    return path ? `${path}: ${i.message}` : i.message;
  });
  throw new AppError(CommonErrorCode.VALIDATION_FAILED, `Invalid payload: ${issues.join('; ')}`);
}

/** A lone UTF-16 surrogate (half of a pair without its other half). */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Postgres text cannot hold NUL, and jsonb refuses both NUL and unpaired surrogates. */
function storable(s: string): boolean {
  return !s.includes('\u0000') && !LONE_SURROGATE.test(s);
}

/**
 * The path of the first string (value or key) in parsed data that the database could not store,
 * '' for the top level, undefined when all is well. Walks the schema's output, not the raw input,
 * so its size and depth are bounded by the schema.
 */
function unstorableTextAt(data: unknown): string | undefined {
  const stack: Array<[unknown, string]> = [[data, '']];
  while (stack.length > 0) {
    const [value, path] = stack.pop()!;
    if (typeof value === 'string') {
      if (!storable(value)) return path;
      continue;
    }
    if (typeof value !== 'object' || value === null) continue;
    for (const [key, child] of Object.entries(value)) {
      const at = path ? `${path}.${key}` : key;
      if (!storable(key)) return at;
      stack.push([child, at]);
    }
  }
  return undefined;
}
