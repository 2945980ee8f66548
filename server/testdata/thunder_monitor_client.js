// A Monitor client written the way Thunder's JavaScript client (ThunderJS
// 1.2.5) talks to Thunder, run by TestThunderJSClient with Node and the npm
// "ws" package:
//   - the WebSocket URL carries the token as ?token=<token>, unencoded, and
//     the upgrade request no header of the client's own;
//   - the WebSocket asks for the "notification" subprotocol;
//   - a call's method is [plugin, version, method].join('.'), e.g.
//     "Monitor.1.status", with params only when they are not empty;
//   - listening to an event registers with id "client.<plugin>.events", and
//     the notifications arrive as "client.<plugin>.events.<event>" without id.
// It reports each step as one JSON line on stdout for the Go test to check.
//
// Usage: node thunder_monitor_client.js ws://host:port/jsonrpc [token]
// A refused connection is reported as the step "refused" with its HTTP
// status.
'use strict';

const WebSocket = require('ws');

const [endpoint, token] = process.argv.slice(2);
const url = token ? `${endpoint}?token=${token}` : endpoint;
const socket = new WebSocket(url, 'notification', { maxPayload: 1 << 20 });

let nextId = 0;
let finished = false;
const pending = new Map();
const listeners = new Map();

function report(step, data) {
  process.stdout.write(JSON.stringify(Object.assign({ step }, data)) + '\n');
}

function fail(message) {
  report('error', { message: String(message) });
  process.exit(1);
}

const watchdog = setTimeout(() => fail('timed out after 120 s'), 120000);

// call frames a request as ThunderJS's makeBody does.
function call(plugin, method, params, version = 1) {
  const id = ++nextId;
  const body = { jsonrpc: '2.0', id, method: [plugin, version, method].join('.') };
  const empty = typeof params === 'object' && params !== null && Object.keys(params).length === 0;
  if ((params || params === false) && !empty) {
    body.params = params;
  }
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    socket.send(JSON.stringify(body));
  });
}

// on registers for an event as ThunderJS's listener does.
function on(plugin, event, callback) {
  listeners.set(['client', plugin, 'events', event].join('.'), callback);
  return call(plugin, 'register', { event, id: ['client', plugin, 'events'].join('.') });
}

socket.on('message', (data) => {
  let message;
  try {
    message = JSON.parse(data.toString());
  } catch (err) {
    fail(`the server sent something that is not JSON: ${data}`);
  }
  if (message.jsonrpc !== '2.0') {
    fail(`message without "jsonrpc":"2.0": ${data}`);
  }
  if (message.id !== undefined && pending.has(message.id)) {
    const { resolve, reject } = pending.get(message.id);
    pending.delete(message.id);
    if (message.error) {
      reject(message.error);
    } else {
      resolve(message.result);
    }
    return;
  }
  if (!message.id && message.method) {
    const callback = listeners.get(message.method);
    if (!callback) {
      fail(`a notification nobody listens to: ${data}`);
    }
    callback(message.params);
    return;
  }
  fail(`unexpected message: ${data}`);
});

socket.on('error', (err) => fail(`socket error: ${err.message}`));

// The upgrade was answered with an HTTP status, not a WebSocket.
socket.on('unexpected-response', (request, response) => {
  report('refused', { status: response.statusCode });
  clearTimeout(watchdog);
  process.exit(0);
});

socket.on('close', (code) => {
  if (!finished) {
    fail(`the server closed the connection early (code ${code})`);
  }
  clearTimeout(watchdog);
  process.exit(0);
});

socket.on('open', async () => {
  try {
    report('open', { protocol: socket.protocol });
    report('status', { result: await call('Monitor', 'status') });
    report('status@Replica', { result: await call('Monitor', 'status@Replica') });
    try {
      await call('Monitor', 'status', { observable: 'Replica' });
      fail('writing the read-only status property succeeded');
    } catch (error) {
      report('write-refused', { error });
    }
    let actionReceived;
    const action = new Promise((resolve) => { actionReceived = resolve; });
    const registered = await on('Monitor', 'action', (params) => actionReceived(params));
    report('registered', { result: registered });
    report('action', { params: await action });
    finished = true;
    socket.close(1000, 'done');
  } catch (err) {
    fail(`call failed: ${JSON.stringify(err)}`);
  }
});
