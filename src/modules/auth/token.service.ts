import { Injectable } from '@nestjs/common';
import jwt from 'jsonwebtoken';
import { AppConfig } from '../../config/app-config';
import { Secrets } from '../../config/secrets';
import { AppError, AuthErrorCode } from '../../common/errors';
import { agentIdSchema, uuidSchema } from '../../common/schemas';
import { ProjectsService } from '../projects/projects.service';
import { KeyRevocations } from './key-revocations.service';
import { loadVerificationKeys, secretKid, type VerificationKey } from './verification-keys';

export interface AgentIdentity {
  projectId: string;
  agentId: string;
  /** The API key the token was issued from; revoking it ends the token. Absent for external tokens. */
  keyId?: string;
  /** When the token stops being valid (epoch ms); calls on an open socket check it. */
  expiresAt?: number;
}

const ISSUER = 'pm-agent';
const AUDIENCE = 'pm-agent/agents';
const MAX_TOKEN_CHARS = 4096;

export const revokedToken = () => new AppError(AuthErrorCode.INVALID_TOKEN, 'Token revoked: its API key was revoked', { reason: 'revoked' });
export const expiredToken = () => new AppError(AuthErrorCode.INVALID_TOKEN, 'Token expired', { reason: 'expired' });

/**
 * Agent JWTs, bound to one agent id in one project. Signed with the current secret (HS256, `kid`
 * names it); verified with the key its `kid` names: the current secret, an earlier one kept for a
 * rotation, or an operator's public key (JWKS) for tokens issued elsewhere.
 */
@Injectable()
export class TokenService {
  private readonly signingKid: string;
  private readonly keys: Map<string, VerificationKey>;
  /** Projects named by external tokens that were found to exist, until when (projects are never deleted). */
  private readonly knownProjects = new Map<string, number>();

  constructor(
    private readonly config: AppConfig,
    private readonly secrets: Secrets,
    private readonly revocations: KeyRevocations,
    private readonly projects: ProjectsService,
  ) {
    this.signingKid = secretKid(secrets.jwtSecret);
    this.keys = loadVerificationKeys(secrets.jwtSecret, config.secrets.jwtPreviousSecrets, config.jwtExternal.publicKeysFile, config.jwtExternal.issuer);
  }

  issue(identity: AgentIdentity & { keyId: string }): { access_token: string; token_type: 'Bearer'; expires_in: number } {
    const token = jwt.sign({ pid: identity.projectId, typ: 'agent', akid: identity.keyId }, this.secrets.jwtSecret, {
      algorithm: 'HS256',
      subject: identity.agentId,
      issuer: ISSUER,
      audience: AUDIENCE,
      expiresIn: this.config.jwtTtlSeconds,
      keyid: this.signingKid,
    });
    return { access_token: token, token_type: 'Bearer', expires_in: this.config.jwtTtlSeconds };
  }

  verify(token: unknown): AgentIdentity {
    if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_CHARS) {
      throw new AppError(AuthErrorCode.INVALID_TOKEN, 'A token is required (auth: { token })');
    }
    // The same answer for every failure but expiry: a prober learns nothing about our keys.
    const invalid = () => new AppError(AuthErrorCode.INVALID_TOKEN, 'Invalid token', { reason: 'invalid' });
    const decoded = jwt.decode(token, { complete: true });
    const kid = decoded?.header.kid;
    const key = typeof kid === 'string' ? this.keys.get(kid) : undefined;
    if (!key) throw invalid();
    let claims: jwt.JwtPayload;
    try {
      claims = jwt.verify(token, key.key, { algorithms: key.algorithms, issuer: key.issuer, audience: AUDIENCE, clockTolerance: 5 }) as jwt.JwtPayload;
    } catch (err) {
      if (err instanceof jwt.TokenExpiredError) throw expiredToken();
      throw invalid();
    }
    const { pid, sub, akid, exp } = claims as { pid?: unknown; sub?: unknown; akid?: unknown; exp?: unknown };
    if (claims.typ !== 'agent' || !uuidSchema.safeParse(pid).success || !agentIdSchema.safeParse(sub).success || typeof exp !== 'number') throw invalid();
    // Our own tokens always name their API key, so revoking the key ends them.
    if (key.kind === 'secret' && !uuidSchema.safeParse(akid).success) throw invalid();
    if (typeof akid === 'string' && this.revocations.isRevoked(akid)) throw revokedToken();
    return {
      projectId: pid as string,
      agentId: sub as string,
      ...(typeof akid === 'string' ? { keyId: akid } : {}),
      expiresAt: exp * 1000,
    };
  }

  /**
   * verify, and for a token issued elsewhere (no API key behind it) the project it names must
   * exist: another issuer's mistake must not let an agent work in a project nobody created.
   */
  async authenticate(token: unknown): Promise<AgentIdentity> {
    const who = this.verify(token);
    if (who.keyId === undefined && !(await this.projectExists(who.projectId))) {
      throw new AppError(AuthErrorCode.INVALID_TOKEN, 'Invalid token', { reason: 'invalid' });
    }
    return who;
  }

  private async projectExists(projectId: string): Promise<boolean> {
    const hit = this.knownProjects.get(projectId);
    if (hit !== undefined && hit > Date.now()) return true;
    if (!(await this.projects.exists(projectId))) return false;
    if (this.knownProjects.size > 10_000) this.knownProjects.clear();
    this.knownProjects.set(projectId, Date.now() + 60_000);
    return true;
  }
}
