/**
 * The dashboard's one script, served from /assets/dashboard.js (CSP allows only same-origin
 * scripts, so nothing is inline). It is an enhancement: every page works without it. It keeps
 * the "expires in" times counting down, and refreshes the pending list every few seconds from
 * /fragments/pending, merging card by card so a card someone is working in (focus inside, a
 * reason typed, arguments expanded) is never replaced under their hands.
 */
export const dashboardJs = `(function () {
  'use strict';
  var refreshMs = 3000;

  function span(ms) {
    var s = Math.max(0, Math.round(ms / 1000));
    if (s < 60) return s + ' s';
    var m = Math.floor(s / 60);
    if (m < 60) return pair(m, 'min', s % 60, 's');
    var h = Math.floor(m / 60);
    if (h < 48) return pair(h, 'h', m % 60, 'min');
    return pair(Math.floor(h / 24), 'd', h % 24, 'h');
  }

  function pair(big, bigUnit, small, smallUnit) {
    return small === 0 ? big + ' ' + bigUnit : big + ' ' + bigUnit + ' ' + small + ' ' + smallUnit;
  }

  function tick() {
    var now = Date.now();
    var items = document.querySelectorAll('time[data-countdown]');
    for (var i = 0; i < items.length; i++) {
      var at = Date.parse(items[i].getAttribute('datetime') || '');
      if (isNaN(at)) continue;
      var left = at - now;
      var text = left > 0 ? 'in ' + span(left) : 'now (expiring)';
      if (items[i].textContent !== text) items[i].textContent = text;
    }
  }

  function busy(card) {
    if (card.contains(document.activeElement)) return true;
    if (card.querySelector('details[open]')) return true;
    var inputs = card.querySelectorAll('input[type="text"], textarea');
    for (var i = 0; i < inputs.length; i++) if (inputs[i].value) return true;
    var box = card.querySelector('input.select-call');
    if (box && box.checked) return true;
    return false;
  }

  function cards(list) {
    var map = {};
    var nodes = list.querySelectorAll('[data-approval-id]');
    for (var i = 0; i < nodes.length; i++) map[nodes[i].getAttribute('data-approval-id')] = nodes[i];
    return map;
  }

  function notice(list, text) {
    var note = document.getElementById('live-notice');
    if (!note) {
      note = document.createElement('p');
      note.id = 'live-notice';
      note.className = 'notice';
      note.setAttribute('role', 'status');
      list.parentNode.insertBefore(note, list);
    }
    note.textContent = text;
  }

  function merge(list, fresh) {
    var before = cards(list);
    var after = cards(fresh);
    var id;
    for (id in before) {
      if (after[id]) continue;
      if (busy(before[id])) {
        before[id].classList.add('stale');
        if (!before[id].querySelector('.stale-note')) {
          var note = document.createElement('p');
          note.className = 'notice stale-note';
          note.textContent = 'This call is no longer pending (decided, expired or withdrawn elsewhere).';
          before[id].insertBefore(note, before[id].firstChild);
        }
      } else {
        before[id].parentNode.removeChild(before[id]);
      }
    }
    var order = fresh.querySelectorAll('[data-approval-id]');
    for (var i = order.length - 1; i >= 0; i--) {
      id = order[i].getAttribute('data-approval-id');
      var current = before[id];
      var next = i + 1 < order.length ? list.querySelector('[data-approval-id="' + order[i + 1].getAttribute('data-approval-id') + '"]') : null;
      var incoming = document.importNode(order[i], true);
      if (!current) {
        list.insertBefore(incoming, next);
      } else if (current.getAttribute('data-sig') !== order[i].getAttribute('data-sig')) {
        if (busy(current)) {
          var part = current.querySelector('[data-part="progress"]');
          var freshPart = incoming.querySelector('[data-part="progress"]');
          if (part && freshPart) part.parentNode.replaceChild(freshPart, part);
          current.setAttribute('data-sig', order[i].getAttribute('data-sig'));
        } else {
          current.parentNode.replaceChild(incoming, current);
        }
      }
    }
    var empty = list.querySelector('[data-empty]');
    var remaining = list.querySelectorAll('[data-approval-id]').length;
    if (remaining > 0 && empty) empty.parentNode.removeChild(empty);
    if (remaining === 0 && !empty) {
      var freshEmpty = fresh.querySelector('[data-empty]');
      if (freshEmpty) list.appendChild(document.importNode(freshEmpty, true));
    }
    list.setAttribute('data-sig', fresh.getAttribute('data-sig') || '');
    var summary = document.getElementById('pending-summary');
    var text = fresh.getAttribute('data-summary');
    if (summary && text && summary.textContent !== text) summary.textContent = text;
  }

  function startLiveList(list) {
    var timer = null;
    var inFlight = false;
    function refresh() {
      if (inFlight || document.hidden) return;
      inFlight = true;
      fetch('/fragments/pending' + window.location.search, { credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'text/html' } })
        .then(function (res) {
          if (res.status === 401) {
            clearInterval(timer);
            notice(list, 'Your session has ended. Reload the page to sign in again.');
            return null;
          }
          if (!res.ok) {
            notice(list, 'Live refresh paused: the gateway answered ' + res.status + '. Retrying.');
            return null;
          }
          return res.text();
        })
        .then(function (text) {
          if (text === null) return;
          var old = document.getElementById('live-notice');
          if (old) old.parentNode.removeChild(old);
          var doc = new DOMParser().parseFromString(text, 'text/html');
          var fresh = doc.querySelector('[data-live="pending"]');
          if (fresh && fresh.getAttribute('data-sig') !== list.getAttribute('data-sig')) merge(list, fresh);
          tick();
        })
        .catch(function () {
          notice(list, 'Live refresh paused: the gateway is unreachable. Retrying.');
        })
        .then(function () {
          inFlight = false;
        });
    }
    timer = setInterval(refresh, refreshMs);
    document.addEventListener('visibilitychange', function () {
      if (!document.hidden) refresh();
    });
  }

  // Keyboard: j/k move between cards, x selects, a opens Approve's confirmation (Enter confirms), d goes to the deny reason.
  function typing(target) {
    var tag = target && target.tagName;
    if (tag === 'INPUT') return target.type !== 'checkbox';
    return tag === 'TEXTAREA' || tag === 'SELECT' || (target && target.isContentEditable);
  }

  function startShortcuts(list) {
    var current = null;
    function all() {
      return Array.prototype.slice.call(list.querySelectorAll('article[data-approval-id]'));
    }
    function select(card) {
      if (current) current.classList.remove('current');
      current = card;
      if (!card) return;
      card.classList.add('current');
      card.focus();
      card.scrollIntoView({ block: 'nearest' });
    }
    document.addEventListener('keydown', function (event) {
      if (event.altKey || event.ctrlKey || event.metaKey || typing(event.target)) return;
      var cardsNow = all();
      if (cardsNow.length === 0) return;
      var at = current ? cardsNow.indexOf(current) : -1;
      if (event.key === 'j' || event.key === 'k') {
        var next = event.key === 'j' ? Math.min(cardsNow.length - 1, at + 1) : Math.max(0, at - 1);
        select(cardsNow[next]);
        event.preventDefault();
        return;
      }
      if (!current || at < 0) return;
      if (event.key === 'x') {
        var box = current.querySelector('input.select-call');
        if (box) box.checked = !box.checked;
        event.preventDefault();
      } else if (event.key === 'a') {
        var confirm = current.querySelector('details.approve-confirm');
        if (!confirm) return;
        confirm.open = true;
        var yes = confirm.querySelector('button[type="submit"]');
        if (yes) yes.focus();
        event.preventDefault();
      } else if (event.key === 'd') {
        var reason = current.querySelector('.deny-form input[name="reason"]');
        if (reason) reason.focus();
        event.preventDefault();
      }
    });
  }

  function start() {
    tick();
    setInterval(tick, 1000);
    var list = document.querySelector('[data-live="pending"]');
    if (list && window.fetch && window.DOMParser) startLiveList(list);
    if (list) startShortcuts(list);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
`;
