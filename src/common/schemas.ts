import { z } from 'zod';

// Field rules shared by HTTP bodies and socket payloads.
export const agentIdSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:@-]*$/, 'letters, digits and . _ : @ - only');
export const uuidSchema = z.uuid();
export const requestIdSchema = z.string().min(1).max(128).optional();
export const shortText = (max = 200) => z.string().trim().min(1).max(max);
export const labelListSchema = z.array(z.string().trim().min(1).max(64)).max(50);
