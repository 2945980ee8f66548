package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/automattic/jetmon-bridge/internal/supervisor"
	"github.com/gorilla/websocket"
)

// WebSocket connection timing and bounds.
const (
	// wsWriteWait bounds writing one message to a client.
	wsWriteWait = 10 * time.Second
	// wsPingPeriod is how often the server pings an idle client.
	wsPingPeriod = 30 * time.Second
	// wsPongWait is how long a client may stay silent, pongs included,
	// before its connection is dropped.
	wsPongWait = 75 * time.Second
	// wsCloseGrace is how long the server waits for a client to answer its
	// close frame.
	wsCloseGrace = 2 * time.Second
	// wsOutboxSize is how many messages may wait for a slow client before
	// its connection is closed rather than the bridge buffering without end.
	wsOutboxSize = 256
	// wsMaxRegistrations bounds one connection's registrations.
	wsMaxRegistrations = 64
)

// serveWebSocket upgrades a request to a WebSocket that carries JSON-RPC
// requests, replies and notifications until either side closes it.
func (e *JSONRPC) serveWebSocket(w http.ResponseWriter, r *http.Request, kind pathKind) {
	// Thunder clients ask for "notification" or "json"; the server takes
	// whatever the client asks for first.
	var header http.Header
	if protocols := websocket.Subprotocols(r); len(protocols) > 0 && protocols[0] != "" {
		header = http.Header{}
		header.Set("Sec-WebSocket-Protocol", protocols[0])
	}
	e.mu.Lock()
	closed := e.closed
	e.mu.Unlock()
	if closed {
		writeError(w, http.StatusServiceUnavailable, "the server is shutting down")
		return
	}
	conn, err := e.upgrader.Upgrade(w, r, header)
	if err != nil {
		e.log.Debug("WebSocket upgrade refused", "remote", r.RemoteAddr, "error", err)
		return // the upgrader has answered the request
	}
	c := &wsConn{
		endpoint:      e,
		kind:          kind,
		conn:          conn,
		remote:        r.RemoteAddr,
		outbox:        make(chan []byte, wsOutboxSize),
		closing:       make(chan struct{}),
		writerDone:    make(chan struct{}),
		registrations: make(map[string]func()),
	}
	if !e.track(c) { // Close ran since the check above
		conn.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down"), time.Now().Add(wsWriteWait))
		conn.Close()
		return
	}
	defer e.untrack(c)
	e.log.Debug("WebSocket connected", "remote", c.remote, "path", r.URL.Path, "subprotocol", conn.Subprotocol())
	go c.writeLoop()
	c.readLoop()
	c.finish()
}

// track adds a connection to those Close ends; false once Close was called.
func (e *JSONRPC) track(c *wsConn) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return false
	}
	e.conns[c] = struct{}{}
	e.active.Add(1)
	return true
}

func (e *JSONRPC) untrack(c *wsConn) {
	e.mu.Lock()
	delete(e.conns, c)
	e.mu.Unlock()
	e.active.Done()
}

// wsConn is one client's WebSocket connection. Its read loop answers
// requests in order; its write loop sends replies and notifications, which
// arrive through outbox, and pings.
type wsConn struct {
	endpoint *JSONRPC
	kind     pathKind
	conn     *websocket.Conn
	remote   string

	outbox     chan []byte
	closing    chan struct{} // closed by close: the write loop sends closeMsg and stops
	closeOnce  sync.Once
	closeMsg   []byte
	writerDone chan struct{} // closed when the write loop has returned
	hardClose  *time.Timer   // set by the write loop when it stopped for close

	mu            sync.Mutex
	registrations map[string]func() // client id -> cancel of its subscription
	finished      bool
}

// readLoop answers messages until the connection fails or closes.
func (c *wsConn) readLoop() {
	c.conn.SetReadLimit(MaxJSONRPCMessageBytes)
	c.extendReadDeadline()
	c.conn.SetPongHandler(func(string) error { c.extendReadDeadline(); return nil })
	for {
		_, data, err := c.conn.ReadMessage()
		if err != nil {
			c.logReadEnd(err)
			return
		}
		c.extendReadDeadline()
		if reply := c.endpoint.handleMessage(c, c.kind, data); reply != nil {
			select {
			case c.outbox <- reply:
			case <-c.writerDone:
				return
			}
		}
	}
}

// extendReadDeadline gives the client another wsPongWait to send something.
func (c *wsConn) extendReadDeadline() {
	c.conn.SetReadDeadline(time.Now().Add(wsPongWait))
}

// logReadEnd logs why reading ended: routine closes quietly, misbehaving
// clients loudly.
func (c *wsConn) logReadEnd(err error) {
	log := c.endpoint.log
	switch {
	case errors.Is(err, websocket.ErrReadLimit):
		log.Warn("WebSocket message too large; connection closed (1009)", "remote", c.remote, "limit_bytes", MaxJSONRPCMessageBytes)
	case websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway, websocket.CloseNoStatusReceived):
		log.Debug("WebSocket closed by client", "remote", c.remote)
	default:
		select {
		case <-c.closing:
			log.Debug("WebSocket closed", "remote", c.remote, "error", err)
		default:
			log.Info("WebSocket connection ended", "remote", c.remote, "error", err)
		}
	}
}

// writeLoop sends queued messages and pings until close is called or a
// write fails; then it sends the close frame, if any, and returns.
func (c *wsConn) writeLoop() {
	defer close(c.writerDone)
	ping := time.NewTicker(wsPingPeriod)
	defer ping.Stop()
	for {
		// A connection asked to close sends no more queued messages.
		select {
		case <-c.closing:
			c.sendClose()
			return
		default:
		}
		select {
		case msg := <-c.outbox:
			c.conn.SetWriteDeadline(time.Now().Add(wsWriteWait))
			if err := c.conn.WriteMessage(websocket.TextMessage, msg); err != nil {
				c.endpoint.log.Debug("WebSocket write failed", "remote", c.remote, "error", err)
				c.conn.Close() // ends the read loop too
				return
			}
		case <-ping.C:
			if err := c.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(wsWriteWait)); err != nil {
				c.conn.Close()
				return
			}
		case <-c.closing:
			c.sendClose()
			return
		}
	}
}

// sendClose sends the close frame, if close gave one, and makes sure the
// read loop ends: when the client answers with its own close frame, or
// after wsCloseGrace when it does not.
func (c *wsConn) sendClose() {
	if c.closeMsg != nil {
		c.conn.WriteControl(websocket.CloseMessage, c.closeMsg, time.Now().Add(wsWriteWait))
	}
	c.hardClose = time.AfterFunc(wsCloseGrace, func() { c.conn.Close() })
}

// close asks the write loop to send a close frame with code and text and
// stop. It does not wait.
func (c *wsConn) close(code int, text string) {
	c.closeOnce.Do(func() {
		c.closeMsg = websocket.FormatCloseMessage(code, text)
		close(c.closing)
	})
}

// finish ends the connection once the read loop has returned: it cancels
// every registration, stops the write loop and closes the socket.
func (c *wsConn) finish() {
	c.mu.Lock()
	c.finished = true
	cancels := make([]func(), 0, len(c.registrations))
	for _, cancel := range c.registrations {
		cancels = append(cancels, cancel)
	}
	c.registrations = nil
	c.mu.Unlock()
	for _, cancel := range cancels {
		cancel()
	}
	c.closeOnce.Do(func() { close(c.closing) }) // no close frame: the peer is gone or has closed
	<-c.writerDone
	if c.hardClose != nil {
		c.hardClose.Stop()
	}
	c.conn.Close()
	c.endpoint.log.Debug("WebSocket finished", "remote", c.remote)
}

// register subscribes the connection to the Monitor's notifications under
// the client's id.
func (c *wsConn) register(id string) *rpcError {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.finished:
		return newRPCError(codeFailedRegistration, "cannot register: the connection is closing")
	case c.registrations[id] != nil:
		return newRPCError(codeFailedRegistration, "id %q is already registered for %q on this connection", clip(id), monitorEvent)
	case len(c.registrations) >= wsMaxRegistrations:
		return newRPCError(codeFailedRegistration, "cannot register more than %d ids on one connection", wsMaxRegistrations)
	}
	method := id + "." + monitorEvent
	c.registrations[id] = c.endpoint.monitor.Subscribe(func(n supervisor.Notification) {
		c.notify(method, n)
	})
	c.endpoint.log.Debug("WebSocket client registered", "remote", c.remote, "id", id)
	return nil
}

// unregister cancels the registration under the client's id.
func (c *wsConn) unregister(id string) *rpcError {
	c.mu.Lock()
	cancel := c.registrations[id]
	delete(c.registrations, id)
	c.mu.Unlock()
	if cancel == nil {
		return newRPCError(codeFailedRegistration, "id %q is not registered for %q on this connection", clip(id), monitorEvent)
	}
	cancel()
	c.endpoint.log.Debug("WebSocket client unregistered", "remote", c.remote, "id", id)
	return nil
}

// notify queues a notification without blocking the supervisor. A client
// that lets wsOutboxSize messages pile up is disconnected (1008) rather
// than silently missing notifications.
func (c *wsConn) notify(method string, n supervisor.Notification) {
	msg, err := json.Marshal(rpcNotification{JSONRPC: "2.0", Method: method, Params: n})
	if err != nil {
		c.endpoint.log.Error("encode notification", "method", method, "error", err)
		return
	}
	select {
	case c.outbox <- msg:
	case <-c.closing:
	default:
		c.endpoint.log.Warn("WebSocket client does not read its notifications; closing its connection",
			"remote", c.remote, "queued", wsOutboxSize)
		c.close(websocket.ClosePolicyViolation, "notifications are not read fast enough")
	}
}
