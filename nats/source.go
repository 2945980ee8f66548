package nats

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/go-mysql-org/go-mysql/mysql"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// A stream records whose history it holds: its source. What names "one
// Jetmon's primary history" across failovers differs by flavor:
//
//   - MySQL: the server_uuid in the first transition's GTID. Every replica
//     of the history keeps it in gtid_executed after any failover, and no
//     other history has it.
//   - MariaDB: nothing in a GTID is unique (two primaries left at the
//     defaults both write 0-1-N), so the source is the GTID domain plus
//     the first transition the stream took: its name and its content (blog,
//     statuses, created_at), which another history's transaction of the
//     same name does not share.
//   - Without GTIDs: the publishing journal's identity.
//
// The record is one line of the stream's description (JetStream 2.9, which
// Debian ships, has no stream metadata), written from the stream's first
// message, so every bridge that writes it writes the same line:
//
//	jetmon-bridge source: mariadb gtid_domain 0; first g/0-1-4/0 blog 12 2->0 at 2026-01-02T03:04:05Z
//
// A bridge whose journal follows another source is refused (checkSource)
// with a sentence naming the stream and both sources.
const sourcePrefix = "jetmon-bridge source: "

// streamSource is a parsed source line.
type streamSource struct {
	kind   string // "mysql", "mariadb" or "journal"
	origin string // the server_uuid, the GTID domain, or the journal identity
	first  string // the first message's id
	event  bridge.Event
}

func (s streamSource) String() string {
	e := s.event
	return fmt.Sprintf("%s %s; first %s blog %d %d->%d at %s", s.kind, s.originWord(), s.first,
		e.BlogID, e.OldStatus, e.NewStatus, e.CreatedAt.UTC().Format(time.RFC3339))
}

func (s streamSource) originWord() string {
	switch s.kind {
	case "mysql":
		return "server_uuid " + s.origin
	case "mariadb":
		return "gtid_domain " + s.origin
	}
	return s.origin
}

// sourceOf derives the source from the stream's first message.
func sourceOf(m *jetstream.RawStreamMsg) (streamSource, error) {
	id := m.Header.Get(natsgo.MsgIdHdr)
	name, err := parseMsgID(id)
	if err != nil {
		return streamSource{}, fmt.Errorf("the stream's first message (sequence %d): %w", m.Sequence, err)
	}
	e, err := decodePayload(m.Data)
	if err != nil {
		return streamSource{}, fmt.Errorf("the stream's first message (sequence %d): %w", m.Sequence, err)
	}
	s := streamSource{first: id, event: e}
	if name.journal != "" {
		s.kind, s.origin = "journal", name.journal
		return s, nil
	}
	s.kind = m.Header.Get(HeaderFlavor)
	s.origin, err = gtidOrigin(s.kind, name.gtid)
	return s, err
}

// gtidOrigin is what names the source in a GTID: MySQL's server_uuid,
// MariaDB's domain.
func gtidOrigin(flavor, gtid string) (string, error) {
	switch flavor {
	case "mysql":
		if uuid, _, ok := strings.Cut(gtid, ":"); ok && uuid != "" {
			return strings.ToLower(uuid), nil
		}
	case "mariadb":
		if domain, _, ok := strings.Cut(gtid, "-"); ok && domain != "" {
			return domain, nil
		}
	default:
		return "", fmt.Errorf("GTID %s comes with flavor %q, not mysql or mariadb", gtid, flavor)
	}
	return "", fmt.Errorf("%q is not a %s GTID", gtid, flavor)
}

// parseSource finds the source line in a stream's description; ok is false
// when there is none.
func parseSource(description string) (s streamSource, ok bool, err error) {
	for _, line := range strings.Split(description, "\n") {
		rest, found := strings.CutPrefix(strings.TrimSpace(line), sourcePrefix)
		if !found {
			continue
		}
		bad := fmt.Errorf("the stream's description has a malformed source line %q; remove it (nats stream edit) and the bridge writes it again", strings.TrimSpace(line))
		head, tail, _ := strings.Cut(rest, "; ")
		h, t := strings.Fields(head), strings.Fields(tail)
		switch {
		case len(h) == 2 && h[0] == "journal":
			s.kind, s.origin = h[0], h[1]
		case len(h) == 3 && (h[0] == "mysql" && h[1] == "server_uuid" || h[0] == "mariadb" && h[1] == "gtid_domain"):
			s.kind, s.origin = h[0], h[2]
		default:
			return s, false, bad
		}
		if len(t) != 7 || t[0] != "first" || t[2] != "blog" || t[5] != "at" {
			return s, false, bad
		}
		s.first = t[1]
		blog, errB := strconv.ParseUint(t[3], 10, 64)
		oldS, newS, _ := strings.Cut(t[4], "->")
		o, errO := strconv.ParseUint(oldS, 10, 8)
		w, errN := strconv.ParseUint(newS, 10, 8)
		at, errT := time.Parse(time.RFC3339, t[6])
		if errB != nil || errO != nil || errN != nil || errT != nil {
			return s, false, bad
		}
		s.event = bridge.Event{BlogID: blog, OldStatus: bridge.Status(o), NewStatus: bridge.Status(w), CreatedAt: at.UTC()}
		return s, true, nil
	}
	return s, false, nil
}

// journalSource describes the source the journal follows, for sentences.
func journalSource(j Journal, identity string) string {
	cp, ok := j.Checkpoint()
	if !ok || cp.GTIDSet == "" {
		return "journal " + identity + " (no GTIDs)"
	}
	return cp.Flavor + " at GTID " + cp.GTIDSet
}

// errForeignSource marks a refusal: the stream holds another source's
// history. Running again changes nothing until an operator acts.
var errForeignSource = errors.New("the stream holds another source's history")

// checkSource refuses a journal that follows another source than the
// stream's: a MySQL journal whose GTIDs never include the stream's
// server_uuid, a MariaDB journal without the stream's GTID domain, another
// journal identity, or a journal holding the stream's first transition
// with another content.
func (p *Publisher) checkSource(src streamSource) error {
	cp, hasCP := p.j.Checkpoint()
	refuse := func(why string) error {
		return fmt.Errorf("%w: stream %s holds the history of %s, but this bridge follows %s (%s): two Jetmons need two streams; give this bridge its own with -publish-stream (and its own -publish-subject)",
			errForeignSource, p.cfg.Stream, src, journalSource(p.j, p.identity), why)
	}
	switch src.kind {
	case "journal":
		if src.origin != p.identity {
			return refuse("another journal: without GTIDs two bridges cannot share a stream")
		}
	case "mysql", "mariadb":
		if !hasCP || cp.GTIDSet == "" {
			return nil // nothing to compare yet; locate refuses a stream it cannot place
		}
		if cp.Flavor != src.kind {
			return refuse("another flavor")
		}
		set, err := mysql.ParseGTIDSet(cp.Flavor, cp.GTIDSet)
		if err != nil {
			return fmt.Errorf("journal checkpoint GTID set %q: %w", cp.GTIDSet, err)
		}
		if !hasOrigin(set, src.kind, src.origin) {
			return refuse("its GTIDs never include " + src.originWord())
		}
	default:
		return nil
	}
	if p.anchorChecked == src.first {
		return nil
	}
	if err := p.sameAsJournal(src.first, src.event); err != nil {
		if errors.Is(err, errNotInJournal) {
			p.anchorChecked = src.first
			return nil
		}
		if errors.Is(err, errOtherEvent) {
			return refuse(err.Error())
		}
		return err
	}
	p.anchorChecked = src.first
	return nil
}

// hasOrigin reports whether a GTID set includes a transaction of origin.
func hasOrigin(set mysql.GTIDSet, flavor, origin string) bool {
	switch s := set.(type) {
	case *mysql.MysqlGTIDSet:
		for sid := range *s {
			if strings.EqualFold(sid.String(), origin) {
				return true
			}
		}
	case *mysql.MariadbGTIDSet:
		for domain := range s.Sets {
			if strconv.FormatUint(uint64(domain), 10) == origin {
				return true
			}
		}
	}
	return false
}

var (
	errNotInJournal = errors.New("the journal holds no event of that name")
	errOtherEvent   = errors.New("another change under the same name")
)

// sameAsJournal compares the stream's event named id (whose content is e)
// with the journal's event of that name: errNotInJournal when the journal
// has none, errOtherEvent when they differ. Two replicas of one primary
// journal a transaction alike (the same row images, created_at from the
// same last_status_change or the primary's binlog timestamp), so a
// difference means another history under the same name.
func (p *Publisher) sameAsJournal(id string, e bridge.Event) error {
	name, err := parseMsgID(id)
	if err != nil {
		return err
	}
	var at uint64
	switch {
	case name.journal != "":
		if name.journal != p.identity || name.id > p.j.LastID() {
			return errNotInJournal
		}
		at = name.id
	default:
		first, count, ok, err := p.j.FindGTID(name.gtid)
		if err != nil {
			return err
		}
		if !ok {
			return errNotInJournal
		}
		if name.ordinal >= count {
			return fmt.Errorf("%w: %s names event %d of transaction %s, which has %d events in this journal", errOtherEvent, id, name.ordinal, name.gtid, count)
		}
		at = first + name.ordinal
	}
	events, err := p.j.EventsAfter(at-1, 1)
	if err != nil {
		return err
	}
	if len(events) != 1 || events[0].ID != at {
		return errNotInJournal // forgotten by retention
	}
	mine := events[0].Event
	if mine.BlogID != e.BlogID || mine.OldStatus != e.OldStatus || mine.NewStatus != e.NewStatus || !mine.CreatedAt.Equal(e.CreatedAt) {
		return fmt.Errorf("%w: the stream's %s is blog %d %d->%d at %s, this journal's event %d is blog %d %d->%d at %s",
			errOtherEvent, id, e.BlogID, e.OldStatus, e.NewStatus, e.CreatedAt.Format(time.RFC3339),
			at, mine.BlogID, mine.OldStatus, mine.NewStatus, mine.CreatedAt.Format(time.RFC3339))
	}
	return nil
}

// readSource returns the stream's source, recording it in the stream's
// description from its first message when it has none yet (nothing to
// record while the stream is empty). A bridge whose credentials may not
// update the stream logs that and goes on: the content checks of
// sameAsJournal still keep it from continuing another history.
func (p *Publisher) readSource(ctx context.Context, js jetstream.JetStream, stream jetstream.Stream) (streamSource, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*p.cfg.AckTimeout)
	defer cancel()
	info, err := stream.Info(ctx)
	if err != nil {
		return streamSource{}, false, fmt.Errorf("read the stream's state: %w", err)
	}
	src, ok, err := parseSource(info.Config.Description)
	if err != nil || ok {
		return src, ok, err
	}
	if info.State.Msgs == 0 {
		return src, false, nil
	}
	first, err := stream.GetMsg(ctx, info.State.FirstSeq, jetstream.WithGetMsgSubject(">"))
	if err != nil {
		return src, false, fmt.Errorf("read the stream's first message (sequence %d or later): %w", info.State.FirstSeq, err)
	}
	if src, err = sourceOf(first); err != nil {
		return src, false, err
	}
	cfg := info.Config
	line := sourcePrefix + src.String()
	if cfg.Description == "" {
		cfg.Description = line
	} else {
		cfg.Description += "\n" + line
	}
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		p.log.Warn("could not record the stream's source in its description; a bridge of another source is then refused only where its journal holds a message of this stream under another content: let the bridge update the stream, or set it yourself",
			"stream", p.cfg.Stream, "error", err, "description_line", line)
	} else {
		p.log.Info("recorded the stream's source", "stream", p.cfg.Stream, "source", src.String())
	}
	return src, true, nil
}
