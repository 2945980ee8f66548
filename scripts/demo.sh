#!/usr/bin/env bash
# Runs jetmon-bridge against a throwaway, binlogging MariaDB in ./.demo.
#
# It seeds two monitors, plays a down/recovery sequence for one of them
# with Jetmon 1's own UPDATE, runs the bridge on 127.0.0.1:7400 with its
# journal in ./.demo/bridge.journal, keeps jetmon-sim changing a few more
# blogs so the journal has live history, and prints requests to try.
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

sim_pid='' bridge_pid='' db_pid='' sock_dir=''

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
	if [ -n "$sim_pid$bridge_pid$db_pid" ]; then
		printf '\n'
		say "stopping the demo"
	fi
	stop_pid "$sim_pid" jetmon-sim 10
	stop_pid "$bridge_pid" jetmon-bridge 15
	stop_pid "$db_pid" mariadbd 60
	if [ -n "$sock_dir" ]; then
		rm -rf "$sock_dir"
	fi
	if [ -d "$demo" ] && [ -n "$db_pid" ]; then
		say "stopped; logs, journal and ground truth are in $demo"
	fi
	exit "$status"
}
trap cleanup EXIT
# Ctrl-C is how the demo ends: a clean stop, not a failure.
trap 'exit 0' INT
trap 'exit 0' TERM

# --- a throwaway MariaDB ---------------------------------------------------

if [ -f "$demo/mysqld.pid" ] && kill -0 "$(cat "$demo/mysqld.pid")" 2>/dev/null; then
	die "a demo MariaDB is already running (pid $(cat "$demo/mysqld.pid")); stop that demo first"
fi
rm -rf "$demo"
mkdir -p "$demo"

sock="$demo/mysqld.sock"
if [ "${#sock}" -gt 100 ]; then # a Unix socket path must stay under 108 bytes
	sock_dir=$(mktemp -d /tmp/jetmon-demo.XXXXXX)
	sock="$sock_dir/mysqld.sock"
fi
as_root=()
if [ "$(id -u)" -eq 0 ]; then
	as_root=(--user=root)
fi

say "installing a MariaDB data directory in .demo/data"
if ! "$install_db" --no-defaults --datadir="$demo/data" --auth-root-authentication-method=normal \
	--skip-test-db "${as_root[@]}" >"$demo/install-db.log" 2>&1; then
	cat "$demo/install-db.log" >&2
	die "mariadb-install-db failed (log above, also in .demo/install-db.log)"
fi

port_in_use() { (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

sql() { # sql STATEMENTS: run as root on the demo database, in UTC
	"$client" --no-defaults --protocol=socket --socket="$sock" -uroot -N -B \
		-e "SET time_zone = '+00:00'; $1" "$db"
}

start_db() { # start_db PORT: start mariadbd and wait until it answers
	local port=$1 i
	"$mariadbd" --no-defaults \
		--datadir="$demo/data" \
		--port="$port" --bind-address=127.0.0.1 \
		--socket="$sock" --pid-file="$demo/mysqld.pid" \
		--log-error="$demo/mariadb.log" \
		--server-id=1 --log-bin="$demo/data/binlog" --binlog-format=ROW \
		--skip-name-resolve --performance-schema=OFF \
		--innodb-buffer-pool-size=64M --innodb-log-file-size=64M \
		"${as_root[@]}" >/dev/null 2>&1 &
	db_pid=$!
	for ((i = 0; i < 600; i++)); do
		if "$client" --no-defaults --protocol=socket --socket="$sock" -uroot -e 'SELECT 1' >/dev/null 2>&1; then
			return 0
		fi
		if ! kill -0 "$db_pid" 2>/dev/null; then
			wait "$db_pid" 2>/dev/null || true
			db_pid=''
			return 1
		fi
		sleep 0.1
	done
	die "mariadbd did not answer within 60s; see .demo/mariadb.log"
}

port=''
for _ in 1 2 3 4 5 6 7 8; do
	candidate=$((20000 + RANDOM % 40000))
	port_in_use "$candidate" && continue
	if start_db "$candidate"; then
		port=$candidate
		break
	fi
done
if [ -z "$port" ]; then
	tail -n 20 "$demo/mariadb.log" >&2 || true
	die "could not start mariadbd (log above, also in .demo/mariadb.log)"
fi
dsn="root@tcp(127.0.0.1:$port)/$db"
say "MariaDB $("$client" --no-defaults --protocol=socket --socket="$sock" -uroot -N -B -e 'SELECT VERSION()') on 127.0.0.1:$port (binlog ROW, server-id 1)"

"$client" --no-defaults --protocol=socket --socket="$sock" -uroot -e "CREATE DATABASE $db"
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
say "created $db.jetpack_monitor_sites with blog $blog1 ($site1) and blog $blog2 ($site2)"

# --- the bridge ------------------------------------------------------------

export JETMON_DSN="$dsn"
export JETMON_JOURNAL="$demo/bridge.journal"
say "starting bin/jetmon-bridge on $addr (JETMON_DSN=$JETMON_DSN JETMON_JOURNAL=.demo/bridge.journal)"
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
# The journal's coverage begins at the next whole second: start the window
# of interest after it, so that the journal vouches for all of it.
sleep 2
since=$(date -u +%Y-%m-%dT%H:%M:%SZ)

# --- a recorded down/recovery of blog 12345, the way Jetmon 1 writes it ------

jetmon_update() { # jetmon_update STATUS BLOG URL: Jetmon 1's own statement
	sql "SET @status = $1, @blog = $2, @url = '$3';
PREPARE jetmon FROM 'UPDATE jetpack_monitor_sites SET site_status=?, last_status_change=NOW() WHERE blog_id=? AND monitor_url=?';
EXECUTE jetmon USING @status, @blog, @url;
SELECT CONCAT('    blog ', blog_id, ': site_status ', site_status, ' at ', DATE_FORMAT(last_status_change, '%Y-%m-%dT%H:%i:%sZ'))
  FROM jetpack_monitor_sites WHERE blog_id = @blog AND monitor_url = @url"
}
say "playing a down/recovery of blog $blog1: 1 -> 0 (down) -> 2 (confirmed down) -> 1 (recovered)"
jetmon_update 0 "$blog1" "$site1"
sleep 2
jetmon_update 2 "$blog1" "$site1"
sleep 3
jetmon_update 1 "$blog1" "$site1"

# --- live history from the simulator ---------------------------------------

say "starting bin/jetmon-sim: blogs $sim_first..$((sim_first + sim_blogs - 1)) at $sim_rate transitions/s (truth in .demo/sim-truth.jsonl)"
bin/jetmon-sim -dsn "$dsn" -create -first-blog "$sim_first" -blogs "$sim_blogs" -rate "$sim_rate" \
	-workers 2 -seed 1 -truth "$demo/sim-truth.jsonl" >"$demo/sim.log" 2>&1 &
sim_pid=$!
sleep 1
if ! kill -0 "$sim_pid" 2>/dev/null; then
	wait "$sim_pid" 2>/dev/null || true
	sim_pid=''
	cat "$demo/sim.log" >&2
	die "jetmon-sim exited (log above, also in .demo/sim.log)"
fi

# --- what to try -----------------------------------------------------------

until=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)
base="http://$addr"
examples=(
	"curl -sS $base/time"
	"curl -sS -G $base/monitors --data-urlencode url=$site1"
	"curl -sS -i '$base/events?blog_id=$blog1&since=$since&until=$until'"
	"curl -sS '$base/events?blog_id=$sim_first&since=$since&until=$until'"
	"curl -sS $base/healthz"
)
printf '\n'
say "the bridge answers on $base; try:"
for cmd in "${examples[@]}"; do
	printf '\n$ %s\n' "$cmd"
	# The commands are built above from fixed values, for display and to run.
	eval "$cmd" || true
	printf '\n'
done
printf '\n'
say "compare /events of blogs $sim_first..$((sim_first + sim_blogs - 1)) with .demo/sim-truth.jsonl; logs: .demo/bridge.log, .demo/sim.log, .demo/mariadb.log"
say "press Ctrl-C to stop"

# Wait until one of the processes ends or a signal arrives.
while kill -0 "$bridge_pid" 2>/dev/null && kill -0 "$sim_pid" 2>/dev/null && kill -0 "$db_pid" 2>/dev/null; do
	sleep 1 &
	wait $! || true
done
for name in bridge sim db; do
	pid_var="${name}_pid"
	if ! kill -0 "${!pid_var}" 2>/dev/null; then
		die "$name (pid ${!pid_var}) exited unexpectedly; see the logs in .demo"
	fi
done
