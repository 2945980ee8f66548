package binlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
)

// Open checks the followed server (Preflight) and returns a follower wired
// as the daemon runs it: the daemon, the benchmarks and the tests build
// their followers with it, so they follow alike. cfg.Info is filled in from
// the preflight; the coverage proof is derived from the followed server's
// role at every connection (role.go), with cfg.Primary as the exact proof
// while the followed server is a replica. Every failure names the fix.
func Open(ctx context.Context, cfg Config) (*Follower, error) {
	if cfg.Replica == nil || cfg.Journal == nil {
		return nil, errors.New("binlog: Open needs Replica and Journal")
	}
	info, err := Preflight(ctx, cfg.Replica.SQL())
	var fp *FilterProblem
	if errors.As(err, &fp) {
		// The filter may have dropped changes while the bridge was away:
		// coverage stays held once it is removed (hold.go).
		log := cfg.Logger
		if log == nil {
			log = slog.Default()
		}
		if herr := holdForPreflight(cfg.Journal, log, fp, cfg.Replica.Config().DBName, cfg.Primary != nil); herr != nil {
			return nil, fmt.Errorf("replica preflight: %w (and recording the hold on coverage it needs: %v)", err, herr)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("replica preflight: %w", err)
	}
	cfg.Info = info
	if cfg.PrimaryFlag == "" {
		cfg.PrimaryFlag = "-primary-dsn"
	}
	if cfg.Primary != nil {
		if !info.GTID {
			return nil, fmt.Errorf("%s needs GTIDs on the replica to compare positions across servers: turn on gtid_mode (MySQL), or drop %s to use the replica-status proof", cfg.PrimaryFlag, cfg.PrimaryFlag)
		}
		// Check the primary's grants at start-up, where a refusal can name
		// the fix; a server that is no longer the primary is only warned
		// about: the replica's own status vouches meanwhile.
		p := PrimaryProof{DB: cfg.Primary.SQL(), Flavor: info.Flavor, Flag: cfg.PrimaryFlag, Host: cfg.Now}
		var np *NotPrimaryError
		if _, err := p.Claim(ctx); errors.As(err, &np) {
			if cfg.Logger != nil {
				cfg.Logger.Warn("COVERAGE PROOF: " + np.Error())
			}
		} else if err != nil {
			return nil, fmt.Errorf("%s: %w (grant REPLICATION CLIENT ON *.*, and on MariaDB 10.5+ SLAVE MONITOR, to its user)", cfg.PrimaryFlag, err)
		}
	}
	return New(cfg)
}
