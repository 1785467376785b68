import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { Response } from 'express';
import { AppError, CommonErrorCode, httpStatusOf } from './errors';

/** One filter for every HTTP error: `{error, code}` with the matching status. */
@Catch()
export class HttpExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('HTTP');

  catch(exception: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<Response>();
    if (exception instanceof AppError) {
      res.status(httpStatusOf(exception.code)).json({ error: exception.message, code: exception.code, ...exception.details });
      return;
    }
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      res.status(status).json({ error: exception.message, code: codeForStatus(status) });
      return;
    }
    // body-parser errors carry a status and a type; never echo their internals.
    const bodyError = exception as { status?: number; type?: string };
    if (typeof bodyError?.status === 'number' && bodyError.status >= 400 && bodyError.status < 500) {
      const tooLarge = bodyError.status === 413;
      res.status(bodyError.status).json({
        error: tooLarge ? 'Request body too large' : 'Malformed request body',
        code: tooLarge ? CommonErrorCode.PAYLOAD_TOO_LARGE : CommonErrorCode.VALIDATION_FAILED,
      });
      return;
    }
    this.logger.error(exception instanceof Error ? exception.stack : String(exception));
    res.status(500).json({ error: 'Internal error', code: CommonErrorCode.INTERNAL });
  }
}

function codeForStatus(status: number): CommonErrorCode {
  if (status === 400) return CommonErrorCode.VALIDATION_FAILED;
  if (status === 401) return CommonErrorCode.UNAUTHORIZED;
  if (status === 403) return CommonErrorCode.FORBIDDEN;
  if (status === 404) return CommonErrorCode.NOT_FOUND;
  if (status === 413) return CommonErrorCode.PAYLOAD_TOO_LARGE;
  if (status === 429) return CommonErrorCode.RATE_LIMITED;
  if (status === 503) return CommonErrorCode.UNAVAILABLE;
  return status >= 500 ? CommonErrorCode.INTERNAL : CommonErrorCode.VALIDATION_FAILED;
}
