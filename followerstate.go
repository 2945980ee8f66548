package bridge

// FollowerState is where the binlog follower is in its life. /healthz shows
// it as follower.state and the jetmon_bridge_follower_state metric has one
// series per state.
type FollowerState string

// The follower's states, in the order of its life.
const (
	// FollowerStarting: connecting and checking the server.
	FollowerStarting FollowerState = "starting"
	// FollowerSnapshotting: reading the table to open a coverage span.
	FollowerSnapshotting FollowerState = "snapshotting"
	// FollowerFollowing: streaming the binlog into the journal.
	FollowerFollowing FollowerState = "following"
	// FollowerFailed: the stream ended with an error; the supervisor
	// restarts it unless its restart limits are crossed.
	FollowerFailed FollowerState = "failed"
	// FollowerStopped: ended by shutdown.
	FollowerStopped FollowerState = "stopped"
)

// FollowerStates lists every FollowerState.
var FollowerStates = []FollowerState{FollowerStarting, FollowerSnapshotting, FollowerFollowing, FollowerFailed, FollowerStopped}
