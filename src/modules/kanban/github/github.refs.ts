// Issue numbers ↔ node ids: how "Depends on: #12" lines become dependency ids and back.
import { parseDependencyRefs } from '../board-mapping';
import type { KanbanError } from '../kanban-error';
import * as Q from './github.documents';
import { isNotFound } from './github.errors';
import type { Board, Gql, NodeOf, RawIssue } from './github.types';

/** How long a `#n` that names no issue (a pull request, a typo) is not looked up again. */
const MISSING_REF_TTL_MS = 5 * 60_000;

/** Caches both directions per provider, so listing a board resolves each `#n` once. */
export class GitHubIssueRefs {
  private readonly idByNumber = new Map<number, string>();
  private readonly numberById = new Map<string, number>();
  /** Issue numbers that resolved to nothing → when to look again. */
  private readonly missingNumbers = new Map<number, number>();

  constructor(
    private readonly gql: Gql,
    /** The provider's options, read at each use as the provider did. */
    private readonly repository: { readonly owner: string; readonly repo: string },
    private readonly notFound: (externalId: string, what: string) => KanbanError,
  ) {}

  remember(issue: Pick<RawIssue, 'id' | 'number'>): void {
    this.idByNumber.set(issue.number, issue.id);
    this.numberById.set(issue.id, issue.number);
  }

  /** The number of a dependency given by node id; it must be an issue of this repository. */
  async numberOf(externalId: string, board: Board): Promise<number> {
    const cached = this.numberById.get(externalId);
    if (cached !== undefined) return cached;
    let node: ({ __typename: string } & Partial<{ id: string; number: number; repository: { id: string } }>) | null = null;
    try {
      node = (await this.gql<NodeOf<{ id: string; number: number; repository: { id: string } }>>(Q.ISSUE_REF_QUERY, { id: externalId })).node;
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    if (node?.__typename !== 'Issue' || node.number === undefined || node.repository?.id !== board.repositoryId) throw this.notFound(externalId, 'dependency');
    this.idByNumber.set(node.number, externalId);
    this.numberById.set(externalId, node.number);
    return node.number;
  }

  /** Node ids of the issues a body's "Depends on:" lines name (this repository's only). */
  async dependencies(body: string): Promise<string[]> {
    const ids: string[] = [];
    for (const ref of parseDependencyRefs(body)) {
      const n = refNumber(ref, this.repository.owner, this.repository.repo);
      if (n === null) continue;
      let id = this.idByNumber.get(n);
      if (!id) {
        if ((this.missingNumbers.get(n) ?? 0) > Date.now()) continue;
        try {
          const data = await this.gql<{ repository: { issue: { id: string; number: number } | null } | null }>(Q.ISSUE_BY_NUMBER_QUERY, { owner: this.repository.owner, repo: this.repository.repo, number: n });
          id = data.repository?.issue?.id;
        } catch (err) {
          // A reference to a pull request or a deleted issue is no dependency.
          if (!isNotFound(err)) throw err;
        }
        if (!id) {
          this.missingNumbers.set(n, Date.now() + MISSING_REF_TTL_MS);
          continue;
        }
        this.idByNumber.set(n, id);
        this.numberById.set(id, n);
      }
      if (!ids.includes(id)) ids.push(id);
    }
    return ids;
  }
}

/** `#12`, `owner/repo#12` or an issue URL of this repository → 12. */
export function refNumber(ref: string, owner: string, repo: string): number | null {
  const ours = `${owner}/${repo}`.toLowerCase();
  let m = /^#(\d+)$/.exec(ref);
  if (m) return Number(m[1]);
  m = /^([\w.-]+\/[\w.-]+)#(\d+)$/.exec(ref);
  if (m) return m[1].toLowerCase() === ours ? Number(m[2]) : null;
  m = /^https?:\/\/[^/]+\/([\w.-]+\/[\w.-]+)\/issues\/(\d+)\/?$/.exec(ref);
  if (m) return m[1].toLowerCase() === ours ? Number(m[2]) : null;
  return null;
}
