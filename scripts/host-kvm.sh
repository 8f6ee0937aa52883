# shellcheck shell=sh
# Sourced by the scripts (POSIX sh): facts about this host's KVM.
#
# host_emulates_kernel: true when KVM runs guest kernel code in an
# instruction emulator instead of VT-x/AMD-V (README.md, "Hosts"). The same
# test as lmigtester's cpu_host_emulates_kernel(): the kvm_pvm module is
# loaded, or the CPU flags show neither vmx nor svm (unknown: false).
host_emulates_kernel() {
	[ -e /sys/module/kvm_pvm ] && return 0
	_hek_flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null) || return 1
	# A word match without a pipeline (safe under set -e and pipefail).
	case " $_hek_flags " in
	*" vmx "* | *" svm "*) return 1 ;;
	esac
	return 0
}
