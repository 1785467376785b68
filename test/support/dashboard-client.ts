import { io, type Socket } from 'socket.io-client';
import type { DashboardSnapshot } from '../../src/modules/dashboard/dashboard.service';

export interface DashboardAuth {
  key?: string;
  project_id?: string;
}

/** A /dashboard socket that records every snapshot it is pushed. */
export class DashboardViewer {
  readonly snapshots: DashboardSnapshot[] = [];
  constructor(readonly socket: Socket) {
    socket.on('snapshot', (s: DashboardSnapshot) => this.snapshots.push(s));
  }

  get latest(): DashboardSnapshot | undefined {
    return this.snapshots[this.snapshots.length - 1];
  }

  /** The next pushed snapshot (or the latest one already received) satisfying `pred`. */
  async until(pred: (s: DashboardSnapshot) => boolean, timeoutMs = 10_000): Promise<DashboardSnapshot> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = [...this.snapshots].reverse().find(pred);
      if (hit) return hit;
      if (Date.now() > deadline) throw new Error(`no matching snapshot within ${timeoutMs} ms (got ${this.snapshots.length})`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  close(): void {
    this.socket.disconnect();
  }
}

function open(url: string, auth: DashboardAuth, origin?: string): Socket {
  return io(`${url}/dashboard`, {
    auth: { ...auth },
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    ...(origin ? { extraHeaders: { origin } } : {}),
  });
}

/** Connects and waits for the connection (fails on connect_error). */
export async function connectViewer(url: string, auth: DashboardAuth, origin?: string): Promise<DashboardViewer> {
  const socket = open(url, auth, origin);
  const viewer = new DashboardViewer(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', (err) => {
      socket.disconnect();
      reject(err);
    });
  });
  return viewer;
}

/** Resolves with the handshake refusal and everything the socket was sent meanwhile (fails if it connects). */
export async function refusal(url: string, auth: DashboardAuth, origin?: string): Promise<{ error: Error & { data?: Record<string, unknown> }; received: unknown[] }> {
  const socket = open(url, auth, origin);
  const received: unknown[] = [];
  socket.onAny((...args: unknown[]) => received.push(args));
  try {
    const error = await new Promise<Error & { data?: Record<string, unknown> }>((resolve, reject) => {
      socket.once('connect', () => reject(new Error('connected although the handshake should have been refused')));
      socket.once('connect_error', (err) => resolve(err as Error & { data?: Record<string, unknown> }));
    });
    return { error, received };
  } finally {
    socket.disconnect();
  }
}
