#!/usr/bin/env bash
# First-time provisioning of jetmon-bridge on a server, over ssh:
#
#   ./scripts/provision.sh deploy@your-server
#
# It builds bin/jetmon-bridge for the server (make build), then on the server
# creates the system user jetmon-bridge, /opt/jetmon-bridge/{bin,env}, installs
# the binary and the systemd unit, and enables the unit. It does NOT start the
# service: set JETMON_DSN first, then start it:
#
#   ssh deploy@your-server 'sudo nano /opt/jetmon-bridge/env'
#   ssh deploy@your-server 'sudo systemctl start jetmon-bridge && sudo systemctl status jetmon-bridge'
#
# Running it again is safe: it updates the unit and the binary and keeps an
# existing /opt/jetmon-bridge/env. Later updates: ./scripts/deploy-prod.sh.
#
# Needs: ssh and scp to the server, passwordless sudo there for the ssh user,
# systemd on the server, and Go and make here.
set -euo pipefail

say() { printf '==> %s\n' "$*"; }
die() {
	printf 'provision: %s\n' "$*" >&2
	exit 1
}

[ $# -eq 1 ] || die "usage: $0 user@server"
target=$1
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
for f in systemd/jetmon-bridge.service systemd/env.sample; do
	[ -f "$f" ] || die "$f is missing: run this from a jetmon-bridge checkout"
done

# shellcheck source-path=SCRIPTDIR source=remote.bash
source "$root/scripts/remote.bash"

say "checking $target (ssh, sudo, systemd)"
check_target "$target"
ssh "$target" 'command -v systemctl' </dev/null >/dev/null ||
	die "$target has no systemctl: the bridge's unit needs systemd"

build_for_target

staging=$(ssh "$target" 'mktemp -d /tmp/jetmon-bridge-provision.XXXXXX')
say "copying the binary, the unit and the env sample to $target:$staging"
scp -q bin/jetmon-bridge systemd/jetmon-bridge.service systemd/env.sample "$target:$staging/"

# remote_provision STAGING: runs as root on the server.
remote_provision() {
	set -euo pipefail
	local staging=$1
	# shellcheck disable=SC2064 # expand $staging now: it is local
	trap "rm -rf $(printf '%q' "$staging")" EXIT

	if ! getent group jetmon-bridge >/dev/null; then
		groupadd --system jetmon-bridge
	fi
	if ! id -u jetmon-bridge >/dev/null 2>&1; then
		useradd --system --gid jetmon-bridge --no-create-home --home-dir /nonexistent \
			--shell /usr/sbin/nologin --comment 'jetmon-bridge daemon' jetmon-bridge
		echo "created the system user jetmon-bridge"
	fi

	install -d -m 0755 -o root -g root /opt/jetmon-bridge /opt/jetmon-bridge/bin
	install -m 0755 -o root -g root "$staging/jetmon-bridge" /opt/jetmon-bridge/bin/jetmon-bridge.new
	mv -f /opt/jetmon-bridge/bin/jetmon-bridge.new /opt/jetmon-bridge/bin/jetmon-bridge
	install -m 0644 -o root -g root "$staging/env.sample" /opt/jetmon-bridge/env.sample
	if [ -e /opt/jetmon-bridge/env ]; then
		echo "kept the existing /opt/jetmon-bridge/env"
	else
		# The env file holds DSN passwords and the token: root only (systemd
		# reads it before dropping to the service user).
		install -m 0600 -o root -g root "$staging/env.sample" /opt/jetmon-bridge/env
		echo "installed /opt/jetmon-bridge/env from the sample: set JETMON_DSN in it"
	fi
	install -m 0644 -o root -g root "$staging/jetmon-bridge.service" /etc/systemd/system/jetmon-bridge.service
	systemctl daemon-reload </dev/null
	systemctl enable jetmon-bridge.service </dev/null
	/opt/jetmon-bridge/bin/jetmon-bridge -version </dev/null
}

say "installing on $target"
ssh "$target" 'sudo -n bash -s' <<<"$(declare -f remote_provision); remote_provision $(printf '%q' "$staging")"

say "provisioned $target; the service is installed and enabled but not started. Next:"
cat <<EOF

  ssh $target 'sudo nano /opt/jetmon-bridge/env'     # set JETMON_DSN (and JETMON_TOKEN)
  ssh $target 'sudo systemctl start jetmon-bridge && sudo systemctl status jetmon-bridge'
  ssh $target 'journalctl -u jetmon-bridge -f'       # logs

EOF
