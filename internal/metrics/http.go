package metrics

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/mux"
)

// Route labels of requests that match no route template.
const (
	// RouteUnmatched labels requests the router answers 404 or 405.
	RouteUnmatched = "unmatched"
	// RouteOther labels requests whose route cannot be resolved (no router).
	RouteOther = "other"
)

// Instrument counts and times the requests next answers, labelled by the
// gorilla/mux route template ("/events", "/jsonrpc/{callsign}"), never by
// the raw path, so that the label's values stay few whatever clients send.
//
// It works in either place: as router middleware (Router.Use(m.Instrument)),
// where mux has already matched the route, or wrapped around the whole
// handler, authentication included (m.Instrument(api.Handler())), where it
// matches the request against Sources.Router itself; there, requests that
// fail authentication are counted too (code 401).
//
// The response writer it passes on still implements http.Flusher and
// http.Hijacker, so WebSocket upgrades work; an upgraded connection is
// counted with code 101 and left out of the latency histogram, since its
// duration is the session's.
func (m *Metrics) Instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		route := m.route(r)
		method := methodLabel(r.Method)
		rec := &recorder{ResponseWriter: w}
		start := time.Now()
		defer func() {
			p := recover()
			if p != nil && rec.code == 0 {
				rec.code = http.StatusInternalServerError
			}
			if rec.code == 0 {
				rec.code = http.StatusOK
			}
			m.requests.WithLabelValues(route, method, strconv.Itoa(rec.code)).Inc()
			if !rec.hijacked {
				m.duration.WithLabelValues(route, method).Observe(time.Since(start).Seconds())
			}
			if p != nil {
				panic(p)
			}
		}()
		next.ServeHTTP(rec, r)
	})
}

// route is the request's route template, RouteUnmatched or RouteOther.
func (m *Metrics) route(r *http.Request) string {
	if rt := mux.CurrentRoute(r); rt != nil {
		if tmpl, err := rt.GetPathTemplate(); err == nil {
			return tmpl
		}
		return RouteOther
	}
	if m.src.Router == nil {
		return RouteOther
	}
	var match mux.RouteMatch
	if !m.src.Router.Match(r, &match) || match.MatchErr != nil || match.Route == nil {
		return RouteUnmatched
	}
	if tmpl, err := match.Route.GetPathTemplate(); err == nil {
		return tmpl
	}
	return RouteOther
}

// methodLabel keeps the method label to the standard methods.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return method
	}
	return "OTHER"
}

// recorder notes the status code a handler sends.
type recorder struct {
	http.ResponseWriter
	code     int
	hijacked bool
}

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 && code >= 200 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Flush implements http.Flusher when the underlying writer does.
func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		if r.code == 0 {
			r.code = http.StatusOK
		}
		f.Flush()
	}
}

// Hijack implements http.Hijacker for WebSocket upgrades.
func (r *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := r.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("metrics: the response writer does not implement http.Hijacker")
	}
	conn, rw, err := h.Hijack()
	if err == nil {
		r.hijacked = true
		if r.code == 0 {
			r.code = http.StatusSwitchingProtocols
		}
	}
	return conn, rw, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
