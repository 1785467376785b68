// Shapes of the Planka 1.x REST API (Sails actions under server/api/controllers, routes in
// server/config/routes.js of plankanban/planka) for the subset pm-agent uses. Ids are numeric
// strings (Postgres bigint snowflakes): kept as strings, never parsed to numbers.

/** Planka leaves `updatedAt` null until a record is first changed. */
interface PlankaRecord {
  id: string;
  createdAt: string;
  updatedAt: string | null;
}

export interface PlankaBoard extends PlankaRecord {
  position: number;
  name: string;
  projectId: string;
}

export interface PlankaList extends PlankaRecord {
  position: number;
  name: string;
  boardId: string;
}

export interface PlankaCard extends PlankaRecord {
  position: number;
  name: string;
  description: string | null;
  dueDate: string | null;
  isDueDateCompleted?: boolean | null;
  boardId: string;
  listId: string;
  creatorUserId: string;
  coverAttachmentId: string | null;
  isSubscribed?: boolean;
}

export interface PlankaLabel extends PlankaRecord {
  position: number;
  name: string | null;
  color: PlankaLabelColor;
  boardId: string;
}

export interface PlankaCardLabel extends PlankaRecord {
  cardId: string;
  labelId: string;
}

export interface PlankaCardMembership extends PlankaRecord {
  cardId: string;
  userId: string;
}

export interface PlankaBoardMembership extends PlankaRecord {
  boardId: string;
  userId: string;
  role: 'editor' | 'viewer';
  canComment: boolean | null;
}

/** A card's task-list item (Planka 1.x "tasks"; pm-agent's checklist). */
export interface PlankaTask extends PlankaRecord {
  position: number;
  name: string;
  isCompleted: boolean;
  cardId: string;
}

export interface PlankaUser extends PlankaRecord {
  email: string;
  name: string;
  username: string | null;
  isAdmin?: boolean;
  avatarUrl?: string | null;
}

/** An entry of a card's activity; comments are actions of type `commentCard` with `data.text`. */
export interface PlankaAction extends PlankaRecord {
  /** `commentCard`, `createCard`, `moveCard`, ... */
  type: string;
  data: { text?: string } & Record<string, unknown>;
  cardId: string;
  userId: string;
}

/** `{item}` answers of create/update/delete actions; `POST /api/access-tokens` answers `{item: "<token>"}`. */
export interface PlankaItem<T> {
  item: T;
}

/** `GET /api/boards/:id`: the board and everything on it, in one answer (Planka does not page it). */
export interface PlankaBoardAnswer {
  item: PlankaBoard;
  included: {
    users: PlankaUser[];
    boardMemberships: PlankaBoardMembership[];
    labels: PlankaLabel[];
    lists: PlankaList[];
    cards: PlankaCard[];
    cardMemberships: PlankaCardMembership[];
    cardLabels: PlankaCardLabel[];
    tasks: PlankaTask[];
    attachments: unknown[];
    projects?: unknown[];
  };
}

/** `GET /api/cards/:id`. */
export interface PlankaCardAnswer {
  item: PlankaCard;
  included: {
    cardMemberships: PlankaCardMembership[];
    cardLabels: PlankaCardLabel[];
    tasks: PlankaTask[];
    attachments: unknown[];
  };
}

/** `GET /api/cards/:cardId/actions`: newest first, at most 50 per page, older pages via `beforeId`. */
export interface PlankaActionsAnswer {
  items: PlankaAction[];
  included: { users: PlankaUser[] };
}

/** Error answers (server/api/responses/*.js and Sails' own 400). */
export interface PlankaErrorAnswer {
  /** E_UNAUTHORIZED, E_FORBIDDEN, E_NOT_FOUND, E_CONFLICT, E_UNPROCESSABLE_ENTITY, E_MISSING_OR_INVALID_PARAMS. */
  code: string;
  message?: string;
  problems?: string[];
}

/** Label.COLORS in Planka 1.x; creating a label with any other color is a 400. */
export const PLANKA_LABEL_COLORS = [
  'berry-red',
  'pumpkin-orange',
  'lagoon-blue',
  'pink-tulip',
  'light-mud',
  'orange-peel',
  'bright-moss',
  'antique-blue',
  'dark-granite',
  'lagune-blue',
  'sunny-grass',
  'morning-sky',
  'light-orange',
  'midnight-blue',
  'tank-green',
  'gun-metal',
  'wet-moss',
  'red-burgundy',
  'light-concrete',
  'apricot-red',
  'desert-sand',
  'navy-blue',
  'egg-yellow',
  'coral-green',
  'light-cocoa',
] as const;
export type PlankaLabelColor = (typeof PLANKA_LABEL_COLORS)[number];

/** Planka spaces positions by this much (POSITION_GAP), appending after the last one. */
export const PLANKA_POSITION_GAP = 65535;
