#!/usr/bin/env bash
# Runs jetmon-bridge as production does: beside a replica of Jetmon's
# primary. Two throwaway, binlogging MariaDB servers live in ./.demo: a
# primary, where Jetmon's writes go, and a replica of it (GTID replication,
# log_slave_updates), whose binlog the bridge follows.
#
# It seeds two monitors, plays a down/recovery sequence for one of them
# with Jetmon 1's own UPDATE on the primary, runs the bridge on
# 127.0.0.1:7400 with its journal in ./.demo/bridge.journal, keeps
# jetmon-sim changing a few more blogs on the primary so the journal has
# live history, and prints requests to try. Its last examples pause the
# replica's SQL thread (the printed STOP SLAVE SQL_THREAD command) and show
# X-Bridge-Coverage turn from journal to mixed while the replica lags, and
# back once it resumes (START SLAVE SQL_THREAD).
# Ctrl-C (or SIGTERM) stops everything; logs, the journal and the
# simulator's ground truth stay in ./.demo until the next run.
#
# Run it with `make demo`, which builds bin/jetmon-bridge and bin/jetmon-sim.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
demo="$root/.demo"
addr=127.0.0.1:7400
db=jetmon_demo
site1=https://bench-target-01.example.com
site2=https://bench-target-02.example.com
blog1=12345
blog2=12346
sim_first=20001
sim_blogs=6
sim_rate=0.5

say() { printf '==> %s\n' "$*"; }
die() {
	printf 'demo: %s\n' "$*" >&2
	exit 1
}

# find_bin NAME...: the first of the names on PATH or in the sbin
# directories, where Debian puts mariadbd.
find_bin() {
	local name dir
	for name in "$@"; do
		if command -v "$name" >/dev/null 2>&1; then
			command -v "$name"
			return 0
		fi
		for dir in /usr/sbin /usr/local/sbin /usr/bin /usr/local/bin; do
			if [ -x "$dir/$name" ]; then
				printf '%s\n' "$dir/$name"
				return 0
			fi
		done
	done
	return 1
}

for bin in bin/jetmon-bridge bin/jetmon-sim; do
	[ -x "$bin" ] || die "$bin is missing: run 'make demo' (or 'make build' first)"
done
command -v curl >/dev/null 2>&1 || die "curl is missing: install it (apt-get install -y curl)"

if ! find_bin mariadbd >/dev/null; then
	if [ "$(id -u)" -eq 0 ]; then
		say "mariadbd not found: installing mariadb-server"
		apt-get update
		DEBIAN_FRONTEND=noninteractive apt-get install -y mariadb-server
	else
		printf 'demo: mariadbd is not installed. Install it with:\n\n  sudo apt-get update && sudo apt-get install -y mariadb-server\n\n' >&2
		exit 1
	fi
fi
mariadbd=$(find_bin mariadbd) || die "mariadbd is still missing after installing mariadb-server"
install_db=$(find_bin mariadb-install-db mysql_install_db) || die "mariadb-install-db is missing: apt-get install -y mariadb-server"
client=$(find_bin mariadb mysql) || die "the mariadb client is missing: apt-get install -y mariadb-client"

# --- clean-up: runs once, on any exit --------------------------------------

sim_pid='' bridge_pid='' primary_pid='' replica_pid='' sock_dir=''

stop_pid() { # stop_pid PID NAME SECONDS: TERM, wait, then KILL
	local pid=$1 name=$2 i
	[ -n "$pid" ] || return 0
	kill -0 "$pid" 2>/dev/null || {
		wait "$pid" 2>/dev/null || true
		return 0
	}
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < $3 * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		printf 'demo: %s (pid %s) did not stop; killing it\n' "$name" "$pid" >&2
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	local status=$?
	trap '' INT TERM
	trap - EXIT
	if [ -n "$sim_pid$bridge_pid$primary_pid$replica_pid" ]; then
		printf '\n'
		say "stopping the demo"
	fi
	stop_pid "$sim_pid" jetmon-sim 10
	stop_pid "$bridge_pid" jetmon-bridge 15
	stop_pid "$replica_pid" "mariadbd (replica)" 60
	stop_pid "$primary_pid" "mariadbd (primary)" 60
	if [ -n "$sock_dir" ]; then
		rm -rf "$sock_dir"
	fi
	if [ -d "$demo" ] && [ -n "$primary_pid" ]; then
		say "stopped; logs, journal and ground truth are in $demo"
	fi
	exit "$status"
}
trap cleanup EXIT
# Ctrl-C is how the demo ends: a clean stop, not a failure.
trap 'exit 0' INT
trap 'exit 0' TERM

# --- two throwaway MariaDB servers: a primary and its replica ---------------

for name in primary replica; do
	pidfile="$demo/$name/mysqld.pid"
	if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
		die "a demo MariaDB ($name) is already running (pid $(cat "$pidfile")); stop that demo first"
	fi
done
rm -rf "$demo"
mkdir -p "$demo/primary" "$demo/replica"

sock_base="$demo"
if [ "${#sock_base}" -gt 80 ]; then # a Unix socket path must stay under 108 bytes
	sock_dir=$(mktemp -d /tmp/jetmon-demo.XXXXXX)
	sock_base="$sock_dir"
fi
primary_sock="$sock_base/primary.sock"
replica_sock="$sock_base/replica.sock"
as_root=()
if [ "$(id -u)" -eq 0 ]; then
	as_root=(--user=root)
fi

# One after the other, each with its own --tmpdir: concurrent bootstraps
# share /tmp.
for name in primary replica; do
	say "installing a MariaDB data directory in .demo/$name/data"
	mkdir -p "$demo/$name/tmp"
	if ! "$install_db" --no-defaults --datadir="$demo/$name/data" --tmpdir="$demo/$name/tmp" \
		--auth-root-authentication-method=normal --skip-test-db "${as_root[@]}" >"$demo/$name/install-db.log" 2>&1; then
		cat "$demo/$name/install-db.log" >&2
		die "mariadb-install-db failed (log above, also in .demo/$name/install-db.log)"
	fi
done

port_in_use() { (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

on() { # on SOCKET ARGS...: the mariadb client as root on one of the servers
	local socket=$1
	shift
	"$client" --no-defaults --protocol=socket --socket="$socket" -uroot "$@"
}

sql() { # sql STATEMENTS: run as root on the primary's demo database, in UTC
	on "$primary_sock" -N -B -e "SET time_zone = '+00:00'; $1" "$db"
}

# start_db NAME SERVER_ID PORT EXTRA...: start one mariadbd, wait until it
# answers, and set NAME_pid. Returns 1 when it exits at once (a port taken
# in the meantime).
start_db() {
	local name=$1 id=$2 port=$3 i pid
	shift 3
	"$mariadbd" --no-defaults \
		--datadir="$demo/$name/data" --tmpdir="$demo/$name/tmp" \
		--port="$port" --bind-address=127.0.0.1 \
		--socket="$sock_base/$name.sock" --pid-file="$demo/$name/mysqld.pid" \
		--log-error="$demo/$name/mariadb.log" \
		--server-id="$id" --log-bin="$demo/$name/data/binlog" --binlog-format=ROW \
		--skip-name-resolve --performance-schema=OFF \
		--innodb-buffer-pool-size=64M --innodb-log-file-size=64M \
		"$@" "${as_root[@]}" >/dev/null 2>&1 &
	pid=$!
	printf -v "${name}_pid" '%s' "$pid"
	for ((i = 0; i < 600; i++)); do
		if on "$sock_base/$name.sock" -e 'SELECT 1' >/dev/null 2>&1; then
			return 0
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			wait "$pid" 2>/dev/null || true
			printf -v "${name}_pid" '%s' ''
			return 1
		fi
		sleep 0.1
	done
	die "mariadbd ($name) did not answer within 60s; see .demo/$name/mariadb.log"
}

# start_on_free_port NAME SERVER_ID EXTRA...: start_db on a random free
# port; prints the port.
start_on_free_port() {
	local name=$1 id=$2 candidate
	shift 2
	for _ in 1 2 3 4 5 6 7 8; do
		candidate=$((20000 + RANDOM % 40000))
		port_in_use "$candidate" && continue
		if start_db "$name" "$id" "$candidate" "$@"; then
			port=$candidate
			return 0
		fi
	done
	tail -n 20 "$demo/$name/mariadb.log" >&2 || true
	die "could not start mariadbd ($name) (log above, also in .demo/$name/mariadb.log)"
}

start_on_free_port primary 1
primary_port=$port
say "primary: MariaDB $(on "$primary_sock" -N -B -e 'SELECT VERSION()') on 127.0.0.1:$primary_port (binlog ROW, server-id 1)"
start_on_free_port replica 2 --log-slave-updates --relay-log=relay
replica_port=$port

repl_password='demo-repl'
on "$primary_sock" -e "CREATE USER 'repl'@'127.0.0.1' IDENTIFIED BY '$repl_password';
  GRANT REPLICATION SLAVE ON *.* TO 'repl'@'127.0.0.1'"
# A 1 s heartbeat keeps an idle replica provably current, so coverage
# trails the present by about a second (docs/guarantees.md, "Coverage on a replica").
on "$replica_sock" -e "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=$primary_port,
  MASTER_USER='repl', MASTER_PASSWORD='$repl_password', MASTER_USE_GTID=slave_pos,
  MASTER_CONNECT_RETRY=1, MASTER_HEARTBEAT_PERIOD=1; START SLAVE"
say "replica: 127.0.0.1:$replica_port (server-id 2) replicates the primary (GTID, log_slave_updates)"

# wait_replica: wait until the replica has applied all the primary wrote.
wait_replica() {
	local pos
	pos=$(on "$primary_sock" -N -B -e 'SELECT @@gtid_binlog_pos')
	[ "$(on "$replica_sock" -N -B -e "SELECT MASTER_GTID_WAIT('$pos', 60)")" = 0 ] ||
		die "the replica did not catch up with the primary within 60s; see .demo/replica/mariadb.log and SHOW SLAVE STATUS"
}

on "$primary_sock" -e "CREATE DATABASE $db"
# Jetmon 1's table, exactly as Jetmon 1 defines it (the same as bridge.Schema in schema.go).
sql "CREATE TABLE IF NOT EXISTS \`jetpack_monitor_sites\` (
  \`jetpack_monitor_site_id\` bigint(20) unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY,
  \`blog_id\` bigint(20) unsigned NOT NULL,
  \`bucket_no\` smallint(2) unsigned NOT NULL,
  \`monitor_url\` varchar(300) NOT NULL,
  \`monitor_active\` tinyint(1) unsigned NOT NULL DEFAULT 1,
  \`site_status\` tinyint(1) unsigned NOT NULL DEFAULT 1,
  \`last_status_change\` timestamp NULL DEFAULT current_timestamp(),
  \`check_interval\` tinyint(1) unsigned NOT NULL DEFAULT 5,
  INDEX \`blog_id_monitor_url\` (\`blog_id\`, \`monitor_url\`),
  INDEX \`bucket_no_monitor_active_check_interval\` (\`bucket_no\`, \`monitor_active\`, \`check_interval\`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
sql "INSERT INTO jetpack_monitor_sites (blog_id, bucket_no, monitor_url) VALUES
  ($blog1, 0, '$site1'), ($blog2, 0, '$site2')"
wait_replica
say "created $db.jetpack_monitor_sites on the primary with blog $blog1 ($site1) and blog $blog2 ($site2); the replica has it"

primary_dsn="root@tcp(127.0.0.1:$primary_port)/$db"
replica_dsn="root@tcp(127.0.0.1:$replica_port)/$db"

# --- the bridge, following the replica --------------------------------------

export JETMON_DSN="$replica_dsn"
export JETMON_JOURNAL="$demo/bridge.journal"
say "starting bin/jetmon-bridge on $addr following the replica (JETMON_DSN=$JETMON_DSN JETMON_JOURNAL=.demo/bridge.journal)"
if port_in_use "${addr##*:}"; then
	die "$addr is already in use: stop whatever listens there (another bridge?) and run the demo again"
fi
bin/jetmon-bridge -addr "$addr" >"$demo/bridge.log" 2>&1 &
bridge_pid=$!
for ((i = 0; ; i++)); do
	if curl -fsS -o /dev/null "http://$addr/healthz" 2>/dev/null; then
		break
	fi
	if ! kill -0 "$bridge_pid" 2>/dev/null; then
		wait "$bridge_pid" 2>/dev/null || true
		bridge_pid=''
		tail -n 20 "$demo/bridge.log" >&2
		die "jetmon-bridge exited during start-up (log above, also in .demo/bridge.log)"
	fi
	[ "$i" -lt 300 ] || die "jetmon-bridge did not answer /healthz within 30s; see .demo/bridge.log"
	sleep 0.1
done
proof=$(grep -o 'coverage_proof=[a-z-]*' "$demo/bridge.log" | head -n 1 || true)
say "the bridge follows a replica: ${proof:-coverage_proof=?} (docs/guarantees.md, "Coverage on a replica")"
# The journal's coverage begins at the next whole second: start the window
# of interest after it, so that the journal vouches for all of it.
sleep 2
since=$(date -u +%Y-%m-%dT%H:%M:%SZ)

# --- a recorded down/recovery of blog 12345, the way Jetmon 1 writes it ------

jetmon_update() { # jetmon_update STATUS BLOG URL: Jetmon 1's own statement, on the primary
	sql "SET @status = $1, @blog = $2, @url = '$3';
PREPARE jetmon FROM 'UPDATE jetpack_monitor_sites SET site_status=?, last_status_change=NOW() WHERE blog_id=? AND monitor_url=?';
EXECUTE jetmon USING @status, @blog, @url;
SELECT CONCAT('    blog ', blog_id, ': site_status ', site_status, ' at ', DATE_FORMAT(last_status_change, '%Y-%m-%dT%H:%i:%sZ'))
  FROM jetpack_monitor_sites WHERE blog_id = @blog AND monitor_url = @url"
}
say "playing a down/recovery of blog $blog1 on the primary: 1 -> 0 (down) -> 2 (confirmed down) -> 1 (recovered)"
jetmon_update 0 "$blog1" "$site1"
sleep 2
jetmon_update 2 "$blog1" "$site1"
sleep 3
jetmon_update 1 "$blog1" "$site1"
wait_replica

# --- live history from the simulator, on the primary -------------------------

say "starting bin/jetmon-sim on the primary: blogs $sim_first..$((sim_first + sim_blogs - 1)) at $sim_rate transitions/s (truth in .demo/sim-truth.jsonl)"
bin/jetmon-sim -dsn "$primary_dsn" -create -first-blog "$sim_first" -blogs "$sim_blogs" -rate "$sim_rate" \
	-workers 2 -seed 1 -truth "$demo/sim-truth.jsonl" >"$demo/sim.log" 2>&1 &
sim_pid=$!
sleep 1
if ! kill -0 "$sim_pid" 2>/dev/null; then
	wait "$sim_pid" 2>/dev/null || true
	sim_pid=''
	cat "$demo/sim.log" >&2
	die "jetmon-sim exited (log above, also in .demo/sim.log)"
fi
wait_replica
# The examples' windows end 3 s before they run: let the recovery above
# fall inside them.
sleep 3

# --- what to try -----------------------------------------------------------

base="http://$addr"
# On a replica, coverage trails the present by about the replica's heartbeat
# (1 s here) plus a second (docs/guarantees.md, "Coverage on a replica"), so the /events
# examples ask for windows ending 3 seconds before they run: the shell
# computes that end each time a command is run, so they can be run again.
until_recent="\$(date -u -d '3 seconds ago' +%Y-%m-%dT%H:%M:%SZ)"
events_url() { printf '"%s/events?blog_id=%s&since=%s&until=%s"' "$base" "$1" "$since" "$until_recent"; }
# The client commands are printed as a reader would type them: the mariadb
# client on PATH, as root over the replica's socket.
mariadb_replica="mariadb -S $replica_sock -uroot"
coverage_cmd="curl -sS -o /dev/null -D - $(events_url "$sim_first") | grep -i '^x-bridge-coverage'"

show() { # show CMD...: print each command, then run it
	local cmd
	for cmd in "$@"; do
		printf '\n$ %s\n' "$cmd"
		# The commands are built above from fixed values, for display and to run.
		eval "$cmd" || true
		printf '\n'
	done
}

printf '\n'
say "the bridge answers on $base; try:"
show "curl -sS $base/time" \
	"curl -sS -G $base/monitors --data-urlencode url=$site1" \
	"curl -sS -i $(events_url "$blog1")" \
	"curl -sS $(events_url "$sim_first")" \
	"$coverage_cmd"

printf '\n'
say "pause replication: the replica stops applying what the primary (and jetmon-sim) keep writing"
# Run through the client found above, shown as the command to type.
printf '\n$ %s\n' "$mariadb_replica -e 'STOP SLAVE SQL_THREAD'"
on "$replica_sock" -e 'STOP SLAVE SQL_THREAD'
say "waiting 5 s, so that a window ending 3 s ago reaches past the moment replication stopped"
sleep 5
say "coverage now ends where the replica stopped applying: /events waits -read-timeout (5 s) for a proof, then answers mixed, never journal"
show "$coverage_cmd" \
	"curl -sS $base/healthz"
say "the timeline hatches what the journal cannot vouch for: the replica's recent past and the future (open it in a browser)"
show "curl -sS -o $demo/timeline.svg \"$base/events/timeline.svg?blog_id=$blog1,$sim_first,$((sim_first + 1))&since=$since&until=\$(date -u -d '1 minute' +%Y-%m-%dT%H:%M:%SZ)\" && echo wrote $demo/timeline.svg"

printf '\n'
say "resume replication: the replica applies the backlog, the journal catches up, coverage is journal again"
printf '\n$ %s\n' "$mariadb_replica -e 'START SLAVE SQL_THREAD'"
on "$replica_sock" -e 'START SLAVE SQL_THREAD'
wait_replica
show "$coverage_cmd"


printf '\n'
say "pause and resume replication yourself with the two commands above (STOP/START SLAVE SQL_THREAD)"
say "compare /events of blogs $sim_first..$((sim_first + sim_blogs - 1)) with .demo/sim-truth.jsonl; logs: .demo/bridge.log, .demo/sim.log, .demo/primary/mariadb.log, .demo/replica/mariadb.log"
say "press Ctrl-C to stop"

# Wait until one of the processes ends or a signal arrives.
alive() { kill -0 "$bridge_pid" && kill -0 "$sim_pid" && kill -0 "$primary_pid" && kill -0 "$replica_pid"; } 2>/dev/null
while alive; do
	sleep 1 &
	wait $! || true
done
for name in bridge sim primary replica; do
	pid_var="${name}_pid"
	if ! kill -0 "${!pid_var}" 2>/dev/null; then
		die "$name (pid ${!pid_var}) exited unexpectedly; see the logs in .demo"
	fi
done
