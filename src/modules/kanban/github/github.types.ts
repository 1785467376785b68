// Shapes of the GitHub GraphQL answers for the fields github.documents.ts selects, what the provider
// keeps of them, and the paging of connections.
import { bad } from './github.errors';

/** GitHub's largest page; connections are followed with `after` beyond it. */
export const PAGE_SIZE = 100;

export interface Page<N> {
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
  nodes: (N | null)[] | null;
}

export interface RawIssue {
  id: string;
  number: number;
  title: string;
  body: string;
  state: 'OPEN' | 'CLOSED';
  updatedAt: string;
  repository: { id: string };
  labels: Page<{ name: string }> | null;
  assignees: { nodes: ({ login: string } | null)[] | null };
}

export interface RawItem {
  id: string;
  isArchived: boolean;
  fieldValueByName: { name?: string | null; optionId?: string | null } | null;
}

export interface Option {
  id: string;
  name: string;
}

export interface Board {
  repositoryId: string;
  projectId: string;
  fieldId: string;
  options: Option[];
}

/** An issue of the repository on the project, with everything a BoardTask needs. */
export interface Found {
  issue: RawIssue;
  item: RawItem;
  labels: string[];
}

export type NodeOf<T> = { node: ({ __typename: string } & Partial<T>) | null };

/** The provider's authenticated GraphQL call, handed to the helpers that issue their own queries. */
export type Gql = <T>(query: string, variables: Record<string, unknown>, signal?: AbortSignal) => Promise<T>;

/** Follows a connection from `after` to its end. */
export async function allPages<N>(fetch: (after: string | null) => Promise<Page<N> | null | undefined>, after: string | null = null): Promise<N[]> {
  const out: N[] = [];
  for (let cursor = after; ; ) {
    const page = await fetch(cursor);
    if (!page) throw bad('a connection page is missing');
    for (const n of page.nodes ?? []) if (n) out.push(n);
    if (!page.pageInfo.hasNextPage) return out;
    if (!page.pageInfo.endCursor || page.pageInfo.endCursor === cursor) throw bad('paging did not advance');
    cursor = page.pageInfo.endCursor;
  }
}
