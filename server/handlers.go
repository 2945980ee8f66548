package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	bridge "github.com/automattic/jetmon-bridge"
)

// timeLayout is RFC 3339 with all nine digits of nanoseconds.
const timeLayout = "2006-01-02T15:04:05.000000000Z07:00"

func (s *Server) getTime(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"time": s.now().UTC().Format(timeLayout)})
}

func (s *Server) getMonitor(w http.ResponseWriter, r *http.Request) {
	u, err := single(r.URL.Query(), "url")
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	m, err := s.activeMonitor(r.Context(), u)
	switch {
	case errors.Is(err, bridge.ErrNotFound):
		writeError(w, http.StatusNotFound, "no active monitor for this url")
	case err != nil:
		s.fail(w, r, err)
	default:
		writeJSON(w, http.StatusOK, m.JSON())
	}
}

// activeMonitor answers GET /monitors from the replica, except for a URL
// this bridge wrote on the primary that the replica has not yet been seen
// to answer the same as the primary (read-your-writes): the primary
// answers that, and once the two agree the URL is forgotten.
func (s *Server) activeMonitor(ctx context.Context, url string) (bridge.Monitor, error) {
	m, err := s.cfg.Monitors.ActiveMonitor(ctx, url)
	gen, pending := s.recent.pending(url)
	if !pending || s.cfg.Writer == nil {
		return m, err
	}
	pm, perr := s.cfg.Writer.ActiveMonitor(ctx, url)
	if (err == nil && perr == nil && m == pm) || (errors.Is(err, bridge.ErrNotFound) && errors.Is(perr, bridge.ErrNotFound)) {
		s.recent.settled(url, gen)
	}
	return pm, perr
}

func (s *Server) getEvents(w http.ResponseWriter, r *http.Request) {
	q, err := ParseEventsQuery(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	events, coverage, err := s.cfg.History.Events(r.Context(), q.BlogID, q.Since, q.Until)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set(bridge.CoverageHeader, string(coverage))
	buf := bodyBuffers.Get().(*[]byte)
	body := bridge.AppendEventsJSON((*buf)[:0], events)
	writeBody(w, http.StatusOK, append(body, '\n'))
	if cap(body) <= maxPooledBody { // net/http has copied it
		*buf = body
		bodyBuffers.Put(buf)
	}
}

// bodyBuffers recycles /events answers' buffers: a fresh one per request
// was the handler's largest allocation, and at tens of thousands of
// requests a second the garbage collector's work grows with it.
var bodyBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// maxPooledBody keeps an answer of unusual size from pinning its buffer.
const maxPooledBody = 64 << 10

// maxBodyBytes bounds POST /monitors bodies.
const maxBodyBytes = 4 << 10

func (s *Server) postMonitor(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, "read body: "+err.Error())
		return
	}
	if len(raw) > maxBodyBytes {
		writeError(w, http.StatusBadRequest, "request body exceeds 4096 bytes")
		return
	}
	u, err := ParseMonitorBody(raw)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	m, created, err := s.cfg.Writer.Activate(r.Context(), u, s.cfg.Bucket)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if created {
		s.recent.note(u)
	}
	code := http.StatusOK
	if created {
		code = http.StatusCreated
	}
	writeJSON(w, code, m.JSON())
}

// ParseMonitorBody decodes a POST /monitors body: exactly {"url": "..."}
// with a valid monitor URL. Keys are matched exactly: encoding/json would
// also take "URL" or a repeated "url", which an API that rejects unknown
// fields must not.
func ParseMonitorBody(raw []byte) (string, error) {
	const shape = `body must be a JSON object {"url": "https://..."}`
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return "", errors.New(shape)
	}
	var url *string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return "", errors.New(shape + ": " + err.Error())
		}
		key, _ := tok.(string)
		switch {
		case key != "url":
			return "", fmt.Errorf("unknown field %q: the body holds only \"url\"", clip(key))
		case url != nil:
			return "", errors.New(`"url" is given twice`)
		}
		var v string
		if err := dec.Decode(&v); err != nil {
			return "", errors.New(`"url" must be a string`)
		}
		url = &v
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return "", errors.New(shape + ": " + err.Error())
	}
	if _, err := dec.Token(); err != io.EOF {
		return "", errors.New("body must hold a single JSON object")
	}
	if url == nil {
		return "", errors.New(`body lacks "url"`)
	}
	if err := ValidateMonitorURL(*url); err != nil {
		return "", err
	}
	return *url, nil
}

func (s *Server) deleteMonitor(w http.ResponseWriter, r *http.Request) {
	u, err := single(r.URL.Query(), "url")
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	err = s.cfg.Writer.Deactivate(r.Context(), u)
	if err == nil {
		s.recent.note(u)
	}
	switch {
	case errors.Is(err, bridge.ErrNotFound):
		writeError(w, http.StatusNotFound, "no monitor has this url")
	case err != nil:
		s.fail(w, r, err)
	default:
		writeNoContent(w)
	}
}

// fail answers an internal error: 504 when the request's time ran out, 503
// otherwise (the database is what fails), and logs it.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "error", err)
	code := http.StatusServiceUnavailable
	if errors.Is(err, context.DeadlineExceeded) {
		code = http.StatusGatewayTimeout
	}
	writeError(w, code, err.Error())
}
