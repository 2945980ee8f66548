package supervisor

// The callsigns of the services the daemon supervises: the Monitor interface
// names them (status@Replica, restartlimits), /metrics labels them
// (jetmon_bridge_service_up{callsign}), and operators script against them.
const (
	// CallsignReplica checks that the followed server answers and, when it
	// replicates, that replication runs.
	CallsignReplica = "Replica"
	// CallsignFollower is the binlog follower.
	CallsignFollower = "BinlogFollower"
	// CallsignJournal checks that the journal accepts commits.
	CallsignJournal = "Journal"
	// CallsignPrimary checks the primary in write mode.
	CallsignPrimary = "Primary"
	// CallsignPublisher publishes the journal to NATS (-publish).
	CallsignPublisher = "Publisher"
	// CallsignRetention trims the journal to -retain.
	CallsignRetention = "Retention"
)
