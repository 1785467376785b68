// pm-agent live dashboard. Plain browser JavaScript, no build step. Every piece of data reaches
// the page through textContent (never innerHTML), so task names and blocker text cannot inject.
/* global io */
(function () {
  'use strict';

  var STORE = 'pm-agent-dashboard';
  var COLUMNS = { todo: 'To do', in_progress: 'In progress', blocked: 'Blocked', done: 'Done' };
  // Handshake refusals the user must fix by entering another key; anything else is retried.
  var FATAL = ['UNAUTHORIZED', 'FORBIDDEN', 'PROJECT_NOT_FOUND', 'VALIDATION_FAILED', 'INVALID_API_KEY'];
  var socket = null;
  var offsetMs = 0; // server clock minus this browser's clock, from the last snapshot
  var retryTimer = null;

  function $(id) {
    return document.getElementById(id);
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function loadCreds() {
    try {
      var c = JSON.parse(sessionStorage.getItem(STORE) || 'null');
      return c && typeof c.key === 'string' ? c : null;
    } catch (e) {
      return null;
    }
  }

  function saveCreds(c) {
    sessionStorage.setItem(STORE, JSON.stringify(c));
  }

  function setConn(state, text) {
    $('conn-dot').className = 'dot ' + (state === 'live' ? 'dot-on' : state === 'connecting' ? 'dot-wait' : 'dot-off');
    $('conn-text').textContent = text;
    $('conn-dot').parentNode.setAttribute('data-state', state);
  }

  function showLogin(message) {
    $('main').hidden = true;
    $('stats').hidden = true;
    $('switch').hidden = true;
    $('login').hidden = false;
    $('login-form').hidden = false;
    $('picker').hidden = true;
    $('project-name').textContent = 'Dashboard';
    $('login-error').hidden = !message;
    $('login-error').textContent = message || '';
    setConn('off', 'not connected');
  }

  function disconnect() {
    if (retryTimer) clearTimeout(retryTimer);
    retryTimer = null;
    if (socket) {
      socket.removeAllListeners();
      socket.disconnect();
      socket = null;
    }
  }

  function connect(creds) {
    disconnect();
    setConn('connecting', 'connecting…');
    var auth = { key: creds.key };
    if (creds.project_id) auth.project_id = creds.project_id;
    socket = io('/dashboard', { auth: auth });
    var s = socket;
    s.on('connect', function () {
      setConn('live', 'live');
    });
    s.on('disconnect', function () {
      setConn('connecting', 'reconnecting…');
    });
    s.on('connect_error', function (err) {
      var code = err && err.data && err.data.code;
      if (FATAL.indexOf(code) >= 0) {
        sessionStorage.removeItem(STORE);
        disconnect();
        showLogin(err.message + ' (' + code + ')');
        return;
      }
      setConn('off', 'offline, retrying…');
      // A refusal by the server's middleware (rate limit, draining) is not retried by the client itself.
      if (!s.active) {
        var wait = (err && err.data && err.data.retry_after_seconds ? err.data.retry_after_seconds : 3) * 1000;
        retryTimer = setTimeout(function () {
          s.connect();
        }, wait);
      }
    });
    // The key was revoked (or the project deleted) while watching: ask for a key again.
    s.on('session_ended', function (e) {
      sessionStorage.removeItem(STORE);
      disconnect();
      showLogin((e && e.error ? e.error : 'Session ended') + (e && e.code ? ' (' + e.code + ')' : ''));
    });
    s.on('projects', function (p) {
      showPicker(creds, p && Array.isArray(p.projects) ? p.projects : []);
    });
    s.on('snapshot', function (snap) {
      offsetMs = Date.parse(snap.server_time) - Date.now();
      render(snap);
    });
  }

  function showPicker(creds, projects) {
    $('login').hidden = false;
    $('login-form').hidden = true;
    $('picker').hidden = false;
    $('switch').hidden = false;
    var select = $('project-select');
    clear(select);
    projects.forEach(function (p) {
      var o = el('option', '', p.name + ' (' + p.id.slice(0, 8) + ')');
      o.value = p.id;
      select.appendChild(o);
    });
    $('pick').disabled = projects.length === 0;
    $('pick').onclick = function () {
      var next = { key: creds.key, project_id: select.value };
      saveCreds(next);
      connect(next);
    };
  }

  function render(snap) {
    $('login').hidden = true;
    $('main').hidden = false;
    $('stats').hidden = false;
    $('switch').hidden = false;
    $('project-name').textContent = snap.project.name;
    document.title = snap.project.name + ' · pm-agent';
    renderStats(snap);
    renderColumns(snap.columns);
    renderAgents(snap.agents);
    renderBlockers(snap.blockers);
    tick();
  }

  function renderStats(snap) {
    var t = snap.throughput;
    $('stat-hour').textContent = t.last_hour;
    $('stat-day').textContent = t.last_24h;
    $('stat-total').textContent = t.done_total + ' / ' + t.tasks_total;
    $('stat-agents').textContent = snap.agents.connected + ' / ' + snap.agents.total;
    var spark = $('spark');
    clear(spark);
    var max = Math.max.apply(null, t.per_hour.concat([1]));
    // per_hour[0] is the last hour: draw oldest on the left.
    t.per_hour
      .slice()
      .reverse()
      .forEach(function (n, i) {
        var bar = el('span');
        bar.style.height = Math.round((n / max) * 100) + '%';
        bar.title = n + ' done ' + (23 - i) + '–' + (24 - i) + ' h ago';
        spark.appendChild(bar);
      });
  }

  function renderColumns(columns) {
    var root = $('columns');
    // Keep each column's scroll position across updates.
    var scroll = {};
    Array.prototype.forEach.call(root.querySelectorAll('.column'), function (c) {
      scroll[c.getAttribute('data-status')] = c.querySelector('.cards').scrollTop;
    });
    clear(root);
    columns.forEach(function (col) {
      var c = el('section', 'column');
      c.setAttribute('data-status', col.status);
      var h = el('h2');
      h.appendChild(el('span', '', COLUMNS[col.status] || col.status));
      h.appendChild(el('span', 'count', col.count));
      c.appendChild(h);
      var list = el('div', 'cards');
      col.cards.forEach(function (card) {
        list.appendChild(renderCard(card));
      });
      if (col.count > col.cards.length) list.appendChild(el('div', 'more', '+ ' + (col.count - col.cards.length) + ' more'));
      c.appendChild(list);
      root.appendChild(c);
      list.scrollTop = scroll[col.status] || 0;
    });
  }

  function renderCard(card) {
    var d = el('article', 'card p-' + card.priority);
    d.setAttribute('data-task-id', card.id);
    d.appendChild(el('div', 'card-name', card.name));
    var meta = el('div', 'card-meta');
    meta.appendChild(el('span', 'badge p-' + card.priority, card.priority));
    if (card.assignee_name) meta.appendChild(el('span', 'assignee', '@ ' + card.assignee_name));
    if (card.lease_expires_at) {
      var lease = el('span', 'lease');
      lease.setAttribute('data-expires', card.lease_expires_at);
      meta.appendChild(lease);
    }
    card.labels.slice(0, 4).forEach(function (l) {
      meta.appendChild(el('span', 'label', '#' + l));
    });
    d.appendChild(meta);
    if (card.progress !== null && card.progress !== undefined) {
      var bar = el('div', 'progress');
      var fill = el('span');
      fill.style.width = Math.max(0, Math.min(100, card.progress)) + '%';
      bar.title = card.progress + ' %';
      bar.appendChild(fill);
      d.appendChild(bar);
    }
    return d;
  }

  function renderAgents(agents) {
    var body = $('agents');
    clear(body);
    $('agents-count').textContent = agents.total > agents.list.length ? agents.list.length + ' of ' + agents.total : agents.total;
    $('agents-empty').hidden = agents.list.length > 0;
    agents.list.forEach(function (a) {
      var tr = el('tr');
      tr.setAttribute('data-agent-id', a.id);
      var who = el('td');
      var name = el('div', 'agent-name');
      var dot = el('span', 'dot ' + (a.connected ? 'dot-on' : 'dot-off'));
      dot.title = a.connected ? 'connected' : 'not connected';
      name.appendChild(dot);
      name.appendChild(el('span', '', a.name));
      name.title = a.id;
      who.appendChild(name);
      who.appendChild(el('div', 'agent-role', a.role));
      tr.appendChild(who);
      tr.appendChild(el('td', 'st-' + a.status, a.status));
      var task = a.tasks[0];
      var current = el('td', '', task ? task.task_name + (a.tasks.length > 1 ? ' (+' + (a.tasks.length - 1) + ')' : '') : '—');
      if (task) current.title = task.task_name + ' · ' + task.progress + ' %';
      tr.appendChild(current);
      var lease = el('td', 'num lease', task ? '' : '—');
      if (task) lease.setAttribute('data-expires', task.lease_expires_at);
      tr.appendChild(lease);
      body.appendChild(tr);
    });
  }

  function renderBlockers(blockers) {
    var list = $('blockers');
    clear(list);
    $('blockers-count').textContent = blockers.length;
    $('blockers-empty').hidden = blockers.length > 0;
    blockers.forEach(function (b) {
      var li = el('li', 'blocker');
      li.setAttribute('data-blocker-id', b.id);
      var head = el('div', 'blocker-head');
      head.appendChild(el('span', 'badge s-' + b.severity, b.severity));
      head.appendChild(el('span', 'blocker-task', b.task_name));
      head.appendChild(el('span', 'muted', 'by ' + (b.agent_name || b.agent_id)));
      li.appendChild(head);
      li.appendChild(el('div', 'blocker-desc', b.description));
      var a = b.analysis;
      var steps = a && Array.isArray(a.resolution_steps) && a.resolution_steps.length ? a.resolution_steps : b.suggestions;
      if (a || steps.length) {
        var box = el('div', 'analysis');
        if (a && a.root_cause) {
          var cause = el('div');
          cause.appendChild(el('span', 'cause', 'Likely cause: '));
          cause.appendChild(document.createTextNode(a.root_cause));
          box.appendChild(cause);
        }
        if (a && (a.estimated_hours || a.escalation_needed)) {
          var extra = [];
          if (a.estimated_hours) extra.push('≈ ' + a.estimated_hours + ' h to resolve');
          if (a.escalation_needed) extra.push('needs escalation');
          box.appendChild(el('div', 'muted', extra.join(' · ')));
        }
        if (steps.length) {
          var ol = el('ol');
          steps.slice(0, 5).forEach(function (s) {
            ol.appendChild(el('li', '', s));
          });
          box.appendChild(ol);
        }
        li.appendChild(box);
      }
      list.appendChild(li);
    });
  }

  /** Lease countdowns, against the server's clock; red under 30 s, "overdue" past expiry (grace). */
  function tick() {
    var now = Date.now() + offsetMs;
    Array.prototype.forEach.call(document.querySelectorAll('[data-expires]'), function (node) {
      var left = Math.round((Date.parse(node.getAttribute('data-expires')) - now) / 1000);
      var abs = Math.abs(left);
      var mmss = Math.floor(abs / 60) + ':' + ('0' + (abs % 60)).slice(-2);
      node.textContent = left >= 0 ? mmss : 'overdue ' + mmss;
      node.classList.toggle('lease-low', left < 30);
    });
  }

  document.addEventListener('DOMContentLoaded', function () {
    setInterval(tick, 1000);
    $('login-form').addEventListener('submit', function (ev) {
      ev.preventDefault();
      var creds = { key: $('key').value.trim(), project_id: $('project-id').value.trim() || undefined };
      $('key').value = '';
      if (!creds.key) return;
      saveCreds(creds);
      $('login-error').hidden = true;
      connect(creds);
    });
    $('switch').addEventListener('click', function () {
      sessionStorage.removeItem(STORE);
      disconnect();
      showLogin('');
    });
    if (typeof io !== 'function') {
      showLogin('The Socket.IO client did not load from /socket.io/socket.io.min.js.');
      return;
    }
    var saved = loadCreds();
    if (saved) connect(saved);
    else showLogin('');
  });
})();
