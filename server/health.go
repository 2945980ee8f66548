package server

import (
	"context"
	"net/http"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/binlog"
)

// Health is the body of /healthz (docs/openapi.yaml, schema Health): its
// keys are a contract operators script against, so every part is a typed
// struct here and nothing adds keys by hand. A part is nil when what it
// reports is off (no journal, no -publish, no hold).
type Health struct {
	Status string `json:"status"`
	// Error says why the replica does not answer (503 only).
	Error string `json:"error,omitempty"`
	// Mode is "replay" when a journal file is served alone.
	Mode         string             `json:"mode,omitempty"`
	Follower     *FollowerHealth    `json:"follower,omitempty"`
	Journal      *JournalHealth     `json:"journal,omitempty"`
	Replication  *ReplicationHealth `json:"replication,omitempty"`
	CoverageHold *binlog.HoldStatus `json:"coverage_hold,omitempty"`
	Reconcile    *ReconcileHealth   `json:"reconcile,omitempty"`
	Publisher    *PublisherHealth   `json:"publisher,omitempty"`
}

// FollowerHealth is the binlog follower.
type FollowerHealth struct {
	State    bridge.FollowerState `json:"state"`
	Position string               `json:"position"`
	Server   string               `json:"server,omitempty"`
	Error    string               `json:"error,omitempty"`
	// CaughtUpAt is when the journal last confirmed it had read all the
	// server had written.
	CaughtUpAt           string `json:"caught_up_at,omitempty"`
	CoverageProof        string `json:"coverage_proof"`
	CoverageProofProblem string `json:"coverage_proof_problem,omitempty"`
	// ServerPosition is the followed server's binlog end; BehindBytes how
	// far the settled position trails it in the same file.
	ServerPosition string  `json:"server_position,omitempty"`
	BehindBytes    *uint32 `json:"behind_bytes,omitempty"`
}

// JournalHealth is the journal: the daemon's (coverage, retention) or a
// replay's (spans, covered_from and covered_to).
type JournalHealth struct {
	Path   string `json:"path"`
	Events uint64 `json:"events"`
	// Coverage is the last span and how many there are; CoverageTrail how
	// far the coverage ends before now, in seconds.
	Coverage      *CoverageHealth  `json:"coverage,omitempty"`
	CoverageTrail *float64         `json:"coverage_trail_seconds,omitempty"`
	Retention     *RetentionHealth `json:"retention,omitempty"`
	Error         string           `json:"error,omitempty"`

	Spans       *int   `json:"spans,omitempty"`
	CoveredFrom string `json:"covered_from,omitempty"`
	CoveredTo   string `json:"covered_to,omitempty"`
}

// CoverageHealth is the journal's last span of coverage.
type CoverageHealth struct {
	Spans int       `json:"spans"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// RetentionHealth is how far back the journal reaches, and with -retain
// the trims.
type RetentionHealth struct {
	Error           string    `json:"error,omitempty"`
	OldestEvent     time.Time `json:"oldest_event,omitzero"`
	RetainedSeconds *float64  `json:"retained_seconds,omitempty"`
	Cutoff          time.Time `json:"cutoff,omitzero"`
	Trimmed         *uint64   `json:"trimmed,omitempty"`
	FirstID         *uint64   `json:"first_id,omitempty"`
	Retain          string    `json:"retain,omitempty"`
	Trims           *uint64   `json:"trims,omitempty"`
	Deleted         *uint64   `json:"deleted,omitempty"`
	LastTrim        time.Time `json:"last_trim,omitzero"`
	Pending         string    `json:"pending,omitempty"`
	TrimError       string    `json:"trim_error,omitempty"`
}

// ReplicationHealth is the followed replica's replication; only Error is
// set until its status has been read once.
type ReplicationHealth struct {
	Error              string   `json:"error,omitempty"`
	IOThread           string   `json:"io_thread,omitempty"`
	SQLThread          string   `json:"sql_thread,omitempty"`
	Running            *bool    `json:"running,omitempty"`
	AppliedAllReceived *bool    `json:"applied_all_received,omitempty"`
	LagSeconds         *float64 `json:"lag_seconds,omitempty"`
	IOError            string   `json:"io_error,omitempty"`
	SQLError           string   `json:"sql_error,omitempty"`
	Problem            string   `json:"problem,omitempty"`
	Filtered           *bool    `json:"filtered,omitempty"`
	VouchedTo          string   `json:"vouched_to,omitempty"`
}

// ReconcileHealth is the reconcile self-check: its interval, the totals
// and the last run.
type ReconcileHealth struct {
	IntervalSeconds  float64             `json:"interval_seconds"`
	Runs             map[string]uint64   `json:"runs"`
	DifferencesTotal uint64              `json:"differences_total"`
	LastSuccess      string              `json:"last_success,omitempty"`
	Last             *ReconcileRunHealth `json:"last,omitempty"`
}

// ReconcileRunHealth is the last reconcile run, its differing rows named by
// site only.
type ReconcileRunHealth struct {
	At                    string   `json:"at"`
	Outcome               string   `json:"outcome"`
	Seconds               float64  `json:"duration_seconds"`
	Rows                  int      `json:"rows"`
	Skipped               int      `json:"skipped_changed_meanwhile"`
	Differences           int      `json:"differences"`
	OtherDifferences      int      `json:"other_differences"`
	Reason                string   `json:"reason,omitempty"`
	Position              string   `json:"position,omitempty"`
	Sites                 []uint64 `json:"sites,omitempty"`
	CoverageTakenBackFrom string   `json:"coverage_taken_back_from,omitempty"`
}

// PublisherHealth is the NATS publisher. A publisher that cannot reach
// NATS does not make the bridge unhealthy: the journal, not the stream, is
// the history, and the publisher catches up later.
type PublisherHealth struct {
	State      string    `json:"state"`
	URL        string    `json:"url"`
	Stream     string    `json:"stream"`
	Position   uint64    `json:"position"`
	Pending    uint64    `json:"pending"`
	Published  uint64    `json:"published"`
	Duplicates uint64    `json:"duplicates"`
	Overtaken  uint64    `json:"overtaken"`
	Error      string    `json:"error,omitempty"`
	ErrorAt    time.Time `json:"error_at,omitzero"`
}

// HealthFunc reports the health of what the server depends on; an error
// makes /healthz a 503 with Status "error" and the error's text.
type HealthFunc func(ctx context.Context) (Health, error)

func (s *Server) getHealth(w http.ResponseWriter, r *http.Request) {
	var body Health
	var err error
	if s.cfg.Health != nil {
		body, err = s.cfg.Health(r.Context())
	}
	if err != nil {
		body.Status, body.Error = "error", err.Error()
		writeJSON(w, http.StatusServiceUnavailable, body)
		return
	}
	body.Status = "ok"
	writeJSON(w, http.StatusOK, body)
}
