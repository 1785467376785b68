import type { z } from 'zod';
import { AppError, CommonErrorCode } from './errors';

/** Parses with a zod schema; failures become VALIDATION_FAILED naming the fields. */
export function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown): z.infer<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issues = result.error.issues.slice(0, 5).map((i) => {
    const path = i.path.map(String).join('.');
    return path ? `${path}: ${i.message}` : i.message;
  });
  throw new AppError(CommonErrorCode.VALIDATION_FAILED, `Invalid payload: ${issues.join('; ')}`);
}
