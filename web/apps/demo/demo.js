// The demo CRM page: an app written for the Cti.Connector API (seed 004's example app,
// on Callboard). Log in, click a contact's number (click-to-call: your phone rings first,
// then the contact), see who calls (the screen pop), the live calls and the history.
//
// Plain JavaScript on purpose: it is what a CRM developer would write. The page's test
// hook: `window.demoConnectorOptions` (set before this script) is merged into the
// connector's options.
'use strict';

(function () {
  const $ = (id) => document.getElementById(id);

  // Customers of the CRM (fictional numbers); the domain's users are added after login.
  const CUSTOMERS = [
    { name: 'Jane Cooper', company: 'Acme Corp', number: '+44 20 7946 0958', notes: 'Renewal due next month.' },
    { name: 'Hank Scorpio', company: 'Globex', number: '+1 415 555 0132', notes: 'Asked for a demo of the dialer.' },
    { name: 'Peter Gibbons', company: 'Initech', number: '+1 512 555 0198', notes: 'Prefers calls after 3 pm.' },
    { name: 'Marie Curie', company: 'Radium Labs', number: '+33 1 99 00 12 34', notes: 'Key account.' },
  ];

  const state = {
    contacts: CUSTOMERS.map((c) => ({ ...c, kind: 'customer' })),
    calls: new Map(), // id -> call object of the connector's events
    pop: null, // the call shown in the screen pop
    me: null,
  };
  window.demo = { state, events: [] };

  const digits = (value) => String(value || '').replace(/[^0-9]/g, '').replace(/^0+/, '');

  /** The contact whose number is `number` (the last 9 digits of longer numbers match). */
  function findContact(number) {
    const wanted = digits(number);
    if (!wanted) return null;
    return (
      state.contacts.find((c) => {
        const have = digits(c.number);
        if (have === wanted) return true;
        return have.length > 6 && wanted.length > 6 && have.slice(-9) === wanted.slice(-9);
      }) || null
    );
  }

  function setStatus(text, kind) {
    const status = $('status');
    status.textContent = text;
    status.className = `label ${kind || ''}`;
  }

  function cell(row, text, className) {
    const td = document.createElement('td');
    if (className) td.className = className;
    td.textContent = text;
    row.append(td);
    return td;
  }

  function logEvent(event) {
    window.demo.events.push(event);
    // A mark per event: visible in the browser's performance tools (and bench/browser.py).
    performance.mark(`cti:${event.name}`);
    const li = document.createElement('li');
    const detail = event.call
      ? `${event.call.direction} ${event.call.source || ''} → ${event.call.destination} ${event.call.cause ? `(${event.call.cause})` : ''}`
      : event.message || event.uri || '';
    li.textContent = `${new Date().toLocaleTimeString()} ${event.name} ${detail}`;
    $('events').prepend(li);
    while ($('events').children.length > 30) $('events').lastChild.remove();
  }

  // -- the contacts ---------------------------------------------------------------------

  function renderContacts() {
    const needle = $('search').value.trim().toLowerCase();
    const body = $('contacts');
    body.replaceChildren();
    for (const contact of state.contacts) {
      const text = `${contact.name} ${contact.company} ${contact.number}`.toLowerCase();
      if (needle && !text.includes(needle)) continue;
      const row = document.createElement('tr');
      row.dataset.kind = contact.kind;
      cell(row, contact.name);
      cell(row, contact.company);
      const td = cell(row, '');
      const link = document.createElement('a');
      link.href = `tel:${contact.number.replace(/\s/g, '')}`;
      link.className = 'c2c';
      link.dataset.number = contact.number;
      link.textContent = contact.number;
      link.addEventListener('click', (event) => {
        event.preventDefault();
        connector.call(contact.number);
      });
      td.append(link);
      body.append(row);
    }
  }

  function loadColleagues() {
    connector.apiRequest('GET', '/demo/contacts', null, (response) => {
      const colleagues = (response.items || [])
        .filter((user) => !state.me || user.extension !== state.me.extension)
        .map((user) => ({ name: user.name, company: 'Colleague', number: user.extension, notes: `Extension ${user.extension}`, kind: 'colleague' }));
      state.contacts = [...colleagues, ...CUSTOMERS.map((c) => ({ ...c, kind: 'customer' }))];
      renderContacts();
    });
  }

  // -- the screen pop and the live calls ------------------------------------------------

  function showPop(call) {
    state.pop = call;
    const inbound = call.direction === Cti.DIRECTION.IN;
    const number = inbound ? call.source : call.destination;
    const contact = findContact(number);
    $('pop').hidden = false;
    $('pop').dataset.status = call.status;
    $('pop-title').textContent = {
      RINGING: inbound ? 'Incoming call' : 'Calling…',
      CONNECTED: 'In call with',
      ON_HOLD: 'On hold with',
    }[call.status] || call.status;
    $('pop-name').textContent = contact ? contact.name : (inbound ? call.sourceName : call.destinationName) || 'Unknown caller';
    $('pop-company').textContent = contact ? contact.company : 'Not in your contacts';
    $('pop-number').textContent = number;
    $('pop-notes').textContent = contact ? contact.notes : '';
    $('pop-answer').hidden = !(inbound && call.status === Cti.CALL_STATUS.RINGING);
  }

  function hidePop(call) {
    if (state.pop && state.pop.id === call.id) {
      state.pop = null;
      $('pop').hidden = true;
    }
  }

  function renderCalls() {
    const body = $('calls');
    body.replaceChildren();
    if (state.calls.size === 0) {
      const row = document.createElement('tr');
      row.className = 'empty';
      cell(row, 'No calls').colSpan = 5;
      body.append(row);
      return;
    }
    for (const call of state.calls.values()) {
      const row = document.createElement('tr');
      row.dataset.id = call.id;
      row.dataset.status = call.status;
      cell(row, call.direction === Cti.DIRECTION.IN ? 'inbound' : 'outbound');
      cell(row, call.sourceName && call.sourceName !== call.source ? `${call.sourceName} (${call.source})` : call.source);
      cell(row, call.destinationName && call.destinationName !== call.destination ? `${call.destinationName} (${call.destination})` : call.destination);
      cell(row, call.status, 'status');
      const actions = cell(row, '');
      const add = (label, handler) => {
        const b = document.createElement('button');
        b.type = 'button';
        b.className = 'small';
        b.textContent = label;
        b.addEventListener('click', handler);
        actions.append(b);
      };
      if (call.direction === Cti.DIRECTION.IN && call.status === Cti.CALL_STATUS.RINGING) add('Answer', () => connector.answer());
      add('Hang up', () => connector.terminate(call.id));
      if (call.status === Cti.CALL_STATUS.CONNECTED) {
        add('Transfer', () => {
          const target = window.prompt('Transfer to (extension or number)');
          if (target) connector.transfer(call.id, target);
        });
      }
      body.append(row);
    }
  }

  // -- the history ----------------------------------------------------------------------

  function loadHistory() {
    const now = Date.now();
    const query = `created_at.from=${now - 7 * 24 * 3600 * 1000}&created_at.to=${now + 60_000}&size=20`;
    connector.apiRequest('GET', `/api/calls/history?${query}`, null, (response) => {
      const body = $('history');
      body.replaceChildren();
      for (const item of response.items || []) {
        const row = document.createElement('tr');
        row.dataset.id = item.id;
        cell(row, new Date(Number(item.created_at)).toLocaleString());
        cell(row, item.direction);
        cell(row, item.from ? `${item.from.name || ''} ${item.from.number || ''}`.trim() : item.from_number);
        cell(row, item.to ? `${item.to.name || ''} ${item.to.number || ''}`.trim() : item.to_number);
        cell(row, `${item.talk_sec || 0} s`);
        cell(row, item.answered_at ? 'answered' : (item.cause || '').toLowerCase().replace(/_/g, ' '));
        body.append(row);
      }
    }, () => {
      // The history is optional: a server without it just shows none.
    });
  }

  // -- the connector --------------------------------------------------------------------

  function onMessage(event) {
    logEvent(event);
    const E = Cti.EVENT;
    switch (event.name) {
      case E.LOGGED_IN:
        setStatus('Connecting the phone…', 'warn');
        break;
      case E.READY: {
        setStatus('Available', 'ok');
        $('login').hidden = true;
        $('app').hidden = false;
        $('logout').hidden = false;
        connector.apiRequest('GET', '/api/userinfo', null, (me) => {
          state.me = me;
          $('me').textContent = `${me.name} · ${me.extension || 'no extension'}`;
          loadColleagues();
        });
        loadHistory();
        break;
      }
      case E.INITIAL:
        setStatus('Your phone is ringing…', 'warn');
        break;
      case E.ACCEPTED:
        setStatus('Calling the contact…', 'warn');
        break;
      case E.RINGING:
      case E.CONNECTED:
      case E.ON_HOLD:
        state.calls.set(event.call.id, event.call);
        if (!state.pop || state.pop.id === event.call.id) showPop(event.call);
        setStatus(event.name === E.RINGING ? 'Ringing' : event.name === E.CONNECTED ? 'In a call' : 'On hold', 'warn');
        renderCalls();
        break;
      case E.HANGUP:
      case E.CANCEL:
        if (event.call && event.call.cid) {
          state.calls.delete(event.call.id);
          hidePop(event.call);
          renderCalls();
          setTimeout(loadHistory, 1000);
        }
        setStatus(event.name === E.CANCEL && event.call.cause ? `Not connected: ${event.call.cause}` : 'Available', event.name === E.CANCEL ? 'warn' : 'ok');
        break;
      case E.LOGGED_OUT:
        setStatus('Not connected', '');
        $('app').hidden = true;
        $('logout').hidden = true;
        $('login').hidden = false;
        $('me').textContent = '';
        state.calls.clear();
        renderCalls();
        break;
      case E.ERROR:
      case E.INFO:
        setStatus(event.message, event.name === E.ERROR ? 'error' : 'warn');
        break;
      default:
        break;
    }
  }

  const connector = new Cti.Connector({ ...(window.demoConnectorOptions || {}), onMessage });
  window.connector = connector;
  window.demo.connector = connector;

  $('login-form').addEventListener('submit', (event) => {
    event.preventDefault();
    setStatus('Logging in…', 'warn');
    connector.login($('username').value.trim(), $('password').value);
  });
  $('logout').addEventListener('click', () => connector.logout());
  $('search').addEventListener('input', renderContacts);
  $('dial-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const number = $('dial').value.trim();
    if (number) connector.call(number);
  });
  $('pop-answer').addEventListener('click', () => connector.answer());
  $('pop-hangup').addEventListener('click', () => state.pop && connector.terminate(state.pop.id));
  $('refresh').addEventListener('click', loadHistory);

  renderContacts();
  if (!connector.isConnected()) {
    setStatus('Not connected', '');
    // A session kept from before a reload reconnects by itself (READY); else log in.
    $('login').hidden = false;
  }
})();
