# Shared by provision.sh and deploy-prod.sh (sourced, not run): the checks
# both make on the target server, and the build for its architecture. The
# sourcing script defines say and die.

# goarch_of MACHINE: Go's GOARCH for a `uname -m` answer.
goarch_of() {
	case $1 in
	x86_64 | amd64) echo amd64 ;;
	aarch64 | arm64) echo arm64 ;;
	armv7l | armv6l) echo arm ;;
	*) return 1 ;;
	esac
}

# check_target TARGET: ssh and passwordless sudo work there. Sets arch.
check_target() {
	local machine
	machine=$(ssh "$1" 'uname -m') || die "cannot ssh to $1"
	arch=$(goarch_of "$machine") || die "$1 is a $machine machine, which this script does not build for"
	ssh "$1" 'sudo -n true' </dev/null ||
		die "the ssh user on $1 needs passwordless sudo (or run as root@$1)"
}

# build_for_target: bin/jetmon-bridge for linux/$arch.
build_for_target() {
	say "building bin/jetmon-bridge for linux/$arch (make build)"
	GOOS=linux GOARCH=$arch CGO_ENABLED=0 make build
}
