// Shapes of the Linear GraphQL answers for the fields linear.documents.ts selects.

export interface Page<T> {
  nodes: T[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}
export interface LinearState {
  id: string;
  name: string;
  /** triage, backlog, unstarted, started, completed or canceled. */
  type: string;
  position: number;
}
export interface LinearLabel {
  id: string;
  name: string;
}
export interface LinearUser {
  id: string;
  name: string;
  displayName: string;
  email: string;
  active: boolean;
}
export interface LinearRelation {
  type: string;
  issue: { id: string; team: { id: string }; state: { type: string } };
}
export interface LinearIssue {
  id: string;
  identifier: string;
  number: number;
  title: string;
  description: string | null;
  priority: number;
  updatedAt: string;
  team: { id: string };
  state: { id: string; name: string; type: string };
  assignee: { id: string; email: string; name: string; displayName: string } | null;
  labels: Page<LinearLabel>;
  inverseRelations: Page<LinearRelation>;
}
export interface TeamInfo {
  key: string;
  states: LinearState[];
}
