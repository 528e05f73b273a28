/* TenWatch shared client (十户联防): the credential, the API, the live stream with resume,
 * the open-alarm store, sound, and "2 min ago" times. Plain JS, no dependencies.
 * Every text that reaches the DOM goes through textContent (see el()). */
(function (global) {
  'use strict';

  var TOKEN_KEY = 'tw.token';
  var LAST_KEY = 'tw.last.';           // + channel: the highest event id this tab has seen
  var BACKOFF_MIN = 1000, BACKOFF_MAX = 10000;
  var HELLO_TIMEOUT = 15000;           // watchdog before the hello tells us the heartbeat
  var POLICY_VIOLATION = 1008;

  // ---- storage that never throws (private mode, disabled storage) -------------------------
  function store(kind) {
    var memory = {};
    var backend = null;
    try { backend = global[kind]; backend.setItem('tw.probe', '1'); backend.removeItem('tw.probe'); }
    catch (e) { backend = null; }
    return {
      get: function (k) { try { return backend ? backend.getItem(k) : (k in memory ? memory[k] : null); } catch (e) { return null; } },
      set: function (k, v) { try { if (backend) backend.setItem(k, String(v)); else memory[k] = String(v); } catch (e) { memory[k] = String(v); } },
      del: function (k) { try { if (backend) backend.removeItem(k); delete memory[k]; } catch (e) { delete memory[k]; } },
      keys: function () {
        var out = [];
        try { if (backend) { for (var i = 0; i < backend.length; i++) out.push(backend.key(i)); } else out = Object.keys(memory); }
        catch (e) { out = Object.keys(memory); }
        return out;
      }
    };
  }
  var session = store('sessionStorage');
  var local = store('localStorage');

  // ---- credential: the session cookie the sign-in page set (HttpOnly: no script reads it) ----
  // A page needs no token of its own: fetch and the socket carry the cookie. takeToken stays
  // for the pages' shape and says which credential a request goes with.
  var COOKIE = 'cookie';
  function takeToken() {
    session.keys().forEach(function (k) { if (k === TOKEN_KEY) session.del(k); });  // old links
    return COOKIE;
  }
  function cookie(name) {
    var found = document.cookie.split('; ').filter(function (c) { return c.indexOf(name + '=') === 0; })[0];
    return found ? decodeURIComponent(found.slice(name.length + 1)) : '';
  }
  function signIn() {
    location.assign('/signin?next=' + encodeURIComponent(location.pathname));
  }

  // ---- server clock: times are shown relative to the server's "now", not a skewed phone ----
  var clockOffset = 0;                 // server time − local time, in ms
  function noteServerDate(res) {
    var d = Date.parse(res.headers.get('Date') || '');
    if (!isNaN(d)) {
      var off = d - Date.now();
      clockOffset = Math.abs(off) > 5000 ? off : 0;  // the header has 1 s resolution
    }
  }
  function now() { return Date.now() + clockOffset; }

  // ---- REST -------------------------------------------------------------------------------
  function ApiError(status, detail) {
    this.name = 'ApiError'; this.status = status; this.message = detail;
  }
  ApiError.prototype = Object.create(Error.prototype);

  function detailText(body, status) {
    var d = body && body.detail;
    if (typeof d === 'string') return d;
    if (Array.isArray(d)) return d.map(function (x) { return (x && x.msg) || String(x); }).join('; ');
    return 'HTTP ' + status;
  }

  async function api(token, path, options) {
    options = options || {};
    var headers = { 'Accept': 'application/json' };
    var method = options.method || 'GET';
    if (token && token !== COOKIE) headers['Authorization'] = 'Bearer ' + token;
    else if (method !== 'GET' && method !== 'HEAD') headers['X-CSRF-Token'] = cookie('tw_csrf');
    if (options.headers) for (var h in options.headers) headers[h] = options.headers[h];
    var init = { method: method, headers: headers, cache: 'no-store', credentials: 'same-origin' };
    if (options.json !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(options.json);
    }
    var res;
    try { res = await fetch(path, init); }
    catch (e) { throw new ApiError(0, '网络错误 / network error'); }
    noteServerDate(res);
    var body = null;
    try { body = await res.json(); } catch (e) { body = null; }
    if (res.status === 401 && token === COOKIE) signIn();
    if (!res.ok) throw new ApiError(res.status, detailText(body, res.status));
    return body;
  }

  // ---- the live stream --------------------------------------------------------------------
  /* opts: token, channel, onHello(hello, info), onEvent(event, info), onStatus(status).
   * status: {state: 'connecting'|'online'|'reconnecting'|'refused', reason, retryIn} */
  function Stream(opts) {
    this.opts = opts;
    this.key = LAST_KEY + opts.channel;
    this.lastId = parseInt(session.get(this.key) || '0', 10) || 0;
    this.ws = null;
    this.attempts = 0;
    this.heartbeat = 0;
    this.replayLeft = 0;
    this.lastMessageAt = 0;
    this.watchdog = null;
    this.retryTimer = null;
    this.stopped = false;
    var self = this;
    global.addEventListener('online', function () { self.wake(); });
    document.addEventListener('visibilitychange', function () {
      if (document.visibilityState === 'visible') self.wake();
    });
  }

  Stream.prototype.status = function (state, extra) {
    var s = { state: state };
    if (extra) for (var k in extra) s[k] = extra[k];
    if (this.opts.onStatus) this.opts.onStatus(s);
  };

  Stream.prototype.start = function () {
    this.stopped = false;
    this.open();
  };

  Stream.prototype.stop = function () {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.drop(1000, 'page closed', true);
  };

  Stream.prototype.open = function () {
    var self = this;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    var resume = this.lastId > 0 ? this.lastId : null;
    var url = (location.protocol === 'https:' ? 'wss:' : 'ws:') + '//' + location.host +
      '/ws' + (resume !== null ? '?last_event_id=' + resume : '');
    this.status(this.attempts ? 'reconnecting' : 'connecting');
    this.heartbeat = 0;
    var ws;
    try { ws = new WebSocket(url); }
    catch (e) { this.closed(0, String(e && e.message || e)); return; }
    this.ws = ws;
    this.kick();
    ws.onmessage = function (m) { if (self.ws === ws) self.receive(m.data, resume); };
    ws.onclose = function (ev) { if (self.ws === ws) { self.ws = null; self.closed(ev.code, ev.reason); } };
    ws.onerror = function () { /* onclose follows and decides */ };
  };

  Stream.prototype.kick = function () {
    var self = this;
    this.lastMessageAt = Date.now();
    clearTimeout(this.watchdog);
    var limit = this.heartbeat ? this.heartbeat * 2500 : HELLO_TIMEOUT;
    this.watchdog = setTimeout(function () { self.drop(4000, 'no heartbeat'); }, limit);
  };

  /* Close a socket we no longer trust without waiting for its close handshake. */
  Stream.prototype.drop = function (code, reason, quiet) {
    var ws = this.ws;
    clearTimeout(this.watchdog);
    if (!ws) return;
    this.ws = null;
    ws.onmessage = ws.onclose = ws.onerror = null;
    try { ws.close(code, reason); } catch (e) { /* already closing */ }
    if (!quiet) this.closed(code, reason);
  };

  /* Browsers throttle timers in background tabs and phones kill sockets: check on return. */
  Stream.prototype.wake = function () {
    if (this.stopped) return;
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      var limit = this.heartbeat ? this.heartbeat * 2500 : HELLO_TIMEOUT;
      if (Date.now() - this.lastMessageAt > limit) this.drop(4000, 'no heartbeat');
    } else if (!this.ws && this.retryTimer) {
      this.attempts = 0;
      this.open();
    }
  };

  Stream.prototype.receive = function (text, resume) {
    this.kick();
    var msg;
    try { msg = JSON.parse(text); } catch (e) { return; }
    if (!msg || typeof msg !== 'object') return;
    if (msg.type === 'heartbeat') return;
    if (msg.type === 'hello') {
      this.attempts = 0;
      this.heartbeat = Number(msg.heartbeat) > 0 ? Number(msg.heartbeat) : 20;
      this.kick();
      this.replayLeft = Number(msg.replayed) || 0;
      // Fresh connection: everything up to the channel's head is history we need not replay.
      // Resumed: the replay follows, so the id must not move yet or it would be skipped.
      if (resume === null && typeof msg.last_event_id === 'number') this.remember(msg.last_event_id);
      this.status('online');
      if (this.opts.onHello) {
        this.opts.onHello(msg, {
          resumed: resume !== null,
          truncated: msg.truncated === true
        });
      }
      return;
    }
    if (typeof msg.id !== 'number') return;        // not an event we understand: ignore
    var replayed = this.replayLeft > 0;
    if (replayed) this.replayLeft--;
    if (msg.id <= this.lastId) return;             // a duplicate (already seen)
    this.remember(msg.id);
    if (this.opts.onEvent) this.opts.onEvent(msg, { replayed: replayed });
  };

  Stream.prototype.remember = function (id) {
    if (id > this.lastId) { this.lastId = id; session.set(this.key, id); }
  };

  Stream.prototype.forget = function () {
    this.lastId = 0;
    session.del(this.key);
  };

  Stream.prototype.closed = function (code, reason) {
    clearTimeout(this.watchdog);
    if (this.stopped) return;
    var self = this;
    if (code === POLICY_VIOLATION) {
      if (/last_event_id/i.test(reason || '')) {
        // The server does not know our id (database reset, other server): start fresh.
        this.forget();
        this.status('reconnecting', { reason: reason, retryIn: 0 });
        this.retryTimer = setTimeout(function () { self.open(); }, 200);
        return;
      }
      this.status('refused', { reason: reason || '凭证无效 / invalid credential' });
      if (/sign|revoked/i.test(reason || '')) signIn();  // signed out or never signed in
      return;
    }
    var delay = Math.min(BACKOFF_MAX, BACKOFF_MIN * Math.pow(2, this.attempts));
    delay = Math.round(delay * (0.8 + Math.random() * 0.4));
    this.attempts++;
    this.status('reconnecting', { reason: reason, retryIn: delay });
    this.retryTimer = setTimeout(function () { self.open(); }, delay);
  };

  // ---- the alarms of a scope, kept from GET /api/alerts, GET /api/alerts/{id} and events ------
  var CLOSED = { resolved: 1, cancelled: 1, canceled: 1, closed: 1 };
  function isClosed(status) { return !!CLOSED[status]; }
  /* The AlertOut fields the API gives; events carry the same facts step by step. */
  var FIELDS = ['type', 'status', 'source', 'group_id', 'household_id', 'household', 'group',
    'raised_by', 'presses', 'neighbours', 'coming', 'confirmed', 'linked_alert_id', 'drill',
    'drill_label', 'duress', 'widened', 'patrol_cycles', 'taken_by', 'taken_at', 'on_scene_at',
    'outcome', 'note', 'created_at', 'updated_at', 'closed_at'];
  var CLOSED_KEY = 'tw.closed', CLOSED_MAX = 40, CLOSED_KEEP_MS = 6 * 3600 * 1000;

  function blank(id) {
    return { id: id, type: 'other', status: 'open', source: null, group_id: null, household_id: null,
             household: null, group: null, raised_by: null, presses: 1, neighbours: 0, coming: 0,
             confirmed: false, linked_alert_id: null, drill: false, drill_label: null, duress: false,
             widened: false, patrol_cycles: 0, taken_by: null, taken_at: null, on_scene_at: null,
             outcome: null, note: null, created_at: null, updated_at: null, closed_at: null,
             responses: {}, groups: [], escalation: null, resolved_by: null, detailed: false };
  }
  function later(a, b) { return parseTime(a) > parseTime(b); }

  function Alerts() {
    this.byId = {};                  // open alarms
    this.closedById = {};            // alarms seen closing (kept per tab for the "closed" lists)
    try { this.closedById = JSON.parse(session.get(CLOSED_KEY) || '{}') || {}; } catch (e) { this.closedById = {}; }
    this.prune();
  }

  Alerts.prototype.get = function (id) { return this.byId[id] || this.closedById[id] || null; };

  Alerts.prototype.prune = function () {
    var self = this, t = now();
    var ids = Object.keys(this.closedById).filter(function (id) {
      var a = self.closedById[id];
      if (!a || t - parseTime(a.closed_at || a.updated_at) > CLOSED_KEEP_MS) { delete self.closedById[id]; return false; }
      return true;
    });
    ids.sort(function (x, y) { return parseTime(self.closedById[y].closed_at) - parseTime(self.closedById[x].closed_at); })
      .slice(CLOSED_MAX).forEach(function (id) { delete self.closedById[id]; });
  };

  Alerts.prototype.save = function () {
    this.prune();
    session.set(CLOSED_KEY, JSON.stringify(this.closedById));
  };

  /* Put an alarm in the open or the closed set by its status. */
  Alerts.prototype.place = function (it) {
    if (isClosed(it.status)) {
      if (!it.closed_at) it.closed_at = it.updated_at || new Date(now()).toISOString();
      delete this.byId[it.id];
      this.closedById[it.id] = it;
      this.save();
    } else {
      if (this.closedById[it.id]) { delete this.closedById[it.id]; this.save(); }
      this.byId[it.id] = it;
    }
    return it;
  };

  /* Merge an alarm from the API (AlertOut or AlertDetail). A copy older than what events
   * already told us only fills gaps. */
  Alerts.prototype.merge = function (a) {
    if (!a || a.id == null) return null;
    var it = this.get(a.id) || blank(a.id);
    var older = it.updated_at && a.updated_at && later(it.updated_at, a.updated_at);
    FIELDS.forEach(function (k) {
      if (a[k] === undefined) return;
      if (!older || it[k] === null || it[k] === undefined) it[k] = a[k];
    });
    if (Array.isArray(a.responses)) {
      it.detailed = true;
      a.responses.forEach(function (r) {
        var known = it.responses[r.household];
        if (!known) it.responses[r.household] = { answer: r.answer, channel: r.channel, name: r.name || null };
        else if (!older) { known.answer = r.answer; known.channel = r.channel; known.name = known.name || r.name || null; }
      });
    }
    return this.place(it);
  };

  /* The open list from GET /api/alerts; returns the ids that were open here and are not in it
   * any more (closed while this page was away: load them to learn how they ended). */
  Alerts.prototype.reset = function (list) {
    var self = this, seen = {};
    (list || []).forEach(function (a) { seen[a.id] = 1; self.merge(a); });
    var vanished = Object.keys(this.byId).filter(function (id) { return !seen[id]; });
    vanished.forEach(function (id) { delete self.byId[id]; });
    return vanished.map(Number);
  };

  /* Apply one event. Returns {alert, raised, appeared, closed, unknown}: appeared means the page
   * had not known this open alarm (a new one, or one widened to this group); closed means this
   * event closed it. An event older than what the page knows only fills gaps. */
  Alerts.prototype.apply = function (ev) {
    var d = ev.data || {};
    if (ev.alert_id == null) return { alert: null, raised: false, appeared: false, closed: false, unknown: false };
    var known = this.get(ev.alert_id);
    var it = known || blank(ev.alert_id);
    var wasOpen = !!this.byId[ev.alert_id];
    var stale = !!(known && it.updated_at && ev.at && later(it.updated_at, ev.at));
    if (!known) { it.created_at = ev.at; it.group_id = ev.group_id; }
    if (d.alert_type) it.type = d.alert_type;
    if (d.household) it.household = d.household;
    if (d.drill) { it.drill = true; it.drill_label = d.drill_label || it.drill_label; }
    if (d.duress) it.duress = true;
    if (!stale) {
      if (d.status) it.status = d.status;
      if (ev.at) it.updated_at = ev.at;
    }
    var t = ev.type;
    if (t === 'alert.raised') {
      it.created_at = ev.at || it.created_at;
      if (d.raised_by) it.raised_by = d.raised_by;
      if (d.group) it.group = d.group;
      if (!it.source) it.source = ev.channel;
      if (!stale && typeof d.neighbours === 'number') it.neighbours = Math.max(it.neighbours || 0, d.neighbours);
    } else if (t === 'alert.pressed') {
      if (typeof d.presses === 'number') it.presses = Math.max(it.presses || 1, d.presses);
    } else if (t === 'alert.confirmed') {
      it.confirmed = true;
      if (d.linked_alert_id != null) it.linked_alert_id = d.linked_alert_id;
    } else if (t === 'alert.response') {
      if (d.responder) {
        var r = it.responses[d.responder];
        if (!r || !stale) it.responses[d.responder] = { answer: d.answer, name: d.name || null, at: ev.at, channel: ev.channel };
        else if (!r.name) r.name = d.name || null;
      }
      if (!stale) {
        if (typeof d.coming === 'number') it.coming = d.coming;
        if (typeof d.neighbours === 'number') it.neighbours = d.neighbours;
      }
    } else if (t === 'alert.acknowledged') {
      if (d.taken_by) it.taken_by = d.taken_by;
      it.taken_at = it.taken_at || ev.at;
    } else if (t === 'alert.on_scene') {
      if (!it.taken_by && d.by) it.taken_by = d.by;
      it.on_scene_at = it.on_scene_at || ev.at;
    } else if (t === 'alert.resolved') {
      if (d.outcome) it.outcome = d.outcome;
      if (d.note !== undefined) it.note = d.note;
      if (d.by) it.resolved_by = d.by;
      it.closed_at = ev.at;
    } else if (t === 'alert.cancelled') {
      it.closed_at = ev.at;
    } else if (t === 'alert.note') {
      it.note = d.note;
    } else if (t === 'alert.escalated') {
      if (d.level === 'neighbours') {
        it.widened = true;
        if (!stale && typeof d.neighbours === 'number') it.neighbours = d.neighbours;
        if (!stale && typeof d.coming === 'number') it.coming = d.coming;
        (d.groups || []).forEach(function (g) { if (it.groups.indexOf(g) < 0) it.groups.push(g); });
      } else if (typeof d.cycle === 'number') {
        it.patrol_cycles = Math.max(it.patrol_cycles || 0, d.cycle);
      }
      it.escalation = { level: d.level, reason: d.reason, cycle: d.cycle, police: d.police, notified: d.notified, at: ev.at };
    }
    it.last_event = t;
    this.place(it);
    var closedNow = isClosed(it.status);
    return {
      alert: it,
      raised: t === 'alert.raised',
      appeared: !known && !closedNow,
      closed: closedNow && (wasOpen || !known),
      unknown: !known
    };
  };

  /* Open alarms, newest first. */
  Alerts.prototype.list = function () {
    var self = this;
    return Object.keys(this.byId).map(function (k) { return self.byId[k]; })
      .sort(function (a, b) { return parseTime(b.created_at) - parseTime(a.created_at) || b.id - a.id; });
  };

  /* Closed alarms, most recently closed first. */
  Alerts.prototype.closedList = function () {
    var self = this;
    return Object.keys(this.closedById).map(function (k) { return self.closedById[k]; })
      .sort(function (a, b) { return parseTime(b.closed_at) - parseTime(a.closed_at) || b.id - a.id; });
  };

  /* Load one alarm's detail (who answered) into the store, once at a time per alarm. */
  var loading = {};
  function loadDetail(token, alerts, id) {
    if (loading[id]) return loading[id];
    var p = api(token, '/api/alerts/' + encodeURIComponent(id))
      .then(function (detail) { return alerts.merge(detail); })
      .catch(function () { return null; })
      .then(function (r) { delete loading[id]; return r; });
    loading[id] = p;
    return p;
  }

  /* Follow a scope: socket + list, resynced on the first hello, on a fresh (not resumed)
   * connection and on a replay that may have been cut short. Events that arrive while the
   * list loads are held and applied after it, in order, so nothing is lost or applied twice.
   * opts: token, channel, alerts (Alerts), onEvent(ev, result, info), onSynced(vanishedIds), onStatus,
   *       onError(err). */
  function follow(opts) {
    var synced = false, syncing = false, held = [];
    var stream;
    function flush() {
      var batch = held; held = [];
      batch.forEach(function (p) { opts.onEvent(p.ev, opts.alerts.apply(p.ev), p.info); });
    }
    async function sync() {
      var vanished = [];
      syncing = true;
      for (;;) {
        try {
          var list = await api(opts.token, '/api/alerts');
          vanished = opts.alerts.reset(list);
          break;
        } catch (e) {
          if (opts.onError) opts.onError(e);
          if (e.status === 401 || e.status === 403) { syncing = false; return; }
          await new Promise(function (r) { setTimeout(r, 3000); });
        }
      }
      syncing = false; synced = true;
      if (opts.onSynced) opts.onSynced(vanished);
      flush();
    }
    stream = new Stream({
      token: opts.token, channel: opts.channel, onStatus: opts.onStatus,
      onHello: function (hello, info) {
        if (!synced || !info.resumed || info.truncated) { if (!syncing) sync(); }
      },
      onEvent: function (ev, info) {
        if (syncing || !synced) held.push({ ev: ev, info: info });
        else opts.onEvent(ev, opts.alerts.apply(ev), info);
      }
    });
    stream.start();
    return stream;
  }

  // ---- words --------------------------------------------------------------------------------
  var TYPES = {
    help: { zh: '求助', en: 'help' },
    medical: { zh: '急病', en: 'medical' },
    fire: { zh: '火情', en: 'fire' },
    intrusion: { zh: '入室', en: 'intrusion' },
    dispute: { zh: '纠纷', en: 'dispute' },
    other: { zh: '其他', en: 'other' }
  };
  var STATUSES = {
    open: { zh: '待处理', en: 'open' },
    acknowledged: { zh: '已接警', en: 'taken' },
    on_scene: { zh: '已到场', en: 'on scene' },
    responding: { zh: '处置中', en: 'responding' },
    escalated: { zh: '已上报', en: 'escalated' },
    resolved: { zh: '已解决', en: 'resolved' },
    cancelled: { zh: '已撤销', en: 'cancelled' }
  };
  var EVENTS = {
    'alert.raised': { zh: '发出求助', en: 'alarm raised' },
    'alert.pressed': { zh: '再次按下', en: 'pressed again' },
    'alert.confirmed': { zh: '多户确认', en: 'confirmed' },
    'alert.response': { zh: '邻居回应', en: 'neighbour answered' },
    'alert.responded': { zh: '邻居回应', en: 'neighbour answered' },
    'alert.acknowledged': { zh: '已接警', en: 'taken' },
    'alert.on_scene': { zh: '已到场', en: 'on scene' },
    'alert.escalated': { zh: '已升级', en: 'escalated' },
    'alert.resolved': { zh: '已解决', en: 'resolved' },
    'alert.cancelled': { zh: '已撤销', en: 'cancelled' },
    'alert.duress': { zh: '胁迫撤销！', en: 'DURESS cancel' },
    'alert.note': { zh: '处置备注', en: 'note' },
    'alert.pin_failed': { zh: '撤销密码错误', en: 'wrong cancel PIN' },
    'alert.delivery': { zh: '短信/电话回执', en: 'delivery receipt' }
  };
  var ANSWERS = {
    coming: { zh: '我来了', en: "I'm coming" },
    cant: { zh: '我去不了', en: "I can't" },
    called_110: { zh: '我已报110', en: 'I called 110' }
  };
  var ANSWERED = {                     // an answer as others read it
    coming: { zh: '正在赶来', en: 'coming' },
    cant: { zh: '去不了', en: "can't come" },
    called_110: { zh: '已报110', en: 'called 110' }
  };
  var OUTCOMES = {
    handled: { zh: '已处理', en: 'handled' },
    false_alarm: { zh: '误报', en: 'false alarm' },
    police: { zh: '已移交警方', en: 'police' },
    medical: { zh: '已送医 / 急救', en: 'medical' },
    other: { zh: '其他', en: 'other' }
  };
  var REASONS = {
    quorum: { zh: '赶来的邻居不足', en: 'too few neighbours coming' },
    not_taken: { zh: '无人接警', en: 'not taken' },
    confirmed: { zh: '多户确认', en: 'confirmed' },
    duress: { zh: '胁迫', en: 'duress' },
    manual: { zh: '巡逻队请求', en: 'called in by the patrol' }
  };
  var SOURCES = { app: { zh: '手机', en: 'app' }, sms: { zh: '短信', en: 'SMS' },
                  voice: { zh: '电话', en: 'call' }, call: { zh: '电话', en: 'call' },
                  button: { zh: '紧急按钮', en: 'panic button' } };
  function word(table, key) {
    return table[key] || { zh: String(key == null ? '—' : key), en: '' };
  }
  function typeName(t) { return word(TYPES, t); }
  function statusName(s) { return word(STATUSES, s); }
  function eventName(t) { return word(EVENTS, t); }
  function sourceName(s) { return word(SOURCES, s); }
  function answerName(a) { return word(ANSWERS, a); }
  function answeredName(a) { return word(ANSWERED, a); }
  function outcomeName(o) { return word(OUTCOMES, o); }
  function reasonName(r) { return word(REASONS, r); }

  /* "3 of 9 neighbours coming" in both languages. */
  function comingLine(a) {
    var c = a.coming || 0, n = a.neighbours || 0;
    return { zh: c + '/' + n + ' 位邻居正在赶来', en: c + ' of ' + n + (n === 1 ? ' neighbour' : ' neighbours') + ' coming' };
  }

  /* A fresh random key (Idempotency-Key): works on plain http too, unlike randomUUID. */
  function randomKey() {
    var b = new Uint8Array(16);
    try { global.crypto.getRandomValues(b); } catch (e) { for (var i = 0; i < 16; i++) b[i] = Math.floor(Math.random() * 256); }
    return Array.prototype.map.call(b, function (x) { return (x < 16 ? '0' : '') + x.toString(16); }).join('');
  }

  /* Keep a container's children in the order of items, one node per key: existing nodes are
   * updated in place (so inputs, open forms and focus survive), missing ones created, others
   * removed. create(item) → node; update(node, item). */
  function keyed(container, items, key, create, update) {
    var old = {};
    Array.prototype.forEach.call(container.children, function (n) { if (n.dataset.key) old[n.dataset.key] = n; });
    var prev = null;
    items.forEach(function (item) {
      var k = String(key(item));
      var node = old[k];
      if (node) delete old[k];
      else { node = create(item); node.dataset.key = k; }
      update(node, item);
      var want = prev ? prev.nextSibling : container.firstChild;
      if (want !== node) container.insertBefore(node, want);
      prev = node;
    });
    Object.keys(old).forEach(function (k) { container.removeChild(old[k]); });
  }

  /* The address of an alarm, or a stand-in if the API has not told us. */
  function addressOf(a) {
    if (a.household) return { zh: a.household, en: '' };
    if (a.household_id != null) return { zh: '住户 #' + a.household_id, en: 'household #' + a.household_id };
    return { zh: '地址未知', en: 'address unknown' };
  }

  // ---- time ---------------------------------------------------------------------------------
  function parseTime(iso) {
    if (!iso) return NaN;
    var s = String(iso);
    if (/T\d\d:\d\d(:\d\d(\.\d+)?)?$/.test(s)) s += 'Z';   // naive timestamps are UTC
    return Date.parse(s);
  }
  function ago(iso) {
    var t = parseTime(iso);
    if (isNaN(t)) return { zh: '', en: '' };
    var s = Math.max(0, Math.round((now() - t) / 1000));
    if (s < 45) return { zh: '刚刚', en: 'just now' };
    var m = Math.round(s / 60);
    if (m < 60) return { zh: m + ' 分钟前', en: m + ' min ago' };
    var h = Math.floor(m / 60);
    if (h < 24) return { zh: h + ' 小时前', en: h + ' h ago' };
    var d = Math.floor(h / 24);
    return { zh: d + ' 天前', en: d + ' d ago' };
  }
  function ageSeconds(iso) { var t = parseTime(iso); return isNaN(t) ? Infinity : (now() - t) / 1000; }
  function clock(iso) {
    var t = parseTime(iso);
    if (isNaN(t)) return '';
    var d = new Date(t);
    function p(n) { return (n < 10 ? '0' : '') + n; }
    return p(d.getHours()) + ':' + p(d.getMinutes()) + ':' + p(d.getSeconds());
  }

  // ---- DOM, text only -------------------------------------------------------------------------
  /* el('div', {class: 'x', text: 'y', title: 'z'}, [children]) — text goes in as textContent. */
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    attrs = attrs || {};
    for (var k in attrs) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) continue;
      if (k === 'text') node.textContent = String(v);
      else if (k === 'class') node.className = v;
      else node.setAttribute(k, String(v));
    }
    (children || []).forEach(function (c) {
      if (c === null || c === undefined || c === false) return;
      node.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    });
    return node;
  }
  /* A bilingual label: Chinese, then English smaller. */
  /* Show a message that stops the page (no credential, refused), in both languages. */
  function showFatal(node, zh, en) {
    node.textContent = '';
    node.appendChild(el('span', { class: 'bi' }, [el('span', { class: 'zh', text: zh }), el('span', { class: 'en', text: en })]));
    node.hidden = false;
  }

  function bi(pair, cls) {
    return el('span', { class: 'bi' + (cls ? ' ' + cls : '') }, [
      el('span', { class: 'zh', text: pair.zh }),
      pair.en ? el('span', { class: 'en', text: pair.en }) : null
    ]);
  }

  var STATUS_TEXT = {
    connecting: { zh: '连接中…', en: 'connecting…' },
    online: { zh: '在线', en: 'online' },
    reconnecting: { zh: '重连中', en: 'reconnecting' },
    refused: { zh: '已断开', en: 'disconnected' }
  };
  /* Render a stream status into a pill element. */
  function showStatus(node, s) {
    var t = STATUS_TEXT[s.state] || STATUS_TEXT.connecting;
    node.className = 'tw-status tw-' + s.state;
    node.textContent = '';
    node.appendChild(el('span', { class: 'dot', 'aria-hidden': 'true' }));
    var en = t.en;
    if (s.state === 'reconnecting' && s.retryIn) en += ' · ' + Math.ceil(s.retryIn / 1000) + ' s';
    node.appendChild(bi({ zh: t.zh, en: en }));
    node.title = s.reason || '';
    if (s.state === 'refused' && s.reason) node.appendChild(el('span', { class: 'why', text: s.reason }));
  }

  // ---- sound: generated beeps, unlocked by a user gesture --------------------------------------
  var Sound = {
    ctx: null,
    wanted: local.get('tw.sound') === '1',
    ready: function () { return !!(this.ctx && this.ctx.state === 'running'); },
    unlock: function () {
      var C = global.AudioContext || global.webkitAudioContext;
      if (!C) return false;
      if (!this.ctx) { try { this.ctx = new C(); } catch (e) { return false; } }
      if (this.ctx.state === 'suspended') { try { this.ctx.resume(); } catch (e) { /* later */ } }
      return true;
    },
    enable: function () {
      this.wanted = true; local.set('tw.sound', '1');
      if (this.unlock()) this.tone(880, 0, 0.15, 0.2);
    },
    disable: function () { this.wanted = false; local.set('tw.sound', '0'); },
    tone: function (freq, at, len, gain) {
      var ctx = this.ctx, t0 = ctx.currentTime + at;
      var osc = ctx.createOscillator(), g = ctx.createGain();
      osc.type = 'square';
      osc.frequency.setValueAtTime(freq, t0);
      g.gain.setValueAtTime(0.0001, t0);
      g.gain.exponentialRampToValueAtTime(gain, t0 + 0.02);
      g.gain.setValueAtTime(gain, t0 + len - 0.03);
      g.gain.exponentialRampToValueAtTime(0.0001, t0 + len);
      osc.connect(g); g.connect(ctx.destination);
      osc.start(t0); osc.stop(t0 + len + 0.02);
    },
    /* An alarm: a two-tone siren, repeated `times`. Returns whether it could play. */
    alarm: function (times) {
      if (!this.wanted || !this.unlock() || !this.ready()) return false;
      for (var i = 0; i < (times || 3); i++) {
        this.tone(988, i * 0.7, 0.3, 0.35);
        this.tone(740, i * 0.7 + 0.33, 0.3, 0.35);
      }
      return true;
    }
  };
  // A browser lets audio start only after a gesture; the first tap anywhere unlocks it.
  function unlockOnGesture() {
    if (Sound.wanted) Sound.unlock();
    if (Sound.ready()) {
      document.removeEventListener('pointerdown', unlockOnGesture, true);
      document.removeEventListener('keydown', unlockOnGesture, true);
    }
  }
  document.addEventListener('pointerdown', unlockOnGesture, true);
  document.addEventListener('keydown', unlockOnGesture, true);

  /* Wire a sound toggle button (aria-pressed) with a bilingual label. */
  function soundToggle(button, onChange) {
    function render() {
      var on = Sound.wanted, live = Sound.ready();
      button.setAttribute('aria-pressed', on ? 'true' : 'false');
      button.textContent = '';
      button.appendChild(bi(on
        ? (live ? { zh: '提示音：开', en: 'sound on' } : { zh: '轻触任意处启用提示音', en: 'tap anywhere to enable sound' })
        : { zh: '启用提示音', en: 'enable sound' }));
      button.classList.toggle('on', on && live);
      button.classList.toggle('pending', on && !live);
      if (onChange) onChange();
    }
    button.addEventListener('click', function () {
      if (Sound.wanted && Sound.ready()) Sound.disable(); else Sound.enable();
      setTimeout(render, 50);
    });
    document.addEventListener('pointerdown', function () { setTimeout(render, 100); }, true);
    render();
    return render;
  }

  global.TenWatch = {
    takeToken: takeToken, api: api, ApiError: ApiError, Stream: Stream, Alerts: Alerts,
    follow: follow, typeName: typeName, statusName: statusName, eventName: eventName,
    sourceName: sourceName, addressOf: addressOf, TYPES: TYPES, parseTime: parseTime, ago: ago,
    ageSeconds: ageSeconds, clock: clock, now: now, el: el, bi: bi, showFatal: showFatal, showStatus: showStatus,
    Sound: Sound, soundToggle: soundToggle, answerName: answerName, answeredName: answeredName,
    outcomeName: outcomeName, reasonName: reasonName, OUTCOMES: OUTCOMES, ANSWERS: ANSWERS,
    comingLine: comingLine, randomKey: randomKey, keyed: keyed, loadDetail: loadDetail,
    isClosed: isClosed
  };
})(window);
