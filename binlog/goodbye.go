package binlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
)

// goodbyeTimeout bounds the connection that ends a stream's dump thread:
// dialling, logging in, KILL and COM_QUIT. go-mysql's own ending waited up
// to ten seconds for its connection.
const goodbyeTimeout = 5 * time.Second

// goodbye ends a replication stream so that the server logs nothing.
//
// A dump thread reads no commands, so its connection cannot send COM_QUIT:
// it is ended by KILL from another connection, as go-mysql's Close does.
// But go-mysql then closes that other connection without COM_QUIT, and
// MariaDB logs "Aborted connection ... (Got an error reading communication
// packets)" for it on every stop of the bridge. goodbye keeps go-mysql
// from dialling during Close (its kill is skipped) and kills the dump
// thread itself, on a connection that ends with COM_QUIT.
type goodbye struct {
	cfg     replication.BinlogSyncerConfig
	log     *slog.Logger
	closing atomic.Bool
}

// errSayingGoodbye refuses go-mysql's dial from Close.
var errSayingGoodbye = errors.New("the stream is closing: its dump thread is killed on a connection that says goodbye")

// newGoodbye wraps cfg's dialer so that it refuses to dial once the
// stream is closing, and keeps what the goodbye connection needs.
func newGoodbye(cfg *replication.BinlogSyncerConfig, log *slog.Logger) *goodbye {
	g := &goodbye{cfg: *cfg, log: log}
	dial := cfg.Dialer
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	g.cfg.Dialer = dial
	cfg.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if g.closing.Load() {
			return nil, errSayingGoodbye
		}
		return dial(ctx, network, addr)
	}
	return g
}

// close closes the syncer, then kills its dump thread on a connection of
// its own that ends with COM_QUIT. Close first: its reader, interrupted by
// the cancelled context, ends quietly, where a kill before would have it
// log the broken connection. A failure is logged at debug level only: the
// stream may have ended because the server is gone.
func (g *goodbye) close(s *replication.BinlogSyncer) {
	g.closing.Store(true)
	id := s.LastConnectionID()
	s.Close()
	if id == 0 {
		return
	}
	if err := g.kill(id); err != nil {
		g.log.Debug("could not end the replication connection's dump thread", "connection_id", id, "err", err)
	}
}

// kill runs KILL CONNECTION id on a connection that then says goodbye.
func (g *goodbye) kill(id uint32) error {
	ctx, cancel := context.WithTimeout(context.Background(), goodbyeTimeout)
	defer cancel()
	addr := net.JoinHostPort(g.cfg.Host, strconv.Itoa(int(g.cfg.Port)))
	c, err := client.ConnectWithDialer(ctx, "tcp", addr, g.cfg.User, g.cfg.Password, "", g.cfg.Dialer, func(c *client.Conn) error {
		c.SetTLSConfig(g.cfg.TLSConfig)
		c.ReadTimeout, c.WriteTimeout = goodbyeTimeout, goodbyeTimeout
		return nil
	})
	if err != nil {
		return err
	}
	defer c.Quit()
	_, err = c.Execute(fmt.Sprintf("KILL CONNECTION %d", id))
	if my := (*mysql.MyError)(nil); errors.As(err, &my) && my.Code == mysql.ER_NO_SUCH_THREAD {
		return nil // the thread ended already
	}
	return err
}
