#!/usr/bin/env bash
# Deploys a new build of jetmon-bridge to a provisioned server, over ssh:
#
#   ./scripts/deploy-prod.sh deploy@your-server
#
# It builds bin/jetmon-bridge for the server (make build), installs it as
# /opt/jetmon-bridge/bin/jetmon-bridge (keeping the previous one as
# jetmon-bridge.prev), restarts the service and waits for GET /healthz to
# answer 200. When the new build does not come up healthy it puts the
# previous binary back, restarts that, and fails.
#
# The journal in /var/lib/jetmon-bridge is kept: the new build resumes from
# the journal's checkpoint. Provision the server first: ./scripts/provision.sh.
#
# Needs: ssh and scp to the server, passwordless sudo and curl there, and Go
# and make here. HEALTH_TIMEOUT (seconds, default 90) bounds the wait.
set -euo pipefail

say() { printf '==> %s\n' "$*"; }
die() {
	printf 'deploy: %s\n' "$*" >&2
	exit 1
}

[ $# -eq 1 ] || die "usage: $0 user@server"
target=$1
health_timeout=${HEALTH_TIMEOUT:-90}
case $health_timeout in
'' | *[!0-9]*) die "HEALTH_TIMEOUT must be a whole number of seconds" ;;
esac
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

# shellcheck source-path=SCRIPTDIR source=remote.bash
source "$root/scripts/remote.bash"

say "checking $target"
check_target "$target"
ssh "$target" 'test -f /etc/systemd/system/jetmon-bridge.service && test -f /opt/jetmon-bridge/env' </dev/null ||
	die "$target is not provisioned: run ./scripts/provision.sh $target first"
ssh "$target" 'command -v curl' </dev/null >/dev/null ||
	die "$target has no curl, which the health check uses: install it there (apt-get install -y curl)"

build_for_target

staging=$(ssh "$target" 'mktemp -d /tmp/jetmon-bridge-deploy.XXXXXX')
say "copying the binary to $target:$staging"
scp -q bin/jetmon-bridge "$target:$staging/"

# remote_deploy STAGING HEALTH_TIMEOUT: runs as root on the server.
remote_deploy() {
	set -euo pipefail
	local staging=$1 timeout=$2
	local bin=/opt/jetmon-bridge/bin/jetmon-bridge
	# shellcheck disable=SC2064 # expand $staging now: it is local
	trap "rm -rf $(printf '%q' "$staging")" EXIT

	# env_value NAME: the last NAME=value in the env file, unquoted.
	env_value() {
		local v
		v=$(sed -n "s/^[[:space:]]*$1=//p" /opt/jetmon-bridge/env | tail -n 1)
		v=${v%\"}
		v=${v#\"}
		printf '%s' "$v"
	}

	# healthy: GET /healthz on the configured address answers 200.
	healthy() {
		local addr host port token
		addr=$(env_value JETMON_ADDR)
		addr=${addr:-127.0.0.1:7400}
		host=${addr%:*}
		port=${addr##*:}
		case $host in
		'' | 0.0.0.0) host=127.0.0.1 ;;
		'[::]') host='[::1]' ;;
		esac
		token=$(env_value JETMON_TOKEN)
		if [ -n "$token" ]; then
			printf 'Authorization: Bearer %s\n' "$token" |
				curl -fsS -m 5 -o /dev/null -H @- "http://$host:$port/healthz" 2>/dev/null
		else
			curl -fsS -m 5 -o /dev/null "http://$host:$port/healthz" 2>/dev/null
		fi
	}

	# wait_healthy: up to $timeout seconds for the service to answer 200.
	wait_healthy() {
		local i
		for ((i = 0; i < timeout; i++)); do
			if healthy; then
				return 0
			fi
			if systemctl is-failed --quiet jetmon-bridge.service </dev/null; then
				return 1
			fi
			sleep 1
		done
		return 1
	}

	install -m 0755 -o root -g root "$staging/jetmon-bridge" "$bin.new"
	"$bin.new" -version </dev/null
	if [ -e "$bin" ]; then
		cp -p "$bin" "$bin.prev"
	fi
	mv -f "$bin.new" "$bin"
	systemctl daemon-reload </dev/null
	echo "restarting jetmon-bridge"
	systemctl restart jetmon-bridge.service </dev/null || true
	if wait_healthy; then
		echo "jetmon-bridge answers /healthz with 200"
		systemctl --no-pager --lines=0 status jetmon-bridge.service </dev/null || true
		return 0
	fi

	echo "jetmon-bridge did not answer /healthz with 200 within ${timeout}s; its last log lines:" >&2
	journalctl -u jetmon-bridge.service -n 40 --no-pager </dev/null >&2 || true
	if [ -e "$bin.prev" ]; then
		echo "rolling back to the previous binary" >&2
		cp -p "$bin.prev" "$bin.new"
		mv -f "$bin.new" "$bin"
		systemctl reset-failed jetmon-bridge.service </dev/null || true
		systemctl restart jetmon-bridge.service </dev/null || true
		if wait_healthy; then
			echo "the previous binary is back and healthy" >&2
		else
			echo "the previous binary is not healthy either: check the replica and /opt/jetmon-bridge/env" >&2
		fi
	fi
	return 1
}

say "installing and restarting on $target"
if ! ssh "$target" 'sudo -n bash -s' <<<"$(declare -f remote_deploy); remote_deploy $(printf '%q %q' "$staging" "$health_timeout")"; then
	die "deploy to $target failed (see above); logs: ssh $target 'journalctl -u jetmon-bridge -n 200'"
fi
say "deployed $(git describe --tags --always --dirty 2>/dev/null || echo 'this build') to $target"
