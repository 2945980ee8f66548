package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/automattic/jetmon-bridge/internal/supervisor"
	"github.com/gorilla/mux"
	"github.com/gorilla/websocket"
)

// The JSON-RPC interface (docs/monitor.md) serves Thunder's
// Monitor interface: callsign Monitor, version 1, over HTTP POST and
// WebSocket on /jsonrpc, and with bare method names on /jsonrpc/Monitor.
const (
	// JSONRPCPath serves designators such as Monitor.1.status@Replica.
	JSONRPCPath = "/jsonrpc"
	// MonitorJSONRPCPath also serves bare method names such as status@Replica.
	MonitorJSONRPCPath = "/jsonrpc/" + MonitorCallsign
	// MonitorCallsign is the callsign of the Monitor interface.
	MonitorCallsign = "Monitor"
	// MonitorVersion is the only version of the Monitor interface.
	MonitorVersion = 1
	// MaxJSONRPCMessageBytes bounds one JSON-RPC request: an HTTP body or a
	// WebSocket message. A larger WebSocket message closes its connection
	// (close code 1009); a larger HTTP body is answered 413.
	MaxJSONRPCMessageBytes = 64 << 10
)

// MonitorAPI is what the Monitor interface needs from the bridge's
// supervisor; *supervisor.Supervisor satisfies it.
type MonitorAPI interface {
	// Status returns the entry of one service, or of all when callsign is
	// empty; an unknown callsign yields an empty slice.
	Status(callsign string) []supervisor.Entry
	// ResetStats clears a service's measurements and returns its entry as
	// it was before; ok is false for an unknown callsign.
	ResetStats(callsign string) (before supervisor.Entry, ok bool)
	// SetLimits sets a service's restart limits and re-arms it if it was
	// left stopped; errors wrap supervisor.ErrUnknownCallsign or
	// supervisor.ErrInvalidLimits.
	SetLimits(callsign string, limits supervisor.Limits) error
	// Subscribe calls fn with every notification until cancel is called; fn
	// must not block.
	Subscribe(fn func(supervisor.Notification)) (cancel func())
}

// JSONRPC is the mounted Monitor JSON-RPC endpoint. Close ends its WebSocket
// connections, which http.Server.Shutdown does not track.
type JSONRPC struct {
	monitor  MonitorAPI
	log      *slog.Logger
	upgrader websocket.Upgrader

	mu      sync.Mutex
	conns   map[*wsConn]struct{}
	closed  bool
	actions map[string]ActionFunc // by Monitor method; serveAction
	active  sync.WaitGroup        // one per connection in conns
}

// MountJSONRPC adds the Monitor JSON-RPC interface to router on JSONRPCPath
// and MonitorJSONRPCPath. Access is the router's: the Server's Handler puts
// Access in front of every route, which takes the token from the bearer
// header or from ?token= (as ThunderJS sends it) and decides which browser
// origins may open a WebSocket, so the upgrader itself checks no origin.
// log nil means slog.Default().
//
// http.Server.Shutdown does not end WebSocket connections: call Close on
// the returned JSONRPC when shutting down (e.g. from RegisterOnShutdown).
func MountJSONRPC(router *mux.Router, monitor MonitorAPI, log *slog.Logger) *JSONRPC {
	if log == nil {
		log = slog.Default()
	}
	e := &JSONRPC{monitor: monitor, log: log, conns: make(map[*wsConn]struct{}), actions: make(map[string]ActionFunc)}
	e.upgrader = websocket.Upgrader{
		ReadBufferSize:  4 << 10,
		WriteBufferSize: 4 << 10,
		// Access, in front of the router, has admitted the origin.
		CheckOrigin: func(*http.Request) bool { return true },
		Error: func(w http.ResponseWriter, _ *http.Request, status int, reason error) {
			writeError(w, status, reason.Error())
		},
	}
	router.Handle(JSONRPCPath, e.handler(designatorsOnly))
	router.Handle(MonitorJSONRPCPath, e.handler(bareMethodsToo))
	return e
}

// Close closes every WebSocket connection with code 1001 (going away),
// cancels their registrations, and waits for them to end. Later upgrade
// requests are refused; HTTP POST keeps working.
func (e *JSONRPC) Close() {
	e.mu.Lock()
	e.closed = true
	conns := make([]*wsConn, 0, len(e.conns))
	for c := range e.conns {
		conns = append(conns, c)
	}
	e.mu.Unlock()
	for _, c := range conns {
		c.close(websocket.CloseGoingAway, "server shutting down")
	}
	e.active.Wait()
}

// pathKind tells which designators a path accepts.
type pathKind int

const (
	// designatorsOnly: Monitor.1.<method> or Monitor.<method>.
	designatorsOnly pathKind = iota
	// bareMethodsToo: the above, <method> and 1.<method>.
	bareMethodsToo
)

// handler serves one JSON-RPC path: WebSocket upgrades and HTTP POST.
func (e *JSONRPC) handler(kind pathKind) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if websocket.IsWebSocketUpgrade(r) {
			e.serveWebSocket(w, r, kind)
			return
		}
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeError(w, http.StatusMethodNotAllowed,
				"JSON-RPC takes POST, or a GET that upgrades to a WebSocket; got "+r.Method)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, MaxJSONRPCMessageBytes+1))
		if err != nil {
			writeError(w, http.StatusBadRequest, "read request body: "+err.Error())
			return
		}
		if len(body) > MaxJSONRPCMessageBytes {
			writeError(w, http.StatusRequestEntityTooLarge,
				fmt.Sprintf("JSON-RPC request exceeds %d bytes", MaxJSONRPCMessageBytes))
			return
		}
		reply := e.handleMessage(nil, kind, body)
		if reply == nil {
			writeNoContent(w)
			return
		}
		writeBody(w, http.StatusOK, append(reply, '\n'))
	})
}

// JSON-RPC 2.0 error codes, and Thunder's error codes as its JSON-RPC layer
// reports them: -31000 minus Thunder's Core::ERROR_* value.
const (
	codeParseError     = -32700
	codeInvalidRequest = -32600
	codeMethodNotFound = -32601
	codeInvalidParams  = -32602
	codeInternalError  = -32603

	thunderErrorBase          = -31000
	codeUnavailable           = thunderErrorBase - 2  // ERROR_UNAVAILABLE: writing a read-only property
	codeUnknownKey            = thunderErrorBase - 22 // ERROR_UNKNOWN_KEY
	codeUnsupportedVersion    = thunderErrorBase - 38 // ERROR_INVALID_SIGNATURE: no handler for the version
	codeFailedRegistration    = thunderErrorBase - 48 // ERROR_FAILED_REGISTERED: register and unregister alike
	unsupportedVersionMessage = "Requested version is not supported."
)

// rpcError is a JSON-RPC error object.
type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func newRPCError(code int, format string, args ...any) *rpcError {
	return &rpcError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// rpcRequest is a parsed JSON-RPC request.
type rpcRequest struct {
	id     json.RawMessage // nil when absent: the request is a notification
	method string
	params json.RawMessage // nil when absent or null
}

// isNotification tells a request that gets no reply.
func (r *rpcRequest) isNotification() bool { return r.id == nil }

// rpcReply is a JSON-RPC response: Result or Error.
type rpcReply struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *rpcError       `json:"error,omitempty"`
}

// rpcNotification is a JSON-RPC notification the server sends.
type rpcNotification struct {
	JSONRPC string `json:"jsonrpc"`
	Method  string `json:"method"`
	Params  any    `json:"params"`
}

var jsonNull = json.RawMessage("null")

// handleMessage answers one JSON-RPC message; ch is the WebSocket connection
// it came on (nil over HTTP). It returns nil when no reply is due.
func (e *JSONRPC) handleMessage(ch *wsConn, kind pathKind, data []byte) []byte {
	req, rerr := parseRPCRequest(data)
	if rerr == nil {
		var result any
		result, rerr = e.call(ch, kind, req)
		if req.isNotification() {
			return nil
		}
		if rerr == nil {
			raw, err := json.Marshal(result)
			if err != nil {
				e.log.Error("encode JSON-RPC result", "method", req.method, "error", err)
				rerr = newRPCError(codeInternalError, "encode result: %v", err)
			} else {
				return encodeReply(rpcReply{JSONRPC: "2.0", ID: req.id, Result: raw})
			}
		}
	}
	id := req.id
	if id == nil {
		id = jsonNull
	}
	return encodeReply(rpcReply{JSONRPC: "2.0", ID: id, Error: rerr})
}

// encodeReply marshals a reply, which holds only marshalable values.
func encodeReply(r rpcReply) []byte {
	b, err := json.Marshal(r)
	if err != nil {
		panic("server: encode JSON-RPC reply: " + err.Error())
	}
	return b
}

// parseRPCRequest checks a message against JSON-RPC 2.0. On an error the
// returned request keeps the id when one could be read, so the error reply
// can carry it.
func parseRPCRequest(data []byte) (rpcRequest, *rpcError) {
	var req rpcRequest
	if !json.Valid(data) {
		return req, newRPCError(codeParseError, "parse error: the message is not valid JSON")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil || fields == nil {
		if trimmed := bytes.TrimSpace(data); len(trimmed) > 0 && trimmed[0] == '[' {
			return req, newRPCError(codeInvalidRequest, "invalid request: batch requests are not supported; send one request object per message")
		}
		return req, newRPCError(codeInvalidRequest, "invalid request: a request must be a JSON object")
	}
	if id, ok := fields["id"]; ok {
		if !validRPCID(id) {
			return req, newRPCError(codeInvalidRequest, "invalid request: id must be a string, a number or null")
		}
		req.id = id
	}
	var version string
	if err := json.Unmarshal(fields["jsonrpc"], &version); err != nil || version != "2.0" {
		return req, newRPCError(codeInvalidRequest, `invalid request: "jsonrpc" must be "2.0"`)
	}
	if err := json.Unmarshal(fields["method"], &req.method); err != nil || req.method == "" {
		return req, newRPCError(codeInvalidRequest, `invalid request: "method" must be a non-empty string`)
	}
	if params, ok := fields["params"]; ok && !bytes.Equal(bytes.TrimSpace(params), jsonNull) {
		req.params = params
	}
	return req, nil
}

// validRPCID accepts the id types JSON-RPC 2.0 allows.
func validRPCID(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return false
	}
	switch raw[0] {
	case '"', 'n':
		return true
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return true
	}
	return false
}

// resolveMethod turns a designator into the Monitor method it names, with
// its index (status@Replica is "status", "Replica").
func resolveMethod(kind pathKind, designator string) (method, index string, rerr *rpcError) {
	rest := designator
	if kind == designatorsOnly || strings.HasPrefix(designator, MonitorCallsign+".") {
		callsign, after, ok := strings.Cut(designator, ".")
		if !ok || callsign != MonitorCallsign {
			return "", "", newRPCError(codeMethodNotFound,
				"unknown method %q: this bridge serves callsign %s only, e.g. %s.%d.status", clip(designator), MonitorCallsign, MonitorCallsign, MonitorVersion)
		}
		rest = after
	}
	if version, after, ok := strings.Cut(rest, "."); ok && isDecimal(version) {
		if n, err := strconv.Atoi(version); err != nil || n != MonitorVersion {
			// Thunder's own words first: clients may compare them.
			return "", "", newRPCError(codeUnsupportedVersion,
				"%s %q: %s has version %d only, e.g. %s.%d.status", unsupportedVersionMessage, clip(designator),
				MonitorCallsign, MonitorVersion, MonitorCallsign, MonitorVersion)
		}
		rest = after
	}
	method, index, _ = strings.Cut(rest, "@")
	if method == "" {
		return "", "", newRPCError(codeMethodNotFound, "unknown method %q: no method name", clip(designator))
	}
	return method, index, nil
}

// isDecimal tells a non-empty string of ASCII digits.
func isDecimal(s string) bool {
	if s == "" || len(s) > 3 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
