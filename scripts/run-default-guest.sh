#!/bin/sh
# Boot the default guest (Debian's cloud kernel + busybox initramfs, built by
# scripts/build-guest.sh) with lmigtester. `make run` calls this.
#
#   scripts/run-default-guest.sh [BUILD]     (BUILD defaults to build)
#   RUN_ARGS='-m 512M' make run              extra arguments for `lmigtester run`
#                                            (shell words: quotes work)
#
# Exits with lmigtester's status.
set -eu

BUILD=${1:-build}
VMM=$BUILD/lmigtester
KERNEL=$BUILD/guest/vmlinuz
INITRD=$BUILD/guest/initramfs.cpio.gz
RUN_ARGS=${RUN_ARGS:-}

for f in "$VMM" "$KERNEL" "$INITRD"; do
	if [ ! -f "$f" ]; then
		echo "run-default-guest: $f is missing (run 'make run', or 'make all guest')" >&2
		exit 1
	fi
done

# Does this host's KVM run guest kernel code in its instruction emulator
# (README.md, "Hosts")? True on kvm_pvm, and whenever the
# CPU shows neither VT-x nor AMD-V.
# shellcheck source=scripts/host-kvm.sh
. "$(dirname "$0")/host-kvm.sh"

# Ctrl-C belongs to the VMM (and the guest): wait for it and report its status.
# (A handler, not '', so the VMM does not inherit an ignored SIGINT.)
trap ':' INT QUIT

# RUN_ARGS is parsed like shell words, so quoting works:
#   RUN_ARGS="-p 'console=ttyS0 loglevel=8'"
if ! (eval "set -- $RUN_ARGS") 2>/dev/null; then
	echo "run-default-guest: cannot parse RUN_ARGS (unbalanced quotes?): $RUN_ARGS" >&2
	exit 1
fi
eval "set -- $RUN_ARGS"
if host_emulates_kernel; then
	cat >&2 <<'EOF'
run-default-guest: this host's KVM emulates guest kernel code (README.md, "Hosts"):
  Linux's own decompressor runs for minutes here before the kernel prints
  anything, and the guest will stop at the first instruction the emulator
  cannot run. Ctrl-A x quits at any time.
EOF
fi
set +e
"$VMM" run -k "$KERNEL" -i "$INITRD" "$@"
status=$?
set -e

if [ "$status" -eq 2 ] && host_emulates_kernel; then
	cat >&2 <<'EOF'

run-default-guest: the guest stopped because this host's KVM cannot run it.
  This host's KVM (kvm_pvm, or no VT-x/AMD-V in /proc/cpuinfo: KVM inside a VM)
  runs guest kernel code in an instruction emulator, and that emulator cannot
  execute some instructions (int3, cmpxchg16b, xsave/xrstor, popcnt, ...).
  So Linux prints its boot log and stops at the first such instruction; the
  VMM reported that emulation failure above. This is the host, not lmigtester:
  on a VT-x/AMD-V host the same command lands in a busybox shell.
  The tests use our own test guest instead of Linux (see README.md).
EOF
fi
exit "$status"
