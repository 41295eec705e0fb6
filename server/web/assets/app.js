// Anchorwatch collector dashboard. Plain JavaScript, no framework, no
// build step. Every figure comes from the dashboard JSON API; the session
// cookie set by /login authenticates the requests (this script never sees
// the token). Agent-supplied strings (hostnames, subjects, paths) are
// untrusted: the DOM is built with textContent only, never innerHTML.
// Elements carrying figures have data-testid attributes the browser tests
// read and compare with the API.
'use strict';
(function () {
  var main = document.getElementById('main');
  var SVGNS = 'http://www.w3.org/2000/svg';

  var HOST_STATUSES = ['compliant', 'noncompliant', 'error', 'pending'];
  var STORE_STATUSES = ['compliant', 'missing', 'untrusted', 'blocked-present', 'needs-mdm', 'error'];
  var EVENT_TYPES = ['removed', 'healed', 'heal-failed', 'unknown-root-appeared', 'blocked-root-appeared',
    'policy-applied', 'policy-rejected', 'installed', 'removed-by-policy', 'policy-expiring', 'policy-expired',
    'enroll-conflict', 'host-merged', 'node-key-revoked', 'host-retired', 'host-reactivated'];
  // Who is signed in (GET /api/v1/whoami): an admin's page offers the
  // host actions, sent with the session's anti-forgery value.
  var me = { name: '', role: '', csrf: '' };
  var KIND_NAMES = { system: 'System store', nss: 'NSS (Firefox, Chromium)', java: 'Java keystores',
    firefox: 'Firefox policy', 'firefox-policy': 'Firefox policy', windows: 'Windows', macos: 'macOS keychain' };
  var OS_NAMES = { linux: 'Linux', windows: 'Windows', darwin: 'macOS' };

  // ---- DOM helpers ------------------------------------------------------

  function append(node, kids) {
    for (var i = 0; i < kids.length; i++) {
      var k = kids[i];
      if (k === null || k === undefined || k === false) { continue; }
      if (Array.isArray(k)) { append(node, k); continue; }
      node.appendChild(typeof k === 'object' ? k : document.createTextNode(String(k)));
    }
    return node;
  }

  function setAttrs(node, attrs) {
    if (!attrs) { return; }
    Object.keys(attrs).forEach(function (a) {
      var v = attrs[a];
      if (v === null || v === undefined || v === false) { return; }
      if (a === 'class') { node.setAttribute('class', v); }
      else if (a === 'testid') { node.setAttribute('data-testid', v); }
      else if (a === 'text') { node.textContent = v; }
      else if (a === 'width%') { node.style.width = v + '%'; }
      else { node.setAttribute(a, v === true ? '' : String(v)); }
    });
  }

  function el(tag, attrs) {
    var n = document.createElement(tag);
    setAttrs(n, attrs);
    return append(n, Array.prototype.slice.call(arguments, 2));
  }

  function svg(tag, attrs) {
    var n = document.createElementNS(SVGNS, tag);
    setAttrs(n, attrs);
    return append(n, Array.prototype.slice.call(arguments, 2));
  }

  function clear(n) { while (n.firstChild) { n.removeChild(n.firstChild); } }

  // ---- formatting -------------------------------------------------------

  function fmtInt(n) { return Number(n || 0).toLocaleString('en-US'); }
  // One decimal, rounding half up (the tests format the same way).
  function fmtPct(x) { return (Math.round(Number(x || 0) * 10) / 10).toFixed(1) + '%'; }
  function pad(n) { return n < 10 ? '0' + n : String(n); }
  function isZeroTime(s) { return !s || s.indexOf('0001-01-01') === 0; }
  function fmtTime(s) {
    if (isZeroTime(s)) { return '—'; }
    var d = new Date(s);
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' + pad(d.getHours()) + ':' + pad(d.getMinutes());
  }
  // An event's time to the second, in the browser's zone, with its offset
  // from UTC: "2025-05-01 12:00:05 +02:00".
  function fmtTimeSec(s) {
    if (isZeroTime(s)) { return '—'; }
    var d = new Date(s);
    var off = -d.getTimezoneOffset(), sign = off < 0 ? '-' : '+';
    off = Math.abs(off);
    return fmtTime(s) + ':' + pad(d.getSeconds()) + ' ' + sign + pad(Math.floor(off / 60)) + ':' + pad(off % 60);
  }
  function fmtDate(s) {
    if (isZeroTime(s)) { return '—'; }
    var d = new Date(s);
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate());
  }
  function ago(s) {
    if (isZeroTime(s)) { return 'never'; }
    var sec = (Date.now() - new Date(s).getTime()) / 1000;
    if (sec < 0) { sec = 0; }
    if (sec < 90) { return 'just now'; }
    if (sec < 5400) { return Math.round(sec / 60) + ' min ago'; }
    if (sec < 129600) { return Math.round(sec / 3600) + ' h ago'; }
    return Math.round(sec / 86400) + ' d ago';
  }
  function timeCell(s) { return el('span', { title: isZeroTime(s) ? '' : new Date(s).toString() }, ago(s)); }
  function daysLeft(s) { return Math.floor((new Date(s).getTime() - Date.now()) / 86400000); }
  function shortHash(h) { return h ? h.slice(0, 16) + '…' : ''; }
  function kindName(k) { return KIND_NAMES[k] || k; }
  function osName(k) { return OS_NAMES[k] || k || 'unknown'; }
  // "24h0m0s" → "24 h", "168h0m0s" → "7 d".
  function fmtGoDuration(s) {
    var m = /^(\d+)h(?:0m0s)?$/.exec(s || '');
    if (!m) { return s; }
    var h = Number(m[1]);
    return h >= 48 && h % 24 === 0 ? (h / 24) + ' days' : h + ' h';
  }
  function badge(status, testid) {
    return el('span', { class: 'badge b-' + status, testid: testid }, status);
  }

  // ---- API --------------------------------------------------------------

  function Stop() {}

  function signIn() {
    location.replace('/login?next=' + encodeURIComponent(location.pathname + location.search));
  }

  function api(path, params) {
    var u = new URL(path, location.origin);
    if (params) {
      Object.keys(params).forEach(function (k) {
        if (params[k] !== '' && params[k] !== undefined && params[k] !== null) { u.searchParams.set(k, params[k]); }
      });
    }
    return fetch(u.toString(), { credentials: 'same-origin', headers: { Accept: 'application/json' }, cache: 'no-store' })
      .then(function (r) {
        if (r.status === 401) { signIn(); throw new Stop(); }
        if (!r.ok) {
          return r.json().catch(function () { return {}; }).then(function (b) {
            var e = new Error(path + ': ' + r.status + ' ' + (b.detail || b.error || r.statusText));
            e.status = r.status;
            throw e;
          });
        }
        return r.json();
      });
  }

  // send makes a change (an admin's host action) with the session cookie
  // and the session's anti-forgery header.
  function send(method, path) {
    return fetch(path, { method: method, credentials: 'same-origin', cache: 'no-store',
      headers: { Accept: 'application/json', 'X-Anchorwatch-CSRF': me.csrf } })
      .then(function (r) {
        if (r.status === 401) { signIn(); throw new Stop(); }
        if (!r.ok) {
          return r.json().catch(function () { return {}; }).then(function (b) {
            throw new Error(method + ' ' + path + ': ' + r.status + ' ' + (b.detail || b.error || r.statusText));
          });
        }
        return r.status === 204 ? {} : r.json();
      });
  }

  function query() { return new URLSearchParams(location.search); }

  function hrefWith(path, params) {
    var q = new URLSearchParams();
    Object.keys(params).forEach(function (k) {
      if (params[k] !== '' && params[k] !== undefined && params[k] !== null) { q.set(k, params[k]); }
    });
    var s = q.toString();
    return s ? path + '?' + s : path;
  }

  // ---- shared pieces ----------------------------------------------------

  function pageHead(title, sub, right) {
    return el('div', { class: 'page-head' },
      el('div', null, el('h1', { text: title }), sub ? el('p', { class: 'muted' }, sub) : null),
      right || null);
  }

  function panel(title, testid) {
    return el('section', { class: 'panel', testid: testid }, title ? el('h2', { text: title }) : null,
      Array.prototype.slice.call(arguments, 2));
  }

  function table(headers, rows, emptyText) {
    var thead = el('thead', null, el('tr', null, headers.map(function (h) {
      return typeof h === 'string' ? el('th', { text: h }) : el('th', { class: h.cls, text: h.t });
    })));
    var tbody = el('tbody', null, rows);
    if (!rows.length) {
      tbody.appendChild(el('tr', null, el('td', { class: 'empty', colspan: headers.length, text: emptyText || 'Nothing to show.' })));
    }
    return el('div', { class: 'table-wrap' }, el('table', null, thead, tbody));
  }

  function kpi(label, value, testid, cls, sub, href, subTestid) {
    return el(href ? 'a' : 'div', { class: 'kpi ' + (cls || ''), href: href },
      el('div', { class: 'label', text: label }),
      el('div', { class: 'value' + (Number(value) ? ' nonzero' : ''), testid: testid, text: fmtInt(value) }),
      sub !== undefined ? el('div', { class: 'sub', testid: subTestid }, sub) : null);
  }

  // stackBar draws counts by status as one horizontal bar.
  function stackBar(byStatus, total, order) {
    var bar = el('div', { class: 'bar', role: 'img' });
    var label = [];
    order.forEach(function (s) {
      var n = (byStatus || {})[s] || 0;
      if (!n || !total) { return; }
      bar.appendChild(el('span', { class: 's-' + s, 'width%': (100 * n / total).toFixed(3), title: s + ': ' + fmtInt(n) }));
      label.push(s + ' ' + n);
    });
    bar.setAttribute('aria-label', label.join(', '));
    return bar;
  }

  function legend(order) {
    return el('div', { class: 'legend' }, order.map(function (s) {
      return el('span', null, el('i', { class: 's-' + s }), s);
    }));
  }

  // ---- pages ------------------------------------------------------------

  function overview() {
    // The device count is optional: a collector without the device API
    // still shows the fleet.
    var devSum = api('/api/v1/devices/summary').catch(function (err) {
      if (err instanceof Stop || (err.status !== 404 && err.status !== 405)) { throw err; }
      return null;
    });
    var rollout = api('/api/v1/policy/rollout').catch(function (err) {
      if (err instanceof Stop || (err.status !== 404 && err.status !== 405)) { throw err; }
      return null;
    });
    return Promise.all([api('/api/v1/summary'), api('/api/v1/trend'), devSum, rollout]).then(function (res) {
      var sum = res[0], trend = res[1], dsum = res[2], ro = res[3];
      var bs = sum.by_status || {};
      var kpis = el('div', { class: 'kpis' },
        kpi('Hosts', sum.hosts, 'kpi-hosts', 'info', 'enrolled', '/hosts'),
        kpi('Compliant', sum.compliant, 'kpi-compliant', 'ok', fmtPct(sum.compliant_pct) + ' of hosts', '/hosts?status=compliant', 'kpi-compliant-pct'),
        kpi('Noncompliant', bs.noncompliant || 0, 'kpi-noncompliant', 'bad', 'CA missing or untrusted', '/hosts?status=noncompliant'),
        kpi('Errors', bs.error || 0, 'kpi-error', 'bad', 'a store unreadable', '/hosts?status=error'),
        kpi('Pending', bs.pending || 0, 'kpi-pending', 'grey', 'no report yet', '/hosts?status=pending'),
        kpi('Offline', sum.offline, 'kpi-offline', 'warn', 'not seen for ' + fmtGoDuration(sum.offline_after), hrefWith('/hosts', { offline_after: sum.offline_after })),
        kpi('Stale', sum.stale, 'kpi-stale', 'warn', 'not seen for ' + fmtGoDuration(sum.stale_after), hrefWith('/hosts', { lifecycle: 'stale' })),
        kpi('Retired', sum.retired, 'kpi-retired', 'grey', 'in no figure here', hrefWith('/hosts', { lifecycle: 'retired' })),
        kpi('Unknown roots', sum.unknown_roots, 'kpi-unknown-roots', 'warn', 'distinct, fleet-wide', '/roots?class=unknown'),
        kpi('Blocked roots', sum.blocked_roots, 'kpi-blocked-roots', 'bad', 'on the blocklist', '/roots?class=blocked'),
        kpi('Policy serial', sum.policy_serial, 'kpi-policy-serial', 'info', 'served to agents'),
        sum.flagged_hosts ? kpi('Flagged hosts', sum.flagged_hosts, 'kpi-flagged-hosts', 'bad', 'machine id enrolled without its key', '/hosts?flagged=true') : null,
        dsum ? kpi('Unmanaged', dsum.unmanaged, 'kpi-unmanaged-devices', 'bad', fmtInt(dsum.unmanaged_rejecting_ca) + ' refused the CA',
          '/devices?status=unmanaged', 'kpi-unmanaged-rejecting') : null);

      // Stores by status, fleet-wide (sum over store kinds).
      var storeTotals = {}, storeAll = 0;
      (sum.by_store_kind || []).forEach(function (g) {
        Object.keys(g.by_status || {}).forEach(function (s) {
          storeTotals[s] = (storeTotals[s] || 0) + g.by_status[s];
          storeAll += g.by_status[s];
        });
      });
      var storeList = el('div', { class: 'bars' });
      STORE_STATUSES.forEach(function (s) {
        var n = storeTotals[s] || 0;
        append(storeList, [
          el('a', { href: hrefWith('/hosts', { store_status: s }) }, badge(s)),
          el('div', { class: 'bar' }, n ? el('span', { class: 's-' + s, 'width%': (100 * n / storeAll).toFixed(3) }) : null),
          el('span', { class: 'num', testid: 'storestatus:' + s, text: fmtInt(n) })]);
      });

      var kinds = el('div', { class: 'bars' });
      (sum.by_store_kind || []).forEach(function (g) {
        append(kinds, [
          el('a', { href: hrefWith('/hosts', { store_kind: g.key }), title: g.key }, kindName(g.key)),
          stackBar(g.by_status, g.total, STORE_STATUSES),
          el('span', { class: 'num' },
            el('strong', { testid: 'kind:' + g.key + ':pct', text: fmtPct(g.compliant_pct) }), ' ',
            el('span', { class: 'muted' },
              el('span', { testid: 'kind:' + g.key + ':compliant', text: fmtInt(g.compliant) }), ' / ',
              el('span', { testid: 'kind:' + g.key + ':total', text: fmtInt(g.total) }), ' stores'))]);
      });
      if (!(sum.by_store_kind || []).length) { kinds = el('p', { class: 'empty', text: 'No store reported yet.' }); }

      function groupTable(groups, prefix, label, nameFn, hrefFn) {
        return table([label, { t: 'Hosts', cls: 'num' }, { t: 'Compliant', cls: 'num' }, { t: '%', cls: 'num' }, 'Status'],
          (groups || []).map(function (g) {
            return el('tr', { testid: prefix + ':' + g.key },
              el('td', null, el('a', { href: hrefFn(g.key) }, nameFn(g.key))),
              el('td', { class: 'num', testid: prefix + ':' + g.key + ':total', text: fmtInt(g.total) }),
              el('td', { class: 'num', testid: prefix + ':' + g.key + ':compliant', text: fmtInt(g.compliant) }),
              el('td', { class: 'num', testid: prefix + ':' + g.key + ':pct', text: fmtPct(g.compliant_pct) }),
              el('td', null, stackBar(g.by_status, g.total, HOST_STATUSES)));
          }), 'No host enrolled yet.');
      }

      var hostBar = el('div', { class: 'stack' },
        stackBar(bs, sum.hosts, HOST_STATUSES),
        el('div', { class: 'bars' }, HOST_STATUSES.map(function (s) {
          var n = bs[s] || 0;
          return [el('a', { href: hrefWith('/hosts', { status: s }) }, badge(s)),
            el('span', { class: 'muted', text: sum.hosts ? fmtPct(100 * n / sum.hosts) : '—' }),
            el('span', { class: 'num', testid: 'hoststatus:' + s, text: fmtInt(n) })];
        })));

      clear(main);
      append(main, [
        pageHead('Fleet overview', 'Deployment of the inspection CA across every trust store of every enrolled host.'),
        kpis,
        el('div', { class: 'grid grid-3-1' },
          panel('Compliance trend (hourly, last 30 days)', 'trend-panel', trendChart(trend.points || [])),
          panel('Hosts by status', 'status-panel', hostBar)),
        el('div', { class: 'grid grid-3-1' },
          panel('Compliance by store kind', 'kinds-panel', kinds, legend(STORE_STATUSES)),
          panel('Stores by status', 'storestatus-panel', storeList,
            el('p', { class: 'muted' }, el('span', { testid: 'stores-total', text: fmtInt(storeAll) }), ' stores reported'))),
        el('div', { class: 'grid grid-2' },
          panel('By operating system', 'os-panel', groupTable(sum.by_os, 'os', 'OS', osName, function (k) { return hrefWith('/hosts', { os: k }); })),
          panel('By policy serial', 'serial-panel', groupTable(sum.by_policy_serial, 'serial', 'Serial', function (k) { return k === '0' ? 'none yet' : 'serial ' + k; }, function (k) { return hrefWith('/hosts', { policy_serial: k }); }))),
        ro ? panel('Rollout of the served policy', 'rollout-panel', rolloutView(ro)) : null
      ]);
      setGenerated(sum.generated_at);
    });
  }

  // ROLLOUT: where the active hosts stand on the served serial: on it,
  // on an older one (seen since the upload), silent since the upload.
  var ROLLOUT = [['on', 'on the serial', 's-compliant'], ['older', 'older serial', 's-missing'], ['silent', 'not seen since the upload', 's-pending']];

  function rolloutView(ro) {
    var wrap = el('div', null);
    if (!ro.serial) {
      wrap.appendChild(el('p', { class: 'empty', text: 'No policy uploaded yet.' }));
      return wrap;
    }
    var now = ro.now, total = now.on + now.older + now.silent;
    var bar = el('div', { class: 'bar', role: 'img', 'aria-label': ROLLOUT.map(function (r) { return r[1] + ' ' + now[r[0]]; }).join(', ') });
    ROLLOUT.forEach(function (r) {
      if (now[r[0]] && total) { bar.appendChild(el('span', { class: r[2], 'width%': (100 * now[r[0]] / total).toFixed(3), title: r[1] + ': ' + fmtInt(now[r[0]]) })); }
    });
    append(wrap, [
      el('p', null, 'Serial ', el('strong', { testid: 'rollout-serial', text: String(ro.serial) }), ' uploaded ',
        el('span', { title: new Date(ro.uploaded_at).toString(), text: fmtTimeSec(ro.uploaded_at) }), ' (', ago(ro.uploaded_at), '): ',
        el('strong', { testid: 'rollout-pct', text: total ? fmtPct(100 * now.on / total) : '—' }), ' of active hosts on it.'),
      bar,
      el('div', { class: 'bars' }, ROLLOUT.map(function (r) {
        return [el('span', null, el('i', { class: 'swatch ' + r[2] }), ' ' + r[1]),
          el('span', { class: 'muted', text: total ? fmtPct(100 * now[r[0]] / total) : '—' }),
          el('span', { class: 'num', testid: 'rollout-' + r[0], text: fmtInt(now[r[0]]) })];
      })),
      rolloutChart(ro.points || [], now)]);
    return wrap;
  }

  // rolloutChart draws the share of hosts on the serial (and on older
  // serials) against the time since the upload, from the collector's
  // samples and now.
  function rolloutChart(points, now) {
    var W = 760, H = 200, L = 46, R = 18, T = 14, B = 30;
    var pts = points.concat([now]);
    var tEnd = Math.max(pts[pts.length - 1].seconds, 1);
    function x(t) { return L + (W - L - R) * Math.max(t, 0) / tEnd; }
    function y(p) { return T + (H - T - B) * (1 - p / 100); }
    function pct(p, k) { var n = p.on + p.older + p.silent; return n ? 100 * p[k] / n : 0; }
    var chart = svg('svg', { class: 'chart', viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': 'Share of hosts on the served serial since its upload', testid: 'rollout-chart' });
    [0, 50, 100].forEach(function (p) {
      chart.appendChild(svg('line', { class: 'grid-line', x1: L, x2: W - R, y1: y(p), y2: y(p) }));
      chart.appendChild(svg('text', { class: 'axis-label', x: L - 8, y: y(p) + 4, 'text-anchor': 'end', text: p + '%' }));
    });
    [0, 0.25, 0.5, 0.75, 1].forEach(function (f) {
      var t = f * tEnd;
      chart.appendChild(svg('text', { class: 'axis-label', x: x(t), y: H - 8, 'text-anchor': 'middle', text: fmtSpan(t) }));
    });
    ['on', 'older'].forEach(function (k) {
      var d = '';
      pts.forEach(function (p, i) { d += (i ? 'L' : 'M') + x(p.seconds).toFixed(1) + ' ' + y(pct(p, k)).toFixed(1); });
      chart.appendChild(svg('path', { class: k === 'on' ? 'line' : 'line-hosts', d: d }));
    });
    return el('div', null, chart, el('p', { class: 'muted' }, 'Solid: on the serial; dashed: on an older serial; over the time since the upload (',
      el('span', { testid: 'rollout-points', text: String(points.length) }), ' samples by this collector, and now).'));
  }

  // fmtSpan: seconds as "45 s", "12 min", "3 h".
  function fmtSpan(sec) {
    if (sec < 120) { return Math.round(sec) + ' s'; }
    if (sec < 7200) { return Math.round(sec / 60) + ' min'; }
    return Math.round(sec / 3600) + ' h';
  }

  function trendChart(points) {
    var W = 760, H = 250, L = 46, R = 18, T = 14, B = 30;
    var wrap = el('div', null);
    var caption = el('p', { class: 'muted' });
    if (!points.length) {
      wrap.appendChild(el('p', { class: 'empty', text: 'No snapshot yet: the collector records the fleet at each full hour.' }));
      append(caption, [el('span', { testid: 'trend-points', text: '0' }), ' hourly snapshots']);
      wrap.appendChild(caption);
      return wrap;
    }
    var t0 = new Date(points[0].time).getTime();
    var t1 = new Date(points[points.length - 1].time).getTime();
    var span = Math.max(t1 - t0, 3600000);
    function x(t) { return points.length === 1 ? L + (W - L - R) / 2 : L + (W - L - R) * (t - t0) / span; }
    function y(p) { return T + (H - T - B) * (1 - p / 100); }
    var chart = svg('svg', { class: 'chart', viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': 'Share of compliant hosts per hour', testid: 'trend-chart' });
    [0, 25, 50, 75, 100].forEach(function (p) {
      chart.appendChild(svg('line', { class: 'grid-line', x1: L, x2: W - R, y1: y(p), y2: y(p) }));
      chart.appendChild(svg('text', { class: 'axis-label', x: L - 8, y: y(p) + 4, 'text-anchor': 'end', text: p + '%' }));
    });
    // Ticks: local midnights over several days, else every few hours.
    var ticks = [], day = 86400000, hour = 3600000;
    if (span > 2 * day) {
      var d0 = new Date(t0); d0.setHours(24, 0, 0, 0);
      var step = Math.max(1, Math.ceil(span / day / 8));
      for (var d = d0.getTime(); d <= t1; ) {
        ticks.push([d, pad(new Date(d).getMonth() + 1) + '-' + pad(new Date(d).getDate())]);
        var nd = new Date(d); nd.setDate(nd.getDate() + step); d = nd.getTime();
      }
    } else {
      var every = [1, 2, 3, 4, 6, 12].filter(function (k) { return span / (k * hour) <= 8; })[0] || 12;
      var h0 = new Date(t0); h0.setMinutes(0, 0, 0);
      for (var h = h0.getTime(); h <= t1; h += hour) {
        if (h >= t0 && new Date(h).getHours() % every === 0) { ticks.push([h, pad(new Date(h).getHours()) + ':00']); }
      }
    }
    if (!ticks.length) { ticks.push([t0, fmtTime(points[0].time)]); }
    ticks.forEach(function (tk) {
      chart.appendChild(svg('line', { class: 'grid-line tick', x1: x(tk[0]), x2: x(tk[0]), y1: H - B, y2: H - B + 4 }));
      chart.appendChild(svg('text', { class: 'axis-label', x: x(tk[0]), y: H - 8, 'text-anchor': 'middle', text: tk[1] }));
    });
    var line = '', area = '';
    points.forEach(function (p, i) {
      var px = x(new Date(p.time).getTime()).toFixed(1), py = y(p.compliant_pct).toFixed(1);
      line += (i ? 'L' : 'M') + px + ' ' + py;
    });
    area = line + 'L' + x(t1).toFixed(1) + ' ' + y(0) + 'L' + x(t0).toFixed(1) + ' ' + y(0) + 'Z';
    chart.appendChild(svg('path', { class: 'area', d: area }));
    chart.appendChild(svg('path', { class: 'line', d: line }));
    if (points.length <= 240) {
      points.forEach(function (p) {
        var when = p.current ? 'now' : fmtTime(p.time);
        chart.appendChild(svg('circle', { class: p.current ? 'pt now' : 'pt', cx: x(new Date(p.time).getTime()).toFixed(1), cy: y(p.compliant_pct).toFixed(1),
          r: p.current ? 4 : points.length > 80 ? 2 : 3, 'data-testid': p.current ? 'trend-now' : 'trend-pt' },
          svg('title', { text: when + ' — ' + fmtPct(p.compliant_pct) + ' compliant (' + p.compliant + ' of ' + p.hosts + ' hosts)' })));
      });
    }
    // The last point is the fleet now (the cards above); the others are
    // the fleet at each full hour.
    var last = points[points.length - 1];
    append(caption, [el('span', { testid: 'trend-points', text: String(points.length) }), ' points (the fleet at each full hour, and now); now ',
      el('strong', { testid: 'trend-last-pct', text: fmtPct(last.compliant_pct) }), ' compliant (',
      el('span', { testid: 'trend-last-compliant', text: fmtInt(last.compliant) }), ' of ',
      el('span', { testid: 'trend-last-hosts', text: fmtInt(last.hosts) }), ' hosts), as of ', fmtTime(last.time), '.']);
    append(wrap, [chart, caption]);
    return wrap;
  }

  // Hosts: the API's filters, plus "seen" (a relative last-seen window the
  // page turns into seen_after or offline_after) and "page" (display only).
  var HOST_API_PARAMS = ['status', 'os', 'hostname', 'store_kind', 'store_status', 'policy_serial', 'seen_after', 'seen_before', 'offline_after', 'cursor', 'limit', 'flagged'];
  // Lifecycle: active hosts (the default), the stale ones among them,
  // retired hosts (in no compliance figure), or all.
  var LIFECYCLE = [['', 'Active'], ['stale', 'Stale'], ['retired', 'Retired'], ['all', 'All, retired too']];
  var LIFECYCLE_PARAMS = { stale: { stale: 'true' }, retired: { retired: 'true' }, all: { retired: 'all' } };
  var SEEN = [['', 'Any time'], ['1h', 'Seen in the last hour'], ['24h', 'Seen in the last 24 h'], ['7d', 'Seen in the last 7 days'],
    ['off24h', 'Not seen for 24 h'], ['off7d', 'Not seen for 7 days'], ['off30d', 'Not seen for 30 days']];
  var SEEN_MS = { '1h': 3600000, '24h': 86400000, '7d': 7 * 86400000 };

  function hostsApiParams(q) {
    var p = {};
    HOST_API_PARAMS.forEach(function (k) { if (q.get(k)) { p[k] = q.get(k); } });
    var seen = q.get('seen') || '';
    if (SEEN_MS[seen]) { p.seen_after = new Date(Date.now() - SEEN_MS[seen]).toISOString().replace(/\.\d+Z$/, 'Z'); }
    if (seen.indexOf('off') === 0) { p.offline_after = seen.slice(3); }
    Object.assign(p, LIFECYCLE_PARAMS[q.get('lifecycle')] || {});
    if (!p.limit) { p.limit = '25'; }
    return p;
  }

  function select(name, label, options, value) {
    var s = el('select', { name: name, id: 'f-' + name });
    options.forEach(function (o) {
      var opt = el('option', { value: o[0], text: o[1] });
      if (String(o[0]) === String(value || '')) { opt.selected = true; }
      s.appendChild(opt);
    });
    return el('label', { for: 'f-' + name }, label, s);
  }

  function hosts() {
    var q = query();
    var params = hostsApiParams(q);
    return Promise.all([api('/api/v1/summary'), api('/api/v1/hosts', params)]).then(function (res) {
      var sum = res[0], list = res[1];
      var rows = (list.hosts || []).map(function (h) {
        var k = 'host:' + h.id;
        return el('tr', { testid: k },
          el('td', null, el('a', { href: '/hosts/' + h.id, testid: k + ':hostname', class: 'wrap-anywhere', text: h.hostname || '(no hostname)' }),
            h.conflict_of ? [' ', el('span', { class: 'badge b-bad', testid: k + ':flagged', title: h.conflict, text: 'flagged' })] : null,
            h.stale ? [' ', el('span', { class: 'badge b-warn', testid: k + ':stale', text: 'stale' })] : null,
            isZeroTime(h.retired_at) ? null : [' ', el('span', { class: 'badge b-neutral', testid: k + ':retired', title: 'retired ' + fmtTime(h.retired_at), text: 'retired' })],
            el('div', { class: 'sub mono', text: h.machine_id })),
          el('td', null, badge(h.status, k + ':status')),
          el('td', null, osName(h.os), el('div', { class: 'sub', text: [h.os_version, h.arch].filter(Boolean).join(' · ') })),
          el('td', { class: 'num', testid: k + ':stores', text: h.stores_compliant + ' / ' + h.stores_total }),
          el('td', { class: 'num', testid: k + ':unknown', text: fmtInt(h.unknown_roots) }),
          el('td', { class: 'num', testid: k + ':blocked', text: fmtInt(h.blocked_roots) }),
          el('td', { class: 'num', testid: k + ':serial', text: String(h.policy_serial) }),
          el('td', { text: h.agent_version }),
          el('td', { testid: k + ':seen' }, timeCell(h.last_seen)));
      });
      var keys = function (groups, nameFn) { return [['', 'All']].concat((groups || []).map(function (g) { return [g.key, nameFn(g.key)]; })); };
      var form = el('form', { class: 'filters panel', method: 'get', action: '/hosts', testid: 'host-filters' },
        el('label', { for: 'f-hostname' }, 'Hostname contains', el('input', { type: 'search', name: 'hostname', id: 'f-hostname', value: q.get('hostname') || '', placeholder: 'e.g. ws-0', maxlength: 255 })),
        select('status', 'Host status', [['', 'All']].concat(HOST_STATUSES.map(function (s) { return [s, s]; })), q.get('status')),
        select('store_kind', 'Store kind', keys(sum.by_store_kind, kindName), q.get('store_kind')),
        select('store_status', 'Store status', [['', 'Any']].concat(STORE_STATUSES.map(function (s) { return [s, s]; })), q.get('store_status')),
        select('os', 'OS', keys(sum.by_os, osName), q.get('os')),
        select('policy_serial', 'Policy serial', keys(sum.by_policy_serial, String), q.get('policy_serial')),
        select('seen', 'Last seen', SEEN, q.get('seen')),
        select('lifecycle', 'Lifecycle', LIFECYCLE, q.get('lifecycle')),
        select('limit', 'Per page', [['25', '25'], ['50', '50'], ['100', '100']], q.get('limit') || '25'),
        q.get('offline_after') ? el('input', { type: 'hidden', name: 'offline_after', value: q.get('offline_after') }) : null,
        el('button', { type: 'submit', class: 'btn btn-primary' }, 'Apply'),
        el('a', { class: 'btn', href: '/hosts' }, 'Reset'));

      var page = Math.max(1, parseInt(q.get('page') || '1', 10) || 1);
      var limit = parseInt(params.limit, 10);
      var first = (page - 1) * limit + 1;
      var n = (list.hosts || []).length;
      var nextQ = {};
      q.forEach(function (v, k) { nextQ[k] = v; });
      var firstQ = Object.assign({}, nextQ);
      delete firstQ.cursor; delete firstQ.page;
      nextQ.cursor = list.next_cursor; nextQ.page = page + 1;
      var csvParams = Object.assign({}, params);
      delete csvParams.cursor; delete csvParams.limit;

      var pager = el('div', { class: 'pager' },
        el('span', { class: 'muted' }, n ? ['Hosts ', el('span', { testid: 'hosts-range', text: first + '–' + (first + n - 1) }),
          list.next_cursor ? '' : ' (last page)'] : el('span', { testid: 'hosts-range', text: '0' }),
          ' · ', el('span', { testid: 'hosts-count', text: String(n) }), ' on this page'),
        el('div', { class: 'btns' },
          el('a', { class: 'btn' + (page > 1 || q.get('cursor') ? '' : ' disabled'), href: hrefWith('/hosts', firstQ), testid: 'first-page' }, '« First'),
          el('a', { class: 'btn' + (list.next_cursor ? '' : ' disabled'), href: list.next_cursor ? hrefWith('/hosts', nextQ) : null, testid: 'next-page' }, 'Next »')));

      var deleted = /^\d+$/.test(q.get('deleted') || '') ? q.get('deleted') : '';
      clear(main);
      append(main, [
        deleted ? el('p', { class: 'notice', testid: 'host-deleted' }, 'Host ' + deleted + ' was deleted with its history.') : null,
        pageHead('Hosts', 'Every enrolled host, its compliance and when it last reported.',
          el('a', { class: 'btn', href: hrefWith('/api/v1/hosts.csv', csvParams), download: 'anchorwatch-hosts.csv', testid: 'csv-link' }, 'Export CSV')),
        form,
        panel(null, 'hosts-panel',
          table(['Host', 'Status', 'OS', { t: 'Stores OK', cls: 'num' }, { t: 'Unknown roots', cls: 'num' }, { t: 'Blocked', cls: 'num' },
            { t: 'Serial', cls: 'num' }, 'Agent', 'Last seen'], rows, 'No host matches these filters.'),
          pager)
      ]);
      setGenerated(sum.generated_at);
    });
  }

  function hostDetail(id) {
    return api('/api/v1/hosts/' + id, { events: 200 }).then(function (h) {
      document.title = h.hostname + ' · ' + document.title;
      var stores = (h.stores || []).map(function (s) {
        var k = 'store:' + s.id;
        return el('tr', { testid: k },
          el('td', { text: kindName(s.kind) }),
          el('td', { class: 'mono wrap-anywhere', text: s.path }),
          el('td', { text: s.format || '' }),
          el('td', { text: s.owner || '' }),
          el('td', null, badge(s.status, k + ':status')),
          el('td', { class: 'wrap-anywhere', text: s.detail || '' }));
      });
      var roots = (h.roots || []).map(function (r) {
        return el('tr', { testid: 'hroot:' + r.sha256 },
          el('td', { class: 'wrap-anywhere', text: r.subject }),
          el('td', null, badge(r.class)),
          el('td', { text: fmtDate(r.not_after) }),
          el('td', { class: 'wrap-anywhere', text: r.reason || '' }),
          el('td', { class: 'num', text: String((r.store_ids || []).length) }),
          el('td', { class: 'mono', title: r.sha256, text: shortHash(r.sha256) }));
      });
      var cas = (h.cas || []).map(function (c) {
        var d = daysLeft(c.not_after);
        return el('tr', { testid: 'hca:' + c.sha256 },
          el('td', { class: 'wrap-anywhere', text: c.subject }),
          el('td', { text: fmtDate(c.not_after) }),
          el('td', null, el('span', { class: 'badge ' + (d < 0 ? 'b-expired' : d < 30 ? 'b-bad' : d < 90 ? 'b-warn' : 'b-ok'), text: d < 0 ? 'expired' : d + ' days' })),
          el('td', { class: 'mono', title: c.sha256, text: shortHash(c.sha256) }));
      });
      var addrs = (h.addresses || []).map(function (a) {
        return el('tr', { testid: 'addr:' + (a.ip || a.mac) },
          el('td', { class: 'mono', text: a.ip || a.mac }), el('td', { text: a.ip ? 'IP' : 'MAC' }),
          el('td', null, timeCell(a.first_seen)), el('td', null, timeCell(a.last_seen)));
      });
      var events = (h.events || []).map(function (e) {
        return el('tr', { testid: 'event:' + e.seq },
          el('td', { class: 'nowrap', testid: 'event:' + e.seq + ':time', text: fmtTimeSec(e.time) }), el('td', null, badge(e.type, 'event:' + e.seq + ':type')),
          el('td', { class: 'mono wrap-anywhere', text: e.store_id || '' }), el('td', { class: 'wrap-anywhere', text: e.detail || '' }));
      });
      function fact(label, value, testid) { return [el('dt', { text: label }), el('dd', { testid: testid }, value)]; }
      clear(main);
      append(main, [
        el('div', { class: 'crumbs' }, el('a', { href: '/hosts', text: 'Hosts' }), ' / ', h.hostname),
        pageHead(h.hostname || '(no hostname)', null, badge(h.status, 'host-status')),
        // A machine id enrolled again without its host key: say so first.
        h.conflict_of ? el('p', { class: 'alert', role: 'alert', testid: 'host-conflict' }, 'Flagged: ' + h.conflict + ' ',
          el('a', { href: '/hosts/' + h.conflict_of, text: 'Host ' + h.conflict_of + ' »' })) : null,
        isZeroTime(h.retired_at) ? null : el('p', { class: 'notice', testid: 'host-retired' },
          'Retired ' + fmtTimeSec(h.retired_at) + ': this host is in no compliance figure. It is active again when it reports.'),
        h.stale ? el('p', { class: 'notice', testid: 'host-stale' }, 'Stale: not seen since ' + fmtTimeSec(h.last_seen) + '.') : null,
        me.role === 'admin' ? hostActions(h) : null,
        panel('Host', 'host-facts', el('dl', { class: 'facts' },
          fact('Operating system', osName(h.os) + (h.os_version ? ' — ' + h.os_version : ''), 'host-os'),
          fact('Architecture', h.arch || '—'),
          fact('Agent version', h.agent_version || '—'),
          fact('Machine id', el('span', { class: 'mono', text: h.machine_id })),
          fact('Host key', h.key_bound ? 'bound (re-enrollment needs it)' : 'none (enrolled before host keys)', 'host-key'),
          fact('Stores compliant', h.stores_compliant + ' / ' + h.stores_total, 'host-stores'),
          fact('Unknown / blocked roots', h.unknown_roots + ' / ' + h.blocked_roots, 'host-roots'),
          fact('Policy serial', String(h.policy_serial), 'host-serial'),
          fact('Enrolled', fmtTime(h.enrolled_at)),
          fact('Last seen', [fmtTime(h.last_seen), ' (', ago(h.last_seen), ')']),
          fact('Last full report', fmtTime(h.last_report_at)))),
        el('div', { class: 'stack' },
          panel('Trust stores (' + stores.length + ')', 'stores-panel',
            table(['Kind', 'Location', 'Format', 'Owner', 'Status', 'Detail'], stores, 'No store reported yet.')),
          panel('Unknown and blocked roots (' + roots.length + ')', 'roots-panel',
            table(['Subject', 'Class', 'Expires', 'Reason', { t: 'Stores', cls: 'num' }, 'SHA-256'], roots, 'No unexpected root on this host.')),
          el('div', { class: 'grid grid-2' },
            panel('Policy CAs held', 'cas-panel', table(['Subject', 'Expires', 'Left', 'SHA-256'], cas, 'No policy CA reported.')),
            panel('Addresses', 'addrs-panel', table(['Address', 'Kind', 'First seen', 'Last seen'], addrs, 'No address reported.'))),
          panel(null, 'events-panel',
            el('div', { class: 'page-head' }, el('h2', { text: 'Latest events (' + events.length + ')' }),
              el('a', { href: hrefWith('/events', { host_id: h.id, since: '30d' }) }, 'All events of this host »')),
            table(['Time', 'Type', 'Store', 'Detail'], events, 'No event from this host.')))
      ]);
    });
  }

  // hostActions: an admin retires a host (it leaves every figure, keeps
  // its history, comes back when it reports), deletes it with its history
  // (a clone, an impostor), or merges a flagged one. Each asks once more
  // before it is sent.
  function hostActions(h) {
    var status = el('span', { class: 'muted', testid: 'host-action-status' });
    function action(label, testid, question, method, path, then) {
      var confirm = el('button', { type: 'button', class: 'btn btn-danger', testid: testid + '-confirm', hidden: true }, question);
      var start = el('button', { type: 'button', class: 'btn', testid: testid }, label);
      start.addEventListener('click', function () { start.hidden = true; confirm.hidden = false; });
      confirm.addEventListener('click', function () {
        confirm.disabled = true;
        status.textContent = 'Working…';
        send(method, path).then(then, function (err) {
          if (err instanceof Stop) { return; }
          status.textContent = err.message;
          confirm.disabled = false;
        });
      });
      return [start, confirm];
    }
    var base = '/api/v1/hosts/' + h.id;
    return el('div', { class: 'actions', testid: 'host-actions' },
      isZeroTime(h.retired_at) ? action('Retire…', 'host-retire', 'Retire ' + h.hostname + ': leave every figure, keep its history', 'POST', base + '/retire',
        function () { location.reload(); }) : null,
      h.conflict_of ? action('Merge…', 'host-merge', 'Merge into host ' + h.conflict_of + ' (a re-imaged machine)', 'POST', base + '/merge',
        function (r) { location.href = '/hosts/' + r.merged_into; }) : null,
      action('Delete…', 'host-delete', 'Delete ' + h.hostname + ' and its history for good', 'DELETE', base,
        function () { location.href = '/hosts?deleted=' + h.id; }),
      status);
  }

  // The events window: one of these, or whatever the API takes (a
  // duration such as 90m or 2d, RFC 3339, Unix seconds).
  var SINCE = [['1h', 'Last hour'], ['24h', 'Last 24 h'], ['7d', 'Last 7 days'], ['30d', 'Last 30 days'], ['365d', 'Last year']];

  function events() {
    var q = query();
    var since = q.get('since') || '7d';
    var sinceOpts = SINCE.some(function (o) { return o[0] === since; }) ? SINCE : SINCE.concat([[since, 'Since ' + since]]);
    var params = { since: since, type: q.get('type') || '', host_id: q.get('host_id') || '', cursor: q.get('cursor') || '', limit: 50 };
    return api('/api/v1/events', params).then(function (list) {
      var rows = (list.events || []).map(function (e) {
        var k = 'event:' + e.seq;
        return el('tr', { testid: k },
          el('td', { class: 'nowrap', testid: k + ':time', title: 'received ' + fmtTimeSec(e.received_at), text: fmtTimeSec(e.time) }),
          el('td', { class: 'nowrap' }, el('a', { href: '/hosts/' + e.host_id, testid: k + ':host', text: e.hostname })),
          el('td', null, badge(e.type, k + ':type')),
          el('td', { class: 'mono wrap-anywhere', text: e.store_id || '' }),
          el('td', { class: 'wrap-anywhere', text: e.detail || '' }));
      });
      var nextQ = {};
      q.forEach(function (v, k) { nextQ[k] = v; });
      nextQ.since = since; nextQ.cursor = list.next_cursor;
      var form = el('form', { class: 'filters panel', method: 'get', action: '/events' },
        select('since', 'Window', sinceOpts, since),
        select('type', 'Type', [['', 'All']].concat(EVENT_TYPES.map(function (t) { return [t, t]; })), q.get('type')),
        q.get('host_id') ? el('input', { type: 'hidden', name: 'host_id', value: q.get('host_id') }) : null,
        el('button', { type: 'submit', class: 'btn btn-primary' }, 'Apply'),
        el('a', { class: 'btn', href: '/events' }, 'Reset'));
      clear(main);
      append(main, [
        pageHead('Events', 'Drift and policy events reported by agents, newest first; times to the second in your time zone' +
          (q.get('host_id') ? ' (one host)' : '') + '.'),
        form,
        panel(null, 'events-panel', table(['Time', 'Host', 'Type', 'Store', 'Detail'], rows, 'No event in this window.'),
          el('div', { class: 'pager' },
            el('span', { class: 'muted' }, el('span', { testid: 'events-count', text: String(rows.length) }), ' events on this page'),
            el('div', { class: 'btns' },
              el('a', { class: 'btn' + (q.get('cursor') ? '' : ' disabled'), href: hrefWith('/events', { since: since, type: q.get('type'), host_id: q.get('host_id') }) }, '« First'),
              el('a', { class: 'btn' + (list.next_cursor ? '' : ' disabled'), href: list.next_cursor ? hrefWith('/events', nextQ) : null, testid: 'next-page' }, 'Next »'))))
      ]);
    });
  }

  function roots() {
    var q = query();
    var cls = q.get('class') === 'unknown' || q.get('class') === 'blocked' ? q.get('class') : '';
    return api('/api/v1/roots', { class: cls, limit: 1000 }).then(function (list) {
      var rows = (list.roots || []).map(function (r) {
        var k = 'root:' + r.sha256;
        return el('tr', { testid: k },
          el('td', { class: 'wrap-anywhere' }, el('div', { text: r.subject }), r.issuer && r.issuer !== r.subject ? el('div', { class: 'sub', text: 'issued by ' + r.issuer }) : null),
          el('td', null, badge(r.class, k + ':class')),
          el('td', { text: fmtDate(r.not_after) }),
          el('td', { class: 'num', testid: k + ':hosts', text: fmtInt(r.hosts) }),
          el('td', { class: 'mono', title: r.sha256, text: shortHash(r.sha256) }));
      });
      function tab(v, label) { return el('a', { href: hrefWith('/roots', { class: v }), class: cls === v ? 'active' : '' }, label); }
      clear(main);
      append(main, [
        pageHead('Unknown and blocked roots', 'Trust anchors found on hosts that are neither the vendor\u2019s nor the policy\u2019s, most widespread first. A blocked root is on the policy\u2019s blocklist (Superfish, eDellRoot, …).'),
        el('nav', { class: 'tabs' }, tab('', 'All'), tab('unknown', 'Unknown'), tab('blocked', 'Blocked')),
        panel(null, 'roots-panel', table(['Subject', 'Class', 'Expires', { t: 'Hosts', cls: 'num' }, 'SHA-256'], rows, 'No unexpected root seen on any host.'),
          el('p', { class: 'muted' }, el('span', { testid: 'roots-count', text: String(rows.length) }), ' roots'))
      ]);
    });
  }

  function cas() {
    return api('/api/v1/cas').then(function (list) {
      var rows = (list.cas || []).map(function (c) {
        var k = 'ca:' + c.sha256, d = daysLeft(c.not_after);
        return el('tr', { testid: k },
          el('td', { class: 'wrap-anywhere', text: c.subject }),
          el('td', { testid: k + ':notafter', text: fmtDate(c.not_after) }),
          el('td', null, el('span', { class: 'badge ' + (d < 0 ? 'b-expired' : d < 30 ? 'b-bad' : d < 90 ? 'b-warn' : 'b-ok'), testid: k + ':days', text: d < 0 ? 'expired' : d + ' days' })),
          el('td', { class: 'num', testid: k + ':hosts', text: fmtInt(c.hosts) }),
          el('td', { class: 'mono', title: c.sha256, text: shortHash(c.sha256) }));
      });
      clear(main);
      append(main, [
        pageHead('CA expiry', 'The policy\u2019s CAs as hosts hold them, soonest expiry first. Rotate a CA well before it expires: publish the successor in the policy, then remove the old one.'),
        panel(null, 'cas-panel', table(['Subject', 'Expires', 'Left', { t: 'Hosts', cls: 'num' }, 'SHA-256'], rows, 'No host reported a policy CA yet.'),
          el('p', { class: 'muted' }, el('span', { testid: 'cas-count', text: String(rows.length) }), ' CAs'))
      ]);
    });
  }

  // Unmanaged devices: devices seen on the network (proxy, DHCP, CSV
  // evidence) that no enrolled agent accounts for. The API's filters live
  // in the page URL; exempt devices are listed with their exemption, and a
  // device that refused the interception certificate shows that evidence.
  var DEVICE_API_PARAMS = ['status', 'subnet', 'source', 'since', 'rejects_ca', 'cursor', 'limit'];
  var DEVICE_STATUSES = [['', 'Unmanaged and exempt'], ['unmanaged', 'Unmanaged'], ['exempt', 'Exempt'], ['managed', 'Managed'], ['all', 'All']];
  var DEVICE_SOURCES = [['', 'Any'], ['squid-access', 'Squid access.log'], ['squid-cache', 'Squid cache.log'], ['dhcpd', 'ISC dhcpd'],
    ['kea', 'Kea'], ['dnsmasq', 'dnsmasq'], ['csv', 'CSV']];
  var DEVICE_SINCE = [['', 'Any time'], ['1h', 'In the last hour'], ['24h', 'In the last 24 h'], ['7d', 'In the last 7 days'], ['30d', 'In the last 30 days']];
  var DEVICE_BADGE = { unmanaged: 'b-bad', exempt: 'b-neutral', managed: 'b-ok' };
  // Failed TLS handshakes with the proxy other than a refused certificate
  // (that one is the 'refused the CA' badge): they do not show a missing CA.
  var TLS_FAILURE = { protocol: 'old TLS or cipher', timeout: 'handshake not completed', unknown: 'TLS failed, reason not logged' };

  function devicesApiParams(q) {
    var p = {};
    DEVICE_API_PARAMS.forEach(function (k) { if (q.get(k)) { p[k] = q.get(k); } });
    if (!p.limit) { p.limit = '50'; }
    return p;
  }

  function deviceRow(d) {
    var k = 'device:' + d.key;
    var status = [el('span', { class: 'badge ' + (DEVICE_BADGE[d.status] || 'b-neutral'), testid: k + ':status', text: d.status })];
    if (d.exemption) {
      var ex = d.exemption;
      status.push(el('div', { class: 'sub', testid: k + ':exemption' },
        ex.kind + ' ' + ex.value + ': ' + ex.reason + (ex.source === 'policy' ? ' (policy)' : '') +
        (isZeroTime(ex.expires_at) ? '' : ', until ' + fmtTime(ex.expires_at))));
    }
    if (d.managed_by) {
      status.push(el('div', { class: 'sub' }, el('a', { href: '/hosts/' + d.managed_by, testid: k + ':host' }, 'host ' + d.managed_by), ' by ' + d.managed_match));
    }
    var ev = (d.evidence || []).map(function (e) {
      return el('div', { class: 'sub wrap-anywhere' }, el('strong', { text: e.source }), ': ', e.text, ' — ', fmtInt(e.count), '×, last ', fmtTime(e.last_seen));
    });
    var tls = (d.tls_failures || []).filter(function (f) { return f !== 'certificate'; }).map(function (f) {
      return el('span', { class: 'badge b-neutral', testid: k + ':tls-' + f, text: TLS_FAILURE[f] || f });
    });
    return el('tr', { testid: k },
      el('td', null, el('div', { class: 'mono wrap-anywhere', testid: k + ':ips', text: (d.ips || []).join(', ') || '—' }),
        el('div', { class: 'sub mono', testid: k + ':macs', text: (d.macs || []).join(', ') })),
      el('td', { class: 'wrap-anywhere', testid: k + ':hostnames', text: (d.hostnames || []).join(', ') }),
      el('td', null, status),
      el('td', { testid: k + ':evidence' }, d.rejects_ca ? el('span', { class: 'badge b-bad', testid: k + ':rejects', text: 'refused the CA' }) : null, tls, ev),
      el('td', { text: (d.sources || []).join(', ') }),
      el('td', { class: 'num', testid: k + ':sightings', text: fmtInt(d.sightings) }),
      el('td', null, timeCell(d.first_seen)),
      el('td', { testid: k + ':seen' }, timeCell(d.last_seen)));
  }

  function devices() {
    var q = query();
    var params = devicesApiParams(q);
    return Promise.all([api('/api/v1/devices/summary'), api('/api/v1/devices', params)]).then(function (res) {
      var sum = res[0], list = res[1];
      var rows = (list.devices || []).map(deviceRow);
      var kpis = el('div', { class: 'kpis' },
        kpi('Unmanaged', sum.unmanaged, 'devices-kpi-unmanaged', 'bad', 'no agent accounts for them', hrefWith('/devices', { status: 'unmanaged' })),
        kpi('Refused the CA', sum.unmanaged_rejecting_ca, 'devices-kpi-rejecting', 'bad', 'unmanaged, TLS rejected', hrefWith('/devices', { status: 'unmanaged', rejects_ca: 'true' })),
        kpi('Exempt', sum.exempt, 'devices-kpi-exempt', 'grey', 'servers, guests, printers…', hrefWith('/devices', { status: 'exempt' })),
        kpi('Managed', sum.managed, 'devices-kpi-managed', 'ok', 'matched to an enrolled host', hrefWith('/devices', { status: 'managed' })));
      var rejects = el('input', { type: 'checkbox', name: 'rejects_ca', id: 'f-rejects_ca', value: 'true' });
      if (q.get('rejects_ca') === 'true') { rejects.checked = true; }
      var form = el('form', { class: 'filters panel', method: 'get', action: '/devices', testid: 'device-filters' },
        select('status', 'Status', DEVICE_STATUSES, q.get('status')),
        el('label', { for: 'f-subnet' }, 'Subnet', el('input', { type: 'search', name: 'subnet', id: 'f-subnet', value: q.get('subnet') || '', placeholder: 'e.g. 10.20.0.0/16', maxlength: 64 })),
        select('source', 'Source', DEVICE_SOURCES, q.get('source')),
        select('since', 'Last seen', DEVICE_SINCE, q.get('since')),
        el('label', { for: 'f-rejects_ca' }, 'Refused the CA', rejects),
        select('limit', 'Per page', [['25', '25'], ['50', '50'], ['100', '100']], params.limit),
        el('button', { type: 'submit', class: 'btn btn-primary' }, 'Apply'),
        el('a', { class: 'btn', href: '/devices' }, 'Reset'));

      var nextQ = {};
      q.forEach(function (v, key) { nextQ[key] = v; });
      var firstQ = Object.assign({}, nextQ);
      delete firstQ.cursor;
      nextQ.cursor = list.next_cursor;
      var csvParams = Object.assign({}, params, { format: 'csv' });
      delete csvParams.cursor; delete csvParams.limit;
      var pager = el('div', { class: 'pager' },
        el('span', { class: 'muted' }, el('span', { testid: 'devices-count', text: String(rows.length) }), ' on this page of ',
          el('span', { testid: 'devices-total', text: fmtInt(list.total) }), ' devices'),
        el('div', { class: 'btns' },
          el('a', { class: 'btn' + (q.get('cursor') ? '' : ' disabled'), href: hrefWith('/devices', firstQ), testid: 'devices-first-page' }, '« First'),
          el('a', { class: 'btn' + (list.next_cursor ? '' : ' disabled'), href: list.next_cursor ? hrefWith('/devices', nextQ) : null, testid: 'devices-next-page' }, 'Next »')));
      clear(main);
      append(main, [pageHead('Unmanaged devices', 'Devices seen on the network (proxy, DHCP and CSV evidence) that no enrolled agent accounts for. Exempt devices stay listed, with the reason.',
        el('a', { class: 'btn', href: hrefWith('/api/v1/devices', csvParams), download: 'anchorwatch-devices.csv', testid: 'devices-csv-link' }, 'Export CSV')),
        kpis, form,
        panel(null, 'devices-panel', table(['Device (IP, MAC)', 'Hostname', 'Status', 'Evidence', 'Sources', { t: 'Sightings', cls: 'num' }, 'First seen', 'Last seen'],
          rows, 'No device matches these filters.'), pager)]);
      setGenerated(sum.generated_at);
    }, function (err) {
      if (err instanceof Stop || (err.status !== 404 && err.status !== 405)) { throw err; }
      clear(main);
      append(main, [pageHead('Unmanaged devices', null),
        el('div', { class: 'notice', testid: 'devices-unavailable' },
          'This collector does not serve the unmanaged-device view. Ingest network evidence with ',
          el('code', { text: 'anchorwatch collector ingest' }), ' (docs/unmanaged.md).')]);
    });
  }

  // PKI health: the collector's checks of every CA of the policy (lint,
  // CRLs, OCSP) and, from the agents, which subnets cannot reach each
  // CRL distribution point and OCSP responder (docs/pki-health.md).
  var PKI_BADGE = { error: 'b-bad', warn: 'b-warn', info: 'b-ok', '': 'b-ok' };

  function inHours(t) {
    var h = (new Date(t).getTime() - Date.now()) / 3600000;
    if (h < 0) { return 'lapsed ' + Math.round(-h) + ' h ago'; }
    return h < 48 ? 'next update in ' + Math.round(h) + ' h' : 'next update in ' + Math.round(h / 24) + ' days';
  }

  function worstOf(findings) {
    var rank = { error: 3, warn: 2, info: 1 }, w = '';
    (findings || []).forEach(function (f) { if ((rank[f.severity] || 0) > (rank[w] || 0)) { w = f.severity; } });
    return w;
  }

  function pkiRow(c) {
    var k = 'pki:' + c.ca.sha256, worst = worstOf(c.findings);
    var bad = (c.findings || []).filter(function (f) { return f.severity === 'error' || f.severity === 'warn'; });
    return el('tr', { testid: k },
      el('td', { class: 'wrap-anywhere' }, el('div', { text: c.ca.subject }), el('div', { class: 'sub', text: c.role + ' CA' })),
      el('td', null, el('span', { class: 'badge ' + PKI_BADGE[worst], testid: k + ':status', text: worst === 'info' || !worst ? 'ok' : worst })),
      el('td', { class: 'num', testid: k + ':days', text: String(c.ca.days_left) }),
      el('td', { testid: k + ':crl' }, (c.crls || []).map(function (r) {
        return el('div', { class: 'sub wrap-anywhere' }, el('strong', { text: r.ok ? 'ok' : 'failing' }), ' ', r.url, ' — ',
          r.error || (isZeroTime(r.next_update) ? 'no next update' : inHours(r.next_update)));
      })),
      el('td', { testid: k + ':ocsp' }, (c.ocsp || []).map(function (o) {
        return el('div', { class: 'sub wrap-anywhere' }, el('strong', { text: o.status }), ' ', o.url);
      })),
      el('td', { testid: k + ':findings' }, bad.map(function (f) {
        return el('div', { class: 'sub' }, el('strong', { text: f.severity + ' ' + f.check }), ': ', f.message);
      })),
      el('td', null, timeCell(c.checked_at)));
  }

  function reachRow(e) {
    var k = 'reach:' + e.kind + ':' + e.url;
    return el('tr', { testid: k },
      el('td', { text: e.kind === 'crl' ? 'CRL' : 'OCSP' }),
      el('td', { class: 'mono wrap-anywhere', text: e.url }),
      el('td', { class: 'num', testid: k + ':hosts', text: fmtInt(e.hosts) }),
      el('td', { class: 'num', testid: k + ':failing' }, e.failing ? el('span', { class: 'badge b-bad', text: fmtInt(e.failing) }) : '0'),
      el('td', { testid: k + ':subnets' }, (e.subnets || []).map(function (n) {
        return el('div', { class: 'sub', testid: k + ':subnet:' + n.subnet }, el('strong', { class: 'mono', text: n.subnet }), ' ',
          fmtInt(n.failing) + ' of ' + fmtInt(n.hosts) + ' hosts: ' + n.detail);
      })));
  }

  function pkiHealth() {
    return Promise.all([api('/api/v1/pki'), api('/api/v1/pki/reach')]).then(function (res) {
      var checks = res[0].checks || [], eps = res[1].endpoints || [];
      var failingCAs = checks.filter(function (c) { var w = worstOf(c.findings); return w === 'error' || w === 'warn'; }).length;
      var failingEps = eps.filter(function (e) { return e.failing > 0; }).length;
      clear(main);
      append(main, [
        pageHead('PKI health', 'The collector checks every CA of the policy: the lint of the certificate, the CRL each distribution point serves, and the OCSP answer about it. Agents report whether they can fetch each CDP and reach each OCSP responder: a subnet that cannot is where clients will refuse the proxy\u2019s certificates.'),
        el('div', { class: 'kpis' },
          kpi('CAs checked', checks.length, 'pki-kpi-cas', 'info'),
          kpi('CAs failing a check', failingCAs, 'pki-kpi-failing', 'bad'),
          kpi('Endpoints unreachable from some hosts', failingEps, 'pki-kpi-unreachable', 'bad')),
        panel('CA checks', 'pki-panel', table(['CA', 'Status', { t: 'Days left', cls: 'num' }, 'CRL', 'OCSP', 'Failing findings', 'Checked'],
          checks.map(pkiRow), 'No CA checked yet: the collector checks the CAs of the policy it serves.')),
        panel('Reachability from the hosts', 'reach-panel', table(['Kind', 'URL', { t: 'Hosts', cls: 'num' }, { t: 'Failing', cls: 'num' }, 'Subnets that cannot reach it'],
          eps.map(reachRow), 'No agent has reported yet.'))
      ]);
      setGenerated(res[0].generated_at);
    }, function (err) {
      if (err instanceof Stop || (err.status !== 404 && err.status !== 405)) { throw err; }
      clear(main);
      append(main, [pageHead('PKI health', null),
        el('div', { class: 'notice', testid: 'pki-unavailable' }, 'This collector does not check the PKI (an older version).')]);
    });
  }

  // ---- chrome -----------------------------------------------------------

  function setGenerated(t) {
    var g = document.getElementById('generated');
    if (g && t) { g.textContent = 'Figures as of ' + fmtTime(t); }
  }

  function whoami() {
    return api('/api/v1/whoami').then(function (w) {
      me = { name: w.name, role: w.role, csrf: w.csrf || '' };
      document.getElementById('whoami').textContent = w.name + ' · ' + w.role;
    });
  }

  function route() {
    var p = location.pathname, m;
    if (p === '/') { return ['overview', overview]; }
    if (p === '/hosts') { return ['hosts', hosts]; }
    if ((m = /^\/hosts\/(\d+)$/.exec(p))) { return ['hosts', function () { return hostDetail(m[1]); }]; }
    if (p === '/events') { return ['events', events]; }
    if (p === '/roots') { return ['roots', roots]; }
    if (p === '/cas') { return ['cas', cas]; }
    if (p === '/devices') { return ['devices', devices]; }
    if (p === '/pki') { return ['pki', pkiHealth]; }
    return ['', function () { return Promise.reject(new Error('no such page: ' + p)); }];
  }

  function start() {
    // Sign-in links are not accepted: drop a token from the address bar
    // and history, and carry on as the session signed in.
    if (/(?:^#|&)token=/.test(location.hash)) {
      history.replaceState(null, '', location.pathname + location.search);
    }
    var r = route();
    var link = document.querySelector('[data-nav="' + r[0] + '"]');
    if (link) { link.classList.add('active'); link.setAttribute('aria-current', 'page'); }
    // Who is signed in first: an admin's pages offer actions.
    whoami().then(r[1]).then(function () {
      document.body.setAttribute('data-state', 'ready');
    }, function (err) {
      if (err instanceof Stop) { return; }
      clear(main);
      main.appendChild(el('p', { class: 'alert', role: 'alert', testid: 'page-error', text: 'Could not load this page: ' + err.message }));
      document.body.setAttribute('data-state', 'error');
    });
  }

  start();
})();
