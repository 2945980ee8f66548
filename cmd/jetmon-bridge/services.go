package main

// The callsigns of the services the daemon supervises: the Monitor interface
// names them (status@Replica, restartlimits), /metrics labels them
// (jetmon_bridge_service_up{callsign}), and operators script against them.
const (
	// serviceReplica checks that the followed server answers and, when it
	// replicates, that replication runs.
	serviceReplica = "Replica"
	// serviceFollower is the binlog follower.
	serviceFollower = "BinlogFollower"
	// serviceJournal checks that the journal accepts commits.
	serviceJournal = "Journal"
	// servicePrimary checks the primary in write mode.
	servicePrimary = "Primary"
	// servicePublisher publishes the journal to NATS (-publish).
	servicePublisher = "Publisher"
	// serviceRetention trims the journal to -retain.
	serviceRetention = "Retention"
)
