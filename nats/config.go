// Package nats publishes the journal's history to a NATS JetStream stream,
// and rebuilds a journal from such a stream (Restore).
//
// The journal stays the source of truth: the Publisher is a separate
// service that reads committed events from the journal in id order and
// publishes each once, on subject <prefix>.<blog_id>, as the same JSON as
// /events. The follower never waits for it; when NATS is unreachable the
// Publisher fails, is restarted by the supervisor, and catches up from
// where the stream ends.
//
// # Exactly once
//
// Each message carries a Nats-Msg-Id naming the event (identity.go) and
// Nats-Expected-Last-Sequence, the stream sequence the message before it
// got. The server stores a message only directly after that one, so the
// stream holds the events in journal order without gaps, whatever was lost
// in flight. On any failure the Publisher settles what it has in flight,
// reads the stream's last message, finds that event in the journal, and
// publishes from the next one (resume.go). A message that was stored but
// whose acknowledgement was lost is then either recognised as the stream's
// last message, or, when sent again within the stream's duplicate window,
// acknowledged as a duplicate of itself.
//
// # Two bridges, one stream
//
// With GTIDs an event is named by its source transaction's GTID and its
// place in that transaction, which two bridges following two replicas of
// one primary give alike. Both publish the same sequence of names, so
// whichever is first stores a message and the other's copy is either a
// duplicate (within the duplicate window) or refused by the expected last
// sequence (beyond it), after which that bridge finds the stream ahead of
// its journal and waits until its journal passes the stream's end. The
// stream then holds each transition once however far one bridge lags. It
// needs the replicas to commit in the primary's order (MySQL
// replica_preserve_commit_order, MariaDB's in-order parallel replication
// or none), and no other publisher on the stream. Without GTIDs events are
// named by journal identity and id: two bridges cannot share a stream.
package nats

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	natsgo "github.com/nats-io/nats.go"
)

// Defaults of Config.
const (
	DefaultSubject     = "jetmon.transitions"
	DefaultStream      = "JETMON_TRANSITIONS"
	DefaultDedupWindow = 2 * time.Minute
	DefaultAckTimeout  = 5 * time.Second
	DefaultInFlight    = 256
)

// Config says where and how to publish.
type Config struct {
	// URL is the NATS server, nats://host:4222 (or tls://); several may be
	// given separated by commas.
	URL string
	// Subject is the subject prefix: an event of blog B goes to
	// <Subject>.<B>.
	Subject string
	// Stream is the JetStream stream; the Publisher creates it (subjects
	// <Subject>.>, file storage) when it does not exist.
	Stream string
	// Replicas is the replication factor of a stream the Publisher
	// creates (1 or 3 on a cluster); an existing stream keeps its own.
	Replicas int
	// DedupWindow is the duplicate window of a stream the Publisher
	// creates.
	DedupWindow time.Duration
	// CredsFile is a NATS credentials file (JWT and NKey seed).
	CredsFile string
	// TLSCA, TLSCert and TLSKey are PEM files: the CA that signs the
	// server's certificate, and a client certificate and its key.
	TLSCA, TLSCert, TLSKey string
	// AckTimeout bounds the wait for a publish's acknowledgement and for
	// the stream's answers.
	AckTimeout time.Duration
	// InFlight bounds the messages published and not yet acknowledged.
	InFlight int
	// AcceptGapAfter is a GTID: when the stream ends with that
	// transaction and this journal never read it (it lies in the
	// journal's coverage gap, or before the journal began), publish the
	// journal after it anyway, leaving what only the bridge that published
	// it held missing from the stream. Without it such a publisher holds
	// (resume.go): the other bridge may yet publish that stretch.
	AcceptGapAfter string
	// Logger receives state changes; nil means slog.Default().
	Logger *slog.Logger
}

// withDefaults fills the zero fields and checks the rest.
func (c Config) withDefaults() (Config, error) {
	if c.Subject == "" {
		c.Subject = DefaultSubject
	}
	if c.Stream == "" {
		c.Stream = DefaultStream
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.DedupWindow == 0 {
		c.DedupWindow = DefaultDedupWindow
	}
	if c.AckTimeout <= 0 {
		c.AckTimeout = DefaultAckTimeout
	}
	if c.InFlight <= 0 {
		c.InFlight = DefaultInFlight
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	switch {
	case c.URL == "":
		return c, errors.New("the NATS URL is empty: give it as nats://host:4222")
	case strings.ContainsAny(c.Subject, " \t*>") || strings.HasPrefix(c.Subject, ".") || strings.HasSuffix(c.Subject, "."):
		return c, fmt.Errorf("subject prefix %q is not a plain NATS subject such as jetmon.transitions (no spaces, wildcards or edge dots)", c.Subject)
	case strings.ContainsAny(c.Stream, " \t.*>/\\"):
		return c, fmt.Errorf("stream name %q may not contain spaces, dots, wildcards or slashes", c.Stream)
	case c.Replicas < 1 || c.Replicas > 5:
		return c, fmt.Errorf("stream replicas %d: JetStream allows 1 to 5", c.Replicas)
	case c.DedupWindow < 100*time.Millisecond:
		return c, fmt.Errorf("duplicate window %s is too short: give at least 100ms (the default is %s)", c.DedupWindow, DefaultDedupWindow)
	case strings.ContainsAny(c.AcceptGapAfter, " \t,"):
		return c, fmt.Errorf("-publish-accept-gap %q is not one GTID (such as 0-1-4711 or 3e11fa47-71ca-11e1-9e33-c80aa9429562:23)", c.AcceptGapAfter)
	case (c.TLSCert == "") != (c.TLSKey == ""):
		return c, errors.New("a TLS client certificate needs both its certificate and its key file")
	}
	for _, u := range strings.Split(c.URL, ",") {
		p, err := url.Parse(strings.TrimSpace(u))
		if err != nil || p.Host == "" || (p.Scheme != "nats" && p.Scheme != "tls") {
			return c, fmt.Errorf("NATS URL %q is not nats://host:port or tls://host:port", u)
		}
	}
	return c, nil
}

// options are the client's connection options. A connection lives as long
// as one run of the Publisher: when it breaks, the run fails and the next
// one connects afresh and resumes from the stream (NoReconnect), so there
// is one way back from every failure.
func (c Config) options(closed chan<- struct{}) []natsgo.Option {
	opts := []natsgo.Option{
		natsgo.Name("jetmon-bridge"),
		natsgo.NoReconnect(),
		natsgo.Timeout(c.AckTimeout),
		// A silent connection (a network cut) is noticed within 3 pings.
		natsgo.PingInterval(max(c.AckTimeout/2, time.Second)),
		natsgo.MaxPingsOutstanding(2),
		natsgo.ClosedHandler(func(*natsgo.Conn) { close(closed) }),
		natsgo.ErrorHandler(func(*natsgo.Conn, *natsgo.Subscription, error) {}),
	}
	if c.CredsFile != "" {
		opts = append(opts, natsgo.UserCredentials(c.CredsFile))
	}
	if c.TLSCA != "" {
		opts = append(opts, natsgo.RootCAs(c.TLSCA))
	}
	if c.TLSCert != "" {
		opts = append(opts, natsgo.ClientCert(c.TLSCert, c.TLSKey))
	}
	return opts
}

// Check reports what is wrong with c, without connecting.
func (c Config) Check() error {
	_, err := c.withDefaults()
	return err
}
