// Every GraphQL document the Linear provider sends, one named operation each. The Linear contract
// test validates each of them against Linear's schema (derived from @linear/sdk), so a field or
// argument that does not exist fails the build, not production.

// Nested connections stay small: Linear scores a query's complexity by multiplying each connection's
// `first` into its children, and rejects queries over its per-query budget. Longer lists are
// finished with the paged follow-up queries below.
const ISSUE_FIELDS = `
fragment LinearIssueFields on Issue {
  id
  identifier
  number
  title
  description
  priority
  updatedAt
  team { id }
  state { id name type }
  assignee { id email name displayName }
  labels(first: 20) { nodes { id name } pageInfo { hasNextPage endCursor } }
  inverseRelations(first: 20) { nodes { type issue { id team { id } state { type } } } pageInfo { hasNextPage endCursor } }
}`;

/** The team's key and workflow states (paged). */
export const LINEAR_TEAM_STATES = `
query LinearTeamStates($teamId: String!, $after: String) {
  team(id: $teamId) {
    id
    key
    states(first: 50, after: $after) {
      nodes { id name type position }
      pageInfo { hasNextPage endCursor }
    }
  }
}`;

/** Labels usable on the team's issues: the team's own and the workspace-wide ones (paged). */
export const LINEAR_TEAM_LABELS = `
query LinearTeamLabels($teamId: ID!, $after: String) {
  issueLabels(first: 50, after: $after, filter: { or: [{ team: { id: { eq: $teamId } } }, { team: { null: true } }] }) {
    nodes { id name }
    pageInfo { hasNextPage endCursor }
  }
}`;

/** Workspace users, to resolve an assignee by email or name (paged). */
export const LINEAR_USERS = `
query LinearUsers($after: String) {
  users(first: 50, after: $after) {
    nodes { id name displayName email active }
    pageInfo { hasNextPage endCursor }
  }
}`;

/** The team's issues that are not canceled (paged). */
export const LINEAR_TEAM_ISSUES = `
query LinearTeamIssues($teamId: ID!, $after: String) {
  issues(first: 50, after: $after, filter: { team: { id: { eq: $teamId } }, state: { type: { neq: "canceled" } } }) {
    nodes { ...LinearIssueFields }
    pageInfo { hasNextPage endCursor }
  }
}
${ISSUE_FIELDS}`;

/** The team's issues with the given numbers that are not canceled (`Depends on: ENG-12` lines name issues by identifier). */
export const LINEAR_ISSUES_BY_NUMBER = `
query LinearIssuesByNumber($teamId: ID!, $numbers: [Float!]!) {
  issues(first: 50, filter: { team: { id: { eq: $teamId } }, number: { in: $numbers }, state: { type: { neq: "canceled" } } }) {
    nodes { id number }
  }
}`;

/** One issue by id (or identifier). */
export const LINEAR_ISSUE = `
query LinearIssue($id: String!) {
  issue(id: $id) { ...LinearIssueFields }
}
${ISSUE_FIELDS}`;

/** The rest of an issue's labels, past the first page. */
export const LINEAR_ISSUE_LABELS = `
query LinearIssueLabels($id: String!, $after: String) {
  issue(id: $id) {
    labels(first: 50, after: $after) {
      nodes { id name }
      pageInfo { hasNextPage endCursor }
    }
  }
}`;

/** The rest of an issue's inverse relations (those pointing at it), past the first page. */
export const LINEAR_ISSUE_INVERSE_RELATIONS = `
query LinearIssueInverseRelations($id: String!, $after: String) {
  issue(id: $id) {
    inverseRelations(first: 50, after: $after) {
      nodes { type issue { id team { id } state { type } } }
      pageInfo { hasNextPage endCursor }
    }
  }
}`;

/** An issue's comments (paged). */
export const LINEAR_ISSUE_COMMENTS = `
query LinearIssueComments($id: String!, $after: String) {
  issue(id: $id) {
    comments(first: 50, after: $after) {
      nodes { id body createdAt }
      pageInfo { hasNextPage endCursor }
    }
  }
}`;

export const LINEAR_ISSUE_CREATE = `
mutation LinearIssueCreate($input: IssueCreateInput!) {
  issueCreate(input: $input) {
    success
    issue { ...LinearIssueFields }
  }
}
${ISSUE_FIELDS}`;

/** State, description (checklist) and assignee changes. */
export const LINEAR_ISSUE_UPDATE = `
mutation LinearIssueUpdate($id: String!, $input: IssueUpdateInput!) {
  issueUpdate(id: $id, input: $input) {
    success
    issue { id updatedAt }
  }
}`;

export const LINEAR_ISSUE_ADD_LABEL = `
mutation LinearIssueAddLabel($id: String!, $labelId: String!) {
  issueAddLabel(id: $id, labelId: $labelId) {
    success
    issue { id }
  }
}`;

export const LINEAR_ISSUE_LABEL_CREATE = `
mutation LinearIssueLabelCreate($input: IssueLabelCreateInput!) {
  issueLabelCreate(input: $input) {
    success
    issueLabel { id name }
  }
}`;

/** `issueId` blocks `relatedIssueId`. */
export const LINEAR_ISSUE_RELATION_CREATE = `
mutation LinearIssueRelationCreate($input: IssueRelationCreateInput!) {
  issueRelationCreate(input: $input) {
    success
    issueRelation { id type }
  }
}`;

export const LINEAR_COMMENT_CREATE = `
mutation LinearCommentCreate($input: CommentCreateInput!) {
  commentCreate(input: $input) {
    success
    comment { id createdAt }
  }
}`;
