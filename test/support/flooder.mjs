// A misbehaving agent in its own process: one socket calling as fast as it can, never waiting
// for answers, reconnecting whenever it is cut off. Prints a JSON summary on stdout at the end.
// env: FLOOD_URL, FLOOD_TOKEN, FLOOD_MS, FLOOD_OUTSTANDING
import { io } from 'socket.io-client';

const url = process.env.FLOOD_URL;
const token = process.env.FLOOD_TOKEN;
const durationMs = Number(process.env.FLOOD_MS ?? 8000);
const maxOutstanding = Number(process.env.FLOOD_OUTSTANDING ?? 256);
const stats = { sent: 0, answered: 0, ok: 0, rate_limited: 0, other: 0, disconnects: 0, connects: 0, connect_refused: 0 };
const end = Date.now() + durationMs;
let outstanding = 0;
let socket;

function open() {
  socket = io(`${url}/agents`, { auth: { token }, transports: ['websocket'], reconnection: false, forceNew: true });
  socket.on('connect', () => {
    stats.connects++;
    outstanding = 0;
    pump();
  });
  socket.on('connect_error', () => {
    stats.connect_refused++;
    if (Date.now() < end) setTimeout(open, 50);
  });
  socket.on('disconnect', () => {
    stats.disconnects++;
    if (Date.now() < end) setTimeout(open, 50);
  });
}

function pump() {
  const s = socket;
  if (!s.connected || Date.now() >= end) return;
  while (outstanding < maxOutstanding) {
    outstanding++;
    stats.sent++;
    s.emit('get_project_status', {}, (answer) => {
      outstanding--;
      stats.answered++;
      if (answer && answer.success === true) stats.ok++;
      else if (answer && answer.code === 'RATE_LIMITED') stats.rate_limited++;
      else stats.other++;
    });
  }
  setImmediate(pump);
}

open();
setTimeout(() => {
  socket?.close();
  process.stdout.write(`${JSON.stringify(stats)}\n`);
  process.exit(0);
}, durationMs + 200);
