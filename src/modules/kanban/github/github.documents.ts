// Every GraphQL document the GitHub provider sends: one named operation per exported constant, so the
// test suite can validate each against GitHub's published schema (@octokit/graphql-schema).
// Connections take `$pageSize` (100 in production, GitHub's maximum) and are paged with `after`.

/** The issue as a BoardTask needs it; operations using it must declare `$pageSize`. */
const ISSUE_FIELDS = `
fragment PmAgentIssueFields on Issue {
  id
  number
  title
  body
  state
  updatedAt
  repository {
    id
  }
  labels(first: $pageSize) {
    pageInfo {
      hasNextPage
      endCursor
    }
    nodes {
      name
    }
  }
  assignees(first: 1) {
    nodes {
      login
    }
  }
}`;

/** A project item's Status value; operations using it must declare `$statusField`. */
const ITEM_STATUS = `
fragment PmAgentItemStatus on ProjectV2Item {
  id
  isArchived
  fieldValueByName(name: $statusField) {
    ... on ProjectV2ItemFieldSingleSelectValue {
      name
      optionId
    }
  }
}`;

const PROJECT_FIELDS = `
fragment PmAgentProjectFields on ProjectV2 {
  id
  title
  field(name: $statusField) {
    ... on ProjectV2SingleSelectField {
      id
      name
      options {
        id
        name
      }
    }
  }
}`;

/** Repository id, project id, Status field and options of an organization-owned project. */
export const ORGANIZATION_BOARD_QUERY = `
query PmAgentOrganizationBoard($owner: String!, $repo: String!, $number: Int!, $statusField: String!) {
  repository(owner: $owner, name: $repo) {
    id
  }
  organization(login: $owner) {
    projectV2(number: $number) {
      ...PmAgentProjectFields
    }
  }
}
${PROJECT_FIELDS}`;

/** The same for a user-owned project. */
export const USER_BOARD_QUERY = `
query PmAgentUserBoard($owner: String!, $repo: String!, $number: Int!, $statusField: String!) {
  repository(owner: $owner, name: $repo) {
    id
  }
  user(login: $owner) {
    projectV2(number: $number) {
      ...PmAgentProjectFields
    }
  }
}
${PROJECT_FIELDS}`;

/** One page of the project's items with their issues. */
export const PROJECT_ITEMS_QUERY = `
query PmAgentProjectItems($projectId: ID!, $pageSize: Int!, $after: String, $statusField: String!) {
  node(id: $projectId) {
    __typename
    ... on ProjectV2 {
      items(first: $pageSize, after: $after) {
        pageInfo {
          hasNextPage
          endCursor
        }
        nodes {
          ...PmAgentItemStatus
          content {
            __typename
            ... on Issue {
              ...PmAgentIssueFields
            }
          }
        }
      }
    }
  }
}
${ITEM_STATUS}
${ISSUE_FIELDS}`;

/** One issue by node id, with its (non-archived) project items. */
export const ISSUE_QUERY = `
query PmAgentIssue($id: ID!, $pageSize: Int!, $statusField: String!) {
  node(id: $id) {
    __typename
    ... on Issue {
      ...PmAgentIssueFields
      projectItems(first: $pageSize, includeArchived: false) {
        pageInfo {
          hasNextPage
          endCursor
        }
        nodes {
          ...PmAgentItemStatus
          project {
            id
          }
        }
      }
    }
  }
}
${ITEM_STATUS}
${ISSUE_FIELDS}`;

/** Further pages of an issue's project items. */
export const ISSUE_PROJECT_ITEMS_QUERY = `
query PmAgentIssueProjectItems($id: ID!, $pageSize: Int!, $after: String, $statusField: String!) {
  node(id: $id) {
    __typename
    ... on Issue {
      projectItems(first: $pageSize, after: $after, includeArchived: false) {
        pageInfo {
          hasNextPage
          endCursor
        }
        nodes {
          ...PmAgentItemStatus
          project {
            id
          }
        }
      }
    }
  }
}
${ITEM_STATUS}`;

/** Further pages of an issue's labels. */
export const ISSUE_LABELS_QUERY = `
query PmAgentIssueLabels($id: ID!, $pageSize: Int!, $after: String) {
  node(id: $id) {
    __typename
    ... on Issue {
      labels(first: $pageSize, after: $after) {
        pageInfo {
          hasNextPage
          endCursor
        }
        nodes {
          name
        }
      }
    }
  }
}`;

/** An issue's assignees with their ids (to remove them on reassignment). */
export const ISSUE_ASSIGNEES_QUERY = `
query PmAgentIssueAssignees($id: ID!, $pageSize: Int!, $after: String) {
  node(id: $id) {
    __typename
    ... on Issue {
      assignees(first: $pageSize, after: $after) {
        pageInfo {
          hasNextPage
          endCursor
        }
        nodes {
          id
          login
        }
      }
    }
  }
}`;

/** An issue's comments, oldest first. */
export const ISSUE_COMMENTS_QUERY = `
query PmAgentIssueComments($id: ID!, $pageSize: Int!, $after: String) {
  node(id: $id) {
    __typename
    ... on Issue {
      comments(first: $pageSize, after: $after) {
        pageInfo {
          hasNextPage
          endCursor
        }
        nodes {
          body
          createdAt
        }
      }
    }
  }
}`;

/** Resolves a `#12` reference of the repository to the issue's node id. */
export const ISSUE_BY_NUMBER_QUERY = `
query PmAgentIssueByNumber($owner: String!, $repo: String!, $number: Int!) {
  repository(owner: $owner, name: $repo) {
    issue(number: $number) {
      id
      number
    }
  }
}`;

/** The number and repository of an issue node (to write `Depends on: #12`). */
export const ISSUE_REF_QUERY = `
query PmAgentIssueRef($id: ID!) {
  node(id: $id) {
    __typename
    ... on Issue {
      id
      number
      repository {
        id
      }
    }
  }
}`;

export const REPOSITORY_LABEL_QUERY = `
query PmAgentRepositoryLabel($owner: String!, $repo: String!, $name: String!) {
  repository(owner: $owner, name: $repo) {
    label(name: $name) {
      id
      name
    }
  }
}`;

export const USER_QUERY = `
query PmAgentUser($login: String!) {
  user(login: $login) {
    id
    login
  }
}`;

export const CREATE_LABEL_MUTATION = `
mutation PmAgentCreateLabel($repositoryId: ID!, $name: String!, $color: String!) {
  createLabel(input: {repositoryId: $repositoryId, name: $name, color: $color}) {
    label {
      id
      name
    }
  }
}`;

export const CREATE_ISSUE_MUTATION = `
mutation PmAgentCreateIssue($repositoryId: ID!, $title: String!, $body: String!, $labelIds: [ID!], $pageSize: Int!) {
  createIssue(input: {repositoryId: $repositoryId, title: $title, body: $body, labelIds: $labelIds}) {
    issue {
      ...PmAgentIssueFields
    }
  }
}
${ISSUE_FIELDS}`;

export const ADD_PROJECT_ITEM_MUTATION = `
mutation PmAgentAddProjectItem($projectId: ID!, $contentId: ID!) {
  addProjectV2ItemById(input: {projectId: $projectId, contentId: $contentId}) {
    item {
      id
    }
  }
}`;

export const SET_ITEM_STATUS_MUTATION = `
mutation PmAgentSetItemStatus($projectId: ID!, $itemId: ID!, $fieldId: ID!, $optionId: String!) {
  updateProjectV2ItemFieldValue(
    input: {projectId: $projectId, itemId: $itemId, fieldId: $fieldId, value: {singleSelectOptionId: $optionId}}
  ) {
    projectV2Item {
      id
    }
  }
}`;

export const CLOSE_ISSUE_MUTATION = `
mutation PmAgentCloseIssue($issueId: ID!) {
  closeIssue(input: {issueId: $issueId, stateReason: COMPLETED}) {
    issue {
      id
      state
      updatedAt
    }
  }
}`;

export const REOPEN_ISSUE_MUTATION = `
mutation PmAgentReopenIssue($issueId: ID!) {
  reopenIssue(input: {issueId: $issueId}) {
    issue {
      id
      state
      updatedAt
    }
  }
}`;

export const UPDATE_ISSUE_BODY_MUTATION = `
mutation PmAgentUpdateIssueBody($id: ID!, $body: String!) {
  updateIssue(input: {id: $id, body: $body}) {
    issue {
      id
      updatedAt
    }
  }
}`;

export const ADD_COMMENT_MUTATION = `
mutation PmAgentAddComment($subjectId: ID!, $body: String!) {
  addComment(input: {subjectId: $subjectId, body: $body}) {
    commentEdge {
      node {
        id
        createdAt
      }
    }
  }
}`;

export const ADD_LABELS_MUTATION = `
mutation PmAgentAddLabels($labelableId: ID!, $labelIds: [ID!]!) {
  addLabelsToLabelable(input: {labelableId: $labelableId, labelIds: $labelIds}) {
    clientMutationId
  }
}`;

export const ADD_ASSIGNEES_MUTATION = `
mutation PmAgentAddAssignees($assignableId: ID!, $assigneeIds: [ID!]!) {
  addAssigneesToAssignable(input: {assignableId: $assignableId, assigneeIds: $assigneeIds}) {
    clientMutationId
  }
}`;

export const REMOVE_ASSIGNEES_MUTATION = `
mutation PmAgentRemoveAssignees($assignableId: ID!, $assigneeIds: [ID!]!) {
  removeAssigneesFromAssignable(input: {assignableId: $assignableId, assigneeIds: $assigneeIds}) {
    clientMutationId
  }
}`;
