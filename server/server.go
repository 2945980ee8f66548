// Package server answers the bridge's HTTP API (README.md, "HTTP API"):
// monitor lookups, event histories and health, plus the write endpoints in
// write mode. It reads from the journal and the store; it never writes to
// the journal.
package server

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/gorilla/mux"
)

// Monitors looks up active monitors by URL.
type Monitors interface {
	ActiveMonitor(ctx context.Context, url string) (bridge.Monitor, error)
}

// Writer creates and deactivates monitors on Jetmon's primary, and looks
// them up there for read-your-writes (see recentWrites).
type Writer interface {
	Monitors
	Activate(ctx context.Context, url string, bucket uint16) (m bridge.Monitor, created bool, err error)
	Deactivate(ctx context.Context, url string) error
}

// Config wires a Server to its sources.
type Config struct {
	// History answers /events.
	History *History
	// Monitors answers GET /monitors.
	Monitors Monitors
	// Writer, when set, turns on POST and DELETE /monitors.
	Writer Writer
	// ReadOnly, when Writer is nil, is the 405 answer's reason for POST and
	// DELETE /monitors; empty names -write and -write-dsn.
	ReadOnly string
	// Bucket is the bucket_no of created monitors.
	Bucket uint16
	// Token, when set, is the bearer token every route requires (see
	// Access); Server.SetToken replaces it while the server runs.
	Token string
	// AllowOrigins are the browser origins that may call the bridge without
	// a token besides its own, as ParseAllowedOrigins returns them; with a
	// Token any origin may.
	AllowOrigins []string
	// Health answers /healthz.
	Health HealthFunc
	// Logger receives request errors; nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Server is the HTTP API. Other packages add routes to Router before serving.
type Server struct {
	cfg    Config
	log    *slog.Logger
	now    func() time.Time
	recent *recentWrites // URLs written in write mode the replica may lag behind
	token  *Token
	Router *mux.Router
}

// New builds the API's routes.
func New(cfg Config) *Server {
	s := &Server{cfg: cfg, log: cfg.Logger, now: cfg.Now, recent: newRecentWrites(maxRecentWrites), token: NewToken(cfg.Token), Router: mux.NewRouter()}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	r := s.Router
	// mux would answer an unclean path ("//time", "/./time") with a bodiless
	// 301, not JSON, which a client follows with GET even for a POST.
	r.SkipClean(true)
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, "no such route")
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusMethodNotAllowed, "method not allowed")
	})
	r.HandleFunc("/time", s.getTime).Methods(http.MethodGet)
	r.HandleFunc("/events", s.getEvents).Methods(http.MethodGet)
	r.HandleFunc("/healthz", s.getHealth).Methods(http.MethodGet)
	r.HandleFunc("/health", s.getHealth).Methods(http.MethodGet)
	r.HandleFunc("/monitors", s.getMonitor).Methods(http.MethodGet)
	if cfg.Writer != nil {
		r.HandleFunc("/monitors", s.postMonitor).Methods(http.MethodPost)
		r.HandleFunc("/monitors", s.deleteMonitor).Methods(http.MethodDelete)
	} else {
		reason := cfg.ReadOnly
		if reason == "" {
			reason = "write endpoints are disabled: start the bridge with -write and -write-dsn pointing at Jetmon's primary"
		}
		r.HandleFunc("/monitors", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Allow", http.MethodGet)
			writeError(w, http.StatusMethodNotAllowed, reason)
		}).Methods(http.MethodPost, http.MethodDelete)
	}
	return s
}

// Handler returns the API with the access rules (token, origins, CORS) in
// front of every route.
func (s *Server) Handler() http.Handler {
	return Access{Token: s.token, AllowOrigins: s.cfg.AllowOrigins}.Handler(s.Router)
}

// SetToken replaces the bearer token (Token.Set): requests admitted before
// it finish, every later one needs the new token.
func (s *Server) SetToken(token string) error { return s.token.Set(token) }
