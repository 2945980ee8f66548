package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"

	"github.com/automattic/jetmon-bridge/internal/supervisor"
)

// monitorEvent is the only event the Monitor interface sends.
const monitorEvent = "action"

// Bounds on what a client may ask for.
const (
	maxCallsignBytes = 256
	maxClientIDBytes = 256
	maxRestartLimit  = 1<<31 - 1
)

// call runs one request against the Monitor interface. ch is the WebSocket
// connection the request came on, nil over HTTP.
func (e *JSONRPC) call(ch *wsConn, kind pathKind, req rpcRequest) (any, *rpcError) {
	method, index, rerr := resolveMethod(kind, req.method)
	if rerr != nil {
		return nil, rerr
	}
	if index != "" && method != "status" {
		return nil, newRPCError(codeMethodNotFound, "unknown method %q: only the status property takes an index (status@<callsign>)", clip(req.method))
	}
	switch method {
	case "status":
		return e.status(index, req.params)
	case "restartlimits":
		return e.restartLimits(req.params)
	case "resetstats":
		return e.resetStats(req.params)
	case "register":
		return e.register(ch, req.params)
	case "unregister":
		return e.unregister(ch, req.params)
	case "reconcile", "resynced":
		return e.action(method, req.params)
	}
	return nil, newRPCError(codeMethodNotFound,
		"unknown method %q: %s has the status property and the restartlimits, resetstats, register, unregister, reconcile and resynced methods", clip(req.method), MonitorCallsign)
}

// status reads the read-only status property: every service's entry, or the
// indexed one's; an unknown callsign yields []. Params are a write attempt.
func (e *JSONRPC) status(callsign string, params json.RawMessage) (any, *rpcError) {
	if params != nil {
		return nil, newRPCError(codeUnavailable, "status is a read-only property: send it without params")
	}
	return e.monitor.Status(callsign), nil
}

// restartLimits sets a service's restart limits: {callsign, restart:{limit,
// window}} -> null.
func (e *JSONRPC) restartLimits(params json.RawMessage) (any, *rpcError) {
	var p struct {
		Callsign *string `json:"callsign"`
		Restart  *struct {
			Limit  *int64 `json:"limit"`
			Window *int64 `json:"window"`
		} `json:"restart"`
	}
	const usage = `{"callsign": "Replica", "restart": {"limit": 3, "window": 60}}`
	if rerr := decodeParams(params, &p, usage); rerr != nil {
		return nil, rerr
	}
	switch {
	case p.Callsign == nil:
		return nil, newRPCError(codeInvalidParams, "invalid params: params.callsign is required, e.g. %s", usage)
	case p.Restart == nil:
		return nil, newRPCError(codeInvalidParams, "invalid params: params.restart is required, e.g. %s", usage)
	case p.Restart.Limit == nil:
		return nil, newRPCError(codeInvalidParams, "invalid params: params.restart.limit is required (0 means unlimited)")
	case p.Restart.Window == nil:
		return nil, newRPCError(codeInvalidParams, "invalid params: params.restart.window is required (seconds)")
	case *p.Restart.Limit < 0 || *p.Restart.Limit > maxRestartLimit:
		return nil, newRPCError(codeInvalidParams, "invalid params: params.restart.limit must be 0 (unlimited) to %d, got %d", maxRestartLimit, *p.Restart.Limit)
	case *p.Restart.Window < 0 || *p.Restart.Window > supervisor.MaxWindowSeconds:
		return nil, newRPCError(codeInvalidParams, "invalid params: params.restart.window must be 0 to %d seconds, got %d", supervisor.MaxWindowSeconds, *p.Restart.Window)
	}
	if rerr := checkCallsign(*p.Callsign); rerr != nil {
		return nil, rerr
	}
	limits := supervisor.Limits{Limit: int(*p.Restart.Limit), Window: int(*p.Restart.Window)}
	err := e.monitor.SetLimits(*p.Callsign, limits)
	switch {
	case errors.Is(err, supervisor.ErrUnknownCallsign):
		return nil, newRPCError(codeUnknownKey, "unknown callsign %q: no such service is watched", clip(*p.Callsign))
	case errors.Is(err, supervisor.ErrInvalidLimits):
		return nil, newRPCError(codeInvalidParams, "invalid params: %v", err)
	case err != nil:
		e.log.Error("set restart limits", "callsign", *p.Callsign, "error", err)
		return nil, newRPCError(codeInternalError, "set restart limits: %v", err)
	}
	return nil, nil
}

// resetStats clears a service's measurements: {callsign} -> the entry before
// the reset, or null for an unknown callsign.
func (e *JSONRPC) resetStats(params json.RawMessage) (any, *rpcError) {
	var p struct {
		Callsign *string `json:"callsign"`
	}
	const usage = `{"callsign": "Replica"}`
	if rerr := decodeParams(params, &p, usage); rerr != nil {
		return nil, rerr
	}
	if p.Callsign == nil {
		return nil, newRPCError(codeInvalidParams, "invalid params: params.callsign is required, e.g. %s", usage)
	}
	if rerr := checkCallsign(*p.Callsign); rerr != nil {
		return nil, rerr
	}
	before, ok := e.monitor.ResetStats(*p.Callsign)
	if !ok {
		return nil, nil
	}
	return before, nil
}

// registration is the params of register and unregister.
type registration struct {
	event, id string
}

// decodeRegistration reads {event, id}.
func decodeRegistration(params json.RawMessage) (registration, *rpcError) {
	var p struct {
		Event *string `json:"event"`
		ID    *string `json:"id"`
	}
	const usage = `{"event": "action", "id": "myid"}`
	if rerr := decodeParams(params, &p, usage); rerr != nil {
		return registration{}, rerr
	}
	switch {
	case p.Event == nil:
		return registration{}, newRPCError(codeInvalidParams, "invalid params: params.event is required, e.g. %s", usage)
	case p.ID == nil || *p.ID == "":
		return registration{}, newRPCError(codeInvalidParams, "invalid params: params.id must be a non-empty string, e.g. %s", usage)
	case len(*p.ID) > maxClientIDBytes:
		return registration{}, newRPCError(codeInvalidParams, "invalid params: params.id is longer than %d bytes", maxClientIDBytes)
	}
	return registration{event: *p.Event, id: *p.ID}, nil
}

// register sends the action notifications to the WebSocket connection ch as
// "<id>.action" from now on: {event:"action", id} -> null.
func (e *JSONRPC) register(ch *wsConn, params json.RawMessage) (any, *rpcError) {
	reg, rerr := decodeRegistration(params)
	if rerr != nil {
		return nil, rerr
	}
	switch {
	case reg.event != monitorEvent:
		return nil, newRPCError(codeFailedRegistration, "cannot register for event %q: %s sends only %q", clip(reg.event), MonitorCallsign, monitorEvent)
	case ch == nil:
		return nil, newRPCError(codeFailedRegistration, "cannot register over HTTP POST: notifications need a WebSocket connection on %s", JSONRPCPath)
	}
	return nil, ch.register(reg.id)
}

// unregister stops the notifications registered under id on ch:
// {event:"action", id} -> null.
func (e *JSONRPC) unregister(ch *wsConn, params json.RawMessage) (any, *rpcError) {
	reg, rerr := decodeRegistration(params)
	if rerr != nil {
		return nil, rerr
	}
	switch {
	case reg.event != monitorEvent:
		return nil, newRPCError(codeFailedRegistration, "cannot unregister from event %q: %s sends only %q", clip(reg.event), MonitorCallsign, monitorEvent)
	case ch == nil:
		return nil, newRPCError(codeFailedRegistration, "cannot unregister over HTTP POST: registrations belong to a WebSocket connection")
	}
	return nil, ch.unregister(reg.id)
}

// checkCallsign bounds a callsign a client sends.
func checkCallsign(callsign string) *rpcError {
	if len(callsign) > maxCallsignBytes {
		return newRPCError(codeInvalidParams, "invalid params: params.callsign is longer than %d bytes", maxCallsignBytes)
	}
	return nil
}

// decodeParams decodes a params object into dst, naming what is wrong in
// terms of the request's fields; usage is an example of valid params.
func decodeParams(params json.RawMessage, dst any, usage string) *rpcError {
	if params == nil {
		return newRPCError(codeInvalidParams, "invalid params: params are required, e.g. %s", usage)
	}
	dec := json.NewDecoder(bytes.NewReader(params))
	err := dec.Decode(dst)
	if err == nil {
		return nil
	}
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		if typeErr.Field == "" {
			return newRPCError(codeInvalidParams, "invalid params: params must be an object, e.g. %s", usage)
		}
		return newRPCError(codeInvalidParams, "invalid params: params.%s must be %s, got %s", typeErr.Field, describeType(typeErr.Type), typeErr.Value)
	}
	return newRPCError(codeInvalidParams, "invalid params: %v", err)
}

// describeType names a Go type the way the interface documentation does.
func describeType(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return fmt.Sprintf("of type %s", t)
}
