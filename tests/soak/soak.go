package soak

import (
	"context"
	crand "crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/automattic/jetmon-bridge/internal/bridgetest"
	"github.com/automattic/jetmon-bridge/internal/sim"
	"github.com/automattic/jetmon-bridge/internal/testdb"
)

// Config shapes a soak run.
type Config struct {
	// Binary is the jetmon-bridge binary to run (ideally built with -race).
	Binary string
	// Dir holds the run's files (journal, token, the bridge's output).
	Dir string
	// Duration is how long faults are injected; the run goes on until
	// every enabled fault has been injected at least once.
	Duration time.Duration
	// Seed fixes the faults, their timing and the simulator's choices.
	Seed uint64
	// Sites is the number of simulated monitors (default 60).
	Sites int
	// Rate is the simulator's transitions per second (default 100).
	Rate float64
	// Heartbeat is the bridge's -heartbeat (default 500ms).
	Heartbeat time.Duration
	// Faults are the kinds injected (default AllFaults).
	Faults []Fault
	// DiskBytes is the size of the journal's own filesystem (default 64 MiB).
	DiskBytes int64
	// SubWindows is the number of random /events windows checked at the
	// end besides each blog's whole run (default 300).
	SubWindows int
	// Logf receives progress lines; nil discards them.
	Logf func(format string, args ...any)
}

// Summary is what a soak run did and found.
type Summary struct {
	Seed uint64
	// Configured is the run's Config.Duration; Duration is how long the
	// faults' phase took, the first round of every fault kind included.
	Configured time.Duration
	Duration   time.Duration
	Faults     []Outcome
	// Skipped names the fault kinds that could not be injected, and why.
	Skipped map[Fault]string
	// Simulator counts what the simulator did.
	Simulator sim.Stats
	Segments  int
	Verdict   Verdict
	// OutputBytes is the size of everything the bridge wrote.
	OutputBytes int
	// Problems are broken promises outside the verdict (secrets in the
	// output, data races, an unclean exit).
	Problems []string
}

// Failed reports whether any promise was broken.
func (s *Summary) Failed() bool { return len(s.Problems) > 0 || len(s.Verdict.Problems) > 0 }

// Counts returns the number of faults survived by kind.
func (s *Summary) Counts() map[Fault]int {
	m := map[Fault]int{}
	for _, o := range s.Faults {
		m[o.Fault]++
	}
	return m
}

func (s *Summary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "soak summary: seed %d, faults injected for %.1fs\n", s.Seed, s.Duration.Seconds())
	counts := s.Counts()
	var parts []string
	for _, f := range AllFaults {
		if reason, skipped := s.Skipped[f]; skipped {
			parts = append(parts, fmt.Sprintf("%s=skipped", f))
			fmt.Fprintf(&b, "  SKIPPED %s: %s\n", f, reason)
			continue
		}
		parts = append(parts, fmt.Sprintf("%s=%d", f, counts[f]))
	}
	fmt.Fprintf(&b, "  faults survived (%d): %s\n", len(s.Faults), strings.Join(parts, " "))
	effects := map[Fault]map[string]int{}
	for _, o := range s.Faults {
		if effects[o.Fault] == nil {
			effects[o.Fault] = map[string]int{}
		}
		effects[o.Fault][genericEffect(o.Effect)]++
	}
	for _, f := range AllFaults {
		var es []string
		for e, n := range effects[f] {
			es = append(es, fmt.Sprintf("%dx %s", n, e))
		}
		sort.Strings(es)
		for _, e := range es {
			fmt.Fprintf(&b, "    %-18s %s\n", f, e)
		}
	}
	v := s.Verdict
	sim := s.Simulator
	fmt.Fprintf(&b, "  simulator: %d transitions in %d statements (%d multi-row, %d flaps, %d in the same second as the blog's previous), %d non-transition updates, %d segment(s)\n",
		sim.Transitions, sim.Statements, sim.MultiRow, sim.Flaps, sim.SameSecond, sim.Touches+sim.SameStatus, s.Segments)
	fmt.Fprintf(&b, "  transactions: %d with a ROLLBACK TO SAVEPOINT, %d XA PREPARE + XA COMMIT, %d XA COMMIT ONE PHASE, %d XA PREPARE + XA ROLLBACK (not in the truth)\n",
		sim.SavepointRollbacks, sim.XATwoPhase, sim.XAOnePhase, sim.XARollbacks)
	fmt.Fprintf(&b, "  journal: %d events (last id %d) for %d blogs; %d coverage span(s), %d recorded gap(s), %d truth transitions inside gaps\n",
		v.Journaled, v.JournalLastSeq, v.Blogs, len(v.Spans), len(v.Gaps), v.InGaps)
	for i, sp := range v.Spans {
		fmt.Fprintf(&b, "  span %d: [%s, %s) (run %s .. %s)\n", i+1, sp.Start.Format(time.RFC3339), sp.End.Format(time.RFC3339Nano),
			v.Since.Format(time.RFC3339), v.End.Format(time.RFC3339Nano))
	}
	fmt.Fprintf(&b, "  compared with the ground truth of %d transitions: missing %d, duplicated %d; %d windows inside coverage answered journal with the exact truth (%d sub-windows past the stopped bridge's coverage not judged)\n",
		v.Truth, v.Missing, v.Duplicated, v.Windows, v.Unjudged)
	fmt.Fprintf(&b, "  during the faults: %d /events answers (%d requests unanswered), %d said journal and each equals the truth for its window unless listed below\n",
		v.During, v.Unanswered, v.DuringJournal)
	if len(v.PerFault) > 0 {
		fewest := v.PerFault[0]
		for _, f := range v.PerFault {
			if f.Journal < fewest.Journal {
				fewest = f
			}
		}
		fmt.Fprintf(&b, "  per fault: at least %d answers during or right after each fault said journal and were judged (%d wanted), the fewest after %s at %.1fs (of %d answers)\n",
			fewest.Journal, minJudgedPerFault, fewest.Fault, fewest.At.Seconds(), fewest.Answers)
	}
	fmt.Fprintf(&b, "  secrets: the replication password and the token were searched for in %d bytes of the bridge's output\n", s.OutputBytes)
	for _, p := range append(append([]string(nil), s.Problems...), v.Problems...) {
		fmt.Fprintf(&b, "  PROBLEM: %s\n", p)
	}
	if !s.Failed() {
		fmt.Fprintf(&b, "  result: every promise held\n")
	}
	fmt.Fprintf(&b, "  reproduce: SOAK_SEED=%d SOAK_DURATION=%s make soak\n", s.Seed, s.Configured)
	return b.String()
}

// genericEffect drops the numbers from an effect, so alike effects group.
func genericEffect(e string) string {
	var b strings.Builder
	digits := false
	for _, r := range e {
		if r >= '0' && r <= '9' {
			if !digits {
				b.WriteByte('N')
			}
			digits = true
			continue
		}
		digits = false
		b.WriteRune(r)
	}
	return b.String()
}

const (
	soakDB   = "jetmon_soak"
	replUser = "soak_bridge"
	// firstBlog is the first simulated blog.
	firstBlog = 700001
)

func secret(prefix string) string {
	b := make([]byte, 16)
	crand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// ErrNoDatabase is returned when no throwaway MariaDB server can be started.
var ErrNoDatabase = errors.New("soak: no MariaDB server")

// Run soaks the bridge binary. It returns an error when the run could not
// be carried out (no database, a bridge that never recovered, a simulator
// error that leaves the truth unknown); broken promises are in the
// Summary (Failed).
func Run(ctx context.Context, cfg Config) (*Summary, error) {
	if cfg.Sites == 0 {
		cfg.Sites = 60
	}
	if cfg.Rate == 0 {
		cfg.Rate = 100
	}
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = 500 * time.Millisecond
	}
	if cfg.Faults == nil {
		cfg.Faults = AllFaults
	}
	if cfg.DiskBytes == 0 {
		cfg.DiskBytes = 64 << 20
	}
	if cfg.SubWindows == 0 {
		cfg.SubWindows = 300
	}
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	sum := &Summary{Seed: cfg.Seed, Configured: cfg.Duration, Skipped: map[Fault]string{}}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x736f616b))

	// A primary and its replica; the schema, sites and the bridge's own
	// user are created on the primary (Jetmon's writes go there) and reach
	// the replica, which the bridge follows.
	tp, err := testdb.StartTopology(testdb.TopologyOptions{})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoDatabase, err)
	}
	defer tp.Close()
	server := tp.Replica().Server
	if err := tp.Primary.Exec("CREATE DATABASE " + soakDB); err != nil {
		return nil, err
	}
	rootDSN := tp.Primary.DSN(soakDB)
	db, err := sql.Open("mysql", rootDSN)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	sites, err := sim.Setup(ctx, db, firstBlog, cfg.Sites)
	if err != nil {
		return nil, err
	}
	password, token := secret("pw-"), secret("tok-")
	for _, stmt := range []string{
		fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'", replUser, password),
		// SLAVE MONITOR reads the replica's status (MariaDB 10.5+).
		fmt.Sprintf("GRANT REPLICATION SLAVE, REPLICATION CLIENT, SLAVE MONITOR ON *.* TO '%s'@'%%'", replUser),
		fmt.Sprintf("GRANT SELECT ON %s.* TO '%s'@'%%'", soakDB, replUser),
	} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return nil, fmt.Errorf("create the bridge's replication user: %w", err)
		}
	}

	if err := tp.WaitCaughtUp(ctx); err != nil {
		return nil, err
	}

	// The journal on a small filesystem of its own.
	journalDir := filepath.Join(cfg.Dir, "journal-disk")
	disk := journalDir
	if slices.Contains(cfg.Faults, FaultDiskFull) {
		switch err := mountDisk(journalDir, cfg.DiskBytes); {
		case errors.Is(err, errNoMount):
			sum.Skipped[FaultDiskFull] = err.Error()
			disk = ""
		case err != nil:
			return nil, err
		default:
			defer unmountDisk(journalDir)
		}
	} else {
		disk = ""
		os.MkdirAll(journalDir, 0o700)
	}
	journalPath := filepath.Join(journalDir, "bridge.journal")
	tokenFile := filepath.Join(cfg.Dir, "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(cfg.Dir, "bridge.log"))
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	addr, err := bridgetest.FreeAddr()
	if err != nil {
		return nil, err
	}
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "JETMON_") {
			env = append(env, kv)
		}
	}
	br := &bridgetest.Process{
		Binary: cfg.Binary,
		Args: []string{"-journal", journalPath, "-heartbeat", cfg.Heartbeat.String(),
			"-monitor-interval", "250ms", "-token-file", tokenFile, "-read-timeout", "1s"},
		Env:    append(env, "JETMON_DSN="+server.UserDSN(replUser, password, soakDB)),
		Addr:   addr,
		Token:  token,
		Output: &bridgetest.LogBuffer{Tee: logFile},
		Client: &http.Client{Timeout: 15 * time.Second},
	}
	if err := startBridge(ctx, br); err != nil {
		return nil, err
	}
	defer br.Kill()
	// Coverage begins at the whole second after following began.
	since := time.Now().Truncate(time.Second).Add(time.Second)
	time.Sleep(time.Until(since))
	logf("bridge at %s following the replica %s of the primary %s; simulator on the primary at %.0f transitions/s over %d sites",
		addr, server.Addr(), tp.Primary.Addr(), cfg.Rate, cfg.Sites)

	loop := startSimLoop(rootDSN, sim.Options{
		Sites: sites, Workers: 4, Rate: cfg.Rate, MultiRow: 0.2, Flap: 0.3, Noise: 0.1, Transactions: 0.05,
	}, cfg.Seed)
	defer loop.stop()

	var kinds []Fault
	for _, f := range cfg.Faults {
		if _, skipped := sum.Skipped[f]; !skipped {
			kinds = append(kinds, f)
		}
	}
	root, err := sql.Open("mysql", server.DSN(""))
	if err != nil {
		return nil, err
	}
	defer root.Close()
	ch := &chaos{rng: rng, br: br, tp: tp, server: server, root: root, replUser: replUser, sim: loop,
		disk: disk, heartbeat: cfg.Heartbeat, start: time.Now()}
	// Clients ask /events throughout the faults; every answer that says
	// journal is held to the truth once the truth is complete.
	blogs := make([]uint64, len(sites))
	for i, s := range sites {
		blogs[i] = s.BlogID
	}
	asker := bridgetest.NewAsker(br, blogs, since, cfg.Seed)
	asker.Start(2)
	defer asker.Stop()
	// Each fault is followed by questions about windows the journal had
	// vouched for before it, so every fault has answers to judge.
	deadline := time.Now().Add(recoveryLimit)
	for asker.Vouched().IsZero() {
		if time.Now().After(deadline) {
			return sum, fmt.Errorf("no /events answer said journal before the faults began")
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Faults, one after another, dealt from a shuffled deck so that every
	// kind comes up once per round; the first round always completes.
	var deck []Fault
	rounds := 0
	for len(kinds) > 0 {
		if len(deck) == 0 {
			if rounds > 0 && time.Since(ch.start) >= cfg.Duration {
				break
			}
			deck = append(deck, kinds...)
			rng.Shuffle(len(deck), func(i, j int) { deck[i], deck[j] = deck[j], deck[i] })
			rounds++
		}
		if rounds > 1 && time.Since(ch.start) >= cfg.Duration {
			break
		}
		f := deck[0]
		deck = deck[1:]
		// One fault in four strikes while the bridge is still recovering
		// from the previous one; the others wait for it.
		settle := rng.IntN(4) != 0
		covered := asker.Vouched()
		o, err := ch.inject(ctx, f, settle)
		if err != nil {
			return sum, fmt.Errorf("%w\nthe bridge's output ends:\n%s", err, br.Output.Tail(6000))
		}
		for range minJudgedPerFault {
			asker.AskCovered(covered)
		}
		sum.Faults = append(sum.Faults, o)
		logf("%s", o)
		if err := loop.failed(); err != nil {
			return sum, err
		}
		if settle {
			time.Sleep(ch.between(300*time.Millisecond, 1500*time.Millisecond))
		}
	}
	if len(kinds) == 0 {
		time.Sleep(cfg.Duration)
	}
	sum.Duration = time.Since(ch.start)
	during, unanswered := asker.Stop()

	// The truth is complete once the simulator has stopped.
	truth, stats, segments, err := loop.stop()
	if err != nil {
		return sum, fmt.Errorf("the simulator failed, so the ground truth is unknown: %w", err)
	}
	sum.Simulator, sum.Segments = stats, segments
	if err := tp.WaitCaughtUp(ctx); err != nil {
		return sum, fmt.Errorf("the replica never caught up with the primary after the faults: %w", err)
	}
	deadline = time.Now().Add(recoveryLimit)
	for {
		h, code, err := br.Health(ctx)
		if err == nil && code == 200 && h.Follower.State == "following" && h.Journal.Error == "" &&
			h.Follower.BehindBytes != nil && *h.Follower.BehindBytes == 0 {
			break
		}
		if time.Now().After(deadline) {
			return sum, fmt.Errorf("the bridge never caught up after the faults (%+v, %v)", h, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// On a replica coverage trails the present: wait until it passes end.
	end := time.Now()
	for {
		_, cov, err := br.Events(ctx, sites[0].BlogID, since, end)
		if err == nil && cov == "journal" {
			break
		}
		if time.Now().After(deadline) {
			return sum, fmt.Errorf("coverage never reached the end of the run (%s, %v)", cov, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	logf("faults over; simulator committed %d transitions; comparing", len(truth))
	whole, sub, err := ask(ctx, br, sites, since, end, rng, cfg.SubWindows)
	if err != nil {
		return sum, err
	}
	if err := br.Stop(); err != nil {
		sum.Problems = append(sum.Problems, err.Error())
	}
	spans, lastSeq, err := readJournal(journalPath)
	if err != nil {
		return sum, fmt.Errorf("read the journal after the run: %w", err)
	}
	sum.Verdict = judge(truth, whole, sub, spans, lastSeq, since, end)
	sum.Verdict.judgeDuring(during, unanswered, truth, sum.Faults, ch.start)

	out := br.Output.String()
	sum.OutputBytes = len(out)
	for name, s := range map[string]string{"the replication password": password, "the token": token} {
		if strings.Contains(out, s) {
			sum.Problems = append(sum.Problems, name+" appears in the bridge's output")
		}
	}
	for _, bad := range []string{"WARNING: DATA RACE", "panic:", "fatal error:"} {
		if strings.Contains(out, bad) {
			sum.Problems = append(sum.Problems, fmt.Sprintf("the bridge's output contains %q (see %s)", bad, logFile.Name()))
		}
	}
	return sum, nil
}

// startBridge runs the bridge and waits until it is healthy and following.
func startBridge(ctx context.Context, br *bridgetest.Process) error {
	if err := br.Start(); err != nil {
		return err
	}
	return br.WaitReady(ctx, 2*time.Minute)
}
