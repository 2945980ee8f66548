package nats

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/nats-io/nats.go/jetstream"
)

// ensureStream returns the configured stream, creating it when it does not
// exist, and checks that it takes the publisher's subjects.
func ensureStream(ctx context.Context, js jetstream.JetStream, cfg Config) (jetstream.Stream, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*cfg.AckTimeout)
	defer cancel()
	s, err := js.Stream(ctx, cfg.Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		s, err = js.CreateStream(ctx, jetstream.StreamConfig{
			Name:        cfg.Stream,
			Description: "jetmon-bridge: site_status transitions, one message per journal event",
			Subjects:    []string{cfg.Subject + ".>"},
			Storage:     jetstream.FileStorage,
			Replicas:    cfg.Replicas,
			Duplicates:  cfg.DedupWindow,
			AllowDirect: true,
		})
		if err == nil {
			cfg.Logger.Info("created NATS stream", "stream", cfg.Stream, "subjects", cfg.Subject+".>", "replicas", cfg.Replicas, "duplicate_window", cfg.DedupWindow)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("open or create stream %s: %w", cfg.Stream, err)
	}
	info := s.CachedInfo()
	if !slices.ContainsFunc(info.Config.Subjects, func(sub string) bool {
		return sub == ">" || sub == cfg.Subject+".>" || sub == cfg.Subject+".*"
	}) {
		return nil, fmt.Errorf("stream %s takes subjects %v, not %s.<blog_id>: add %s.> to its subjects or give the stream that does with -publish-stream", cfg.Stream, info.Config.Subjects, cfg.Subject, cfg.Subject)
	}
	if info.Config.Duplicates < cfg.DedupWindow {
		cfg.Logger.Warn("the stream's duplicate window is shorter than -publish-dedup-window; a lagging second bridge then waits rather than being acknowledged as a duplicate",
			"stream", cfg.Stream, "stream_window", info.Config.Duplicates, "configured", cfg.DedupWindow)
	}
	return s, nil
}
