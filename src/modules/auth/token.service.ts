import { Injectable } from '@nestjs/common';
import { createHash } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { AppConfig } from '../../config/app-config';
import { Secrets } from '../../config/secrets';
import { AppError, AuthErrorCode } from '../../common/errors';

export interface AgentIdentity {
  projectId: string;
  agentId: string;
}

const ISSUER = 'pm-agent';
const AUDIENCE = 'pm-agent/agents';

/** Agent JWTs (HS256): bound to one agent id in one project. */
@Injectable()
export class TokenService {
  private readonly kid: string;

  constructor(
    private readonly config: AppConfig,
    private readonly secrets: Secrets,
  ) {
    // The key id names the secret without revealing it, so secrets can rotate later.
    this.kid = createHash('sha256').update(secrets.jwtSecret).digest('hex').slice(0, 12);
  }

  issue(identity: AgentIdentity): { access_token: string; token_type: 'Bearer'; expires_in: number } {
    const token = jwt.sign({ pid: identity.projectId, typ: 'agent' }, this.secrets.jwtSecret, {
      algorithm: 'HS256',
      subject: identity.agentId,
      issuer: ISSUER,
      audience: AUDIENCE,
      expiresIn: this.config.jwtTtlSeconds,
      keyid: this.kid,
    });
    return { access_token: token, token_type: 'Bearer', expires_in: this.config.jwtTtlSeconds };
  }

  verify(token: unknown): AgentIdentity {
    if (typeof token !== 'string' || token.length === 0 || token.length > 4096) {
      throw new AppError(AuthErrorCode.INVALID_TOKEN, 'A token is required (auth: { token })');
    }
    let claims: jwt.JwtPayload;
    try {
      claims = jwt.verify(token, this.secrets.jwtSecret, {
        algorithms: ['HS256'],
        issuer: ISSUER,
        audience: AUDIENCE,
      }) as jwt.JwtPayload;
    } catch (err) {
      const expired = err instanceof jwt.TokenExpiredError;
      throw new AppError(AuthErrorCode.INVALID_TOKEN, expired ? 'Token expired' : 'Invalid token');
    }
    if (claims.typ !== 'agent' || typeof claims.pid !== 'string' || typeof claims.sub !== 'string') {
      throw new AppError(AuthErrorCode.INVALID_TOKEN, 'Invalid token');
    }
    return { projectId: claims.pid, agentId: claims.sub };
  }
}
