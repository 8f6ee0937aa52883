#!/bin/bash
# Build lmigtester's own minimal Linux guest kernel from Debian's
# linux-source-6.1 package, unpacked into the build tree (never installed on
# the host: `apt-get download` + `dpkg-deb -x`).
#
#   scripts/build-guest-kernel.sh OUTDIR   (make guest-kernel: OUTDIR = build/guest-kernel)
#
# Outputs:
#   OUTDIR/bzImage    the kernel, bzImage (LZ4-compressed payload)
#   OUTDIR/vmlinux    the same kernel as an uncompressed ELF (the kernel
#                     build's top-level vmlinux)
#   OUTDIR/config     the final .config
#   OUTDIR/variant    "patched-for-emulating-kvm" or "stock": whether
#                     guest-kernel/patches/host-kvm-emulation.patch is applied
#   OUTDIR/build.log  the full output of the last configuration and build
# Work and cache directories:
#   OUTDIR/debs       the downloaded linux-source-6.1 .deb (kept as a cache)
#   OUTDIR/pkgs       the .deb, extracted (removed once its tarball is unpacked)
#   OUTDIR/src        the kernel tree; the build is incremental in it
#
# The configuration is `make tinyconfig` + guest-kernel/lmigtester.config
# (merged with scripts/kconfig/merge_config.sh -n), then `make olddefconfig`;
# the build fails if any option of the fragment did not survive.
#
# One kernel per machine: the patch is applied only when this host's KVM
# emulates guest kernel code (detected as lmigtester does: /sys/module/kvm_pvm
# exists, or /proc/cpuinfo has neither vmx nor svm). GUEST_KERNEL_VARIANT=stock
# or =patched-for-emulating-kvm in the environment overrides the detection.
#
# Cached: OUTDIR/.stamp holds a hash of the inputs (this script, the fragment,
# the patch, the linux-source-6.1 version, the variant, the compiler); when it
# matches and the outputs exist, nothing is done. Delete OUTDIR to start over.
set -euo pipefail

SRC_PKG=linux-source-6.1
TOPDIR=$(cd "$(dirname "$0")/.." && pwd)
SELF=$TOPDIR/scripts/$(basename "$0")
FRAGMENT=$TOPDIR/guest-kernel/lmigtester.config
PATCH=$TOPDIR/guest-kernel/patches/host-kvm-emulation.patch
KARCH=x86_64

die() {
	echo "build-guest-kernel: error: $*" >&2
	exit 1
}
say() { echo "build-guest-kernel: $*"; }

if [ $# -ne 1 ] || [ -z "$1" ]; then
	echo "usage: $0 OUTDIR" >&2
	exit 2
fi
OUT=$1

for tool in apt-get apt-cache dpkg-deb tar xz patch sha256sum make gcc flock; do
	command -v "$tool" >/dev/null 2>&1 ||
		die "'$tool' is missing (this script needs a Debian/apt host; try 'make deps')"
done
[ -f "$FRAGMENT" ] || die "config fragment $FRAGMENT is missing"
[ -f "$PATCH" ] || die "patch $PATCH is missing"

# --- The variant: does this host's KVM emulate guest kernel code? ----------
# shellcheck source=scripts/host-kvm.sh
. "$TOPDIR/scripts/host-kvm.sh"
case ${GUEST_KERNEL_VARIANT:-} in
"")
	if host_emulates_kernel; then
		VARIANT=patched-for-emulating-kvm
	else
		VARIANT=stock
	fi
	;;
stock | patched-for-emulating-kvm) VARIANT=$GUEST_KERNEL_VARIANT ;;
*) die "GUEST_KERNEL_VARIANT='$GUEST_KERNEL_VARIANT': expected 'stock' or 'patched-for-emulating-kvm'" ;;
esac

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
DEBS=$OUT/debs
PKGS=$OUT/pkgs
SRC=$OUT/src
LOG=$OUT/build.log
STAMP=$OUT/.stamp

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

apt_update() {
	say "refreshing the package lists (apt-get update)" >&2
	$SUDO apt-get update -q >&2 ||
		die "'apt-get update' failed: check network access to the Debian mirrors and /etc/apt/sources.list*"
}

# --- The linux-source-6.1 version apt would give us ------------------------
candidate() {
	apt-cache policy "$SRC_PKG" 2>/dev/null | sed -n 's/^ *Candidate: *//p' | grep -v '^(none)$' | head -n 1
}
# The newest cached .deb of the package (for offline rebuilds).
cached_version() {
	local f
	for f in "$DEBS/${SRC_PKG}"_*_all.deb; do
		[ -f "$f" ] && dpkg-deb -f "$f" Version
	done 2>/dev/null | sort -V | tail -n 1
}
SRC_VER=$(candidate || true)
if [ -z "$SRC_VER" ]; then
	SRC_VER=$(cached_version || true)
	if [ -z "$SRC_VER" ]; then
		apt_update
		SRC_VER=$(candidate || true)
		[ -n "$SRC_VER" ] ||
			die "apt knows no package '$SRC_PKG'; is Debian 12 'main' (or bookworm-security) in /etc/apt/sources.list*?"
	else
		say "warning: apt knows no '$SRC_PKG'; using the cached $SRC_VER"
	fi
fi

inputs_hash() {
	{
		echo "variant $VARIANT"
		echo "package $SRC_PKG $SRC_VER"
		echo "compiler $(gcc --version | head -n 1)"
		sha256sum "$SELF" "$FRAGMENT" "$PATCH" | sed "s| $TOPDIR/| |"
	} | sha256sum | cut -d' ' -f1
}
HASH=$(inputs_hash)

up_to_date() {
	local f
	for f in bzImage vmlinux config variant; do
		[ -s "$OUT/$f" ] || return 1
	done
	[ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$HASH" ]
}

# Fast path.
up_to_date && exit 0

# Serialise concurrent builds into the same OUTDIR; recheck after waiting.
exec 9>"$OUT/.lock"
flock 9
up_to_date && exit 0

say "building Linux from $SRC_PKG $SRC_VER ($VARIANT) in $SRC"

# --- Download and unpack the source ----------------------------------------
# Run as root, apt-get download drops privileges to _apt and warns when _apt
# cannot write the target directory; download as root instead.
APT_DL_OPTS=(-q)
[ "$(id -u)" -ne 0 ] || APT_DL_OPTS+=(-o APT::Sandbox::User=root)

# The cached .deb of version $1, if any.
deb_of() {
	local f
	for f in "$DEBS/${SRC_PKG}"_*_all.deb; do
		[ -f "$f" ] && [ "$(dpkg-deb -f "$f" Version 2>/dev/null)" = "$1" ] && echo "$f" && return 0
	done
	return 1
}

# Sets DEB to the .deb of $SRC_VER, downloading it unless cached.
download() {
	if DEB=$(deb_of "$SRC_VER"); then
		return
	fi
	mkdir -p "$DEBS"
	say "downloading $SRC_PKG $SRC_VER (~140 MB)"
	if ! (cd "$DEBS" && apt-get download "${APT_DL_OPTS[@]}" "$SRC_PKG=$SRC_VER"); then
		# Most often: the lists name a version the mirror no longer has.
		say "download failed; refreshing the lists and retrying"
		apt_update
		SRC_VER=$(candidate || true)
		[ -n "$SRC_VER" ] || die "apt knows no package '$SRC_PKG' after 'apt-get update'"
		HASH=$(inputs_hash)
		(cd "$DEBS" && apt-get download "${APT_DL_OPTS[@]}" "$SRC_PKG=$SRC_VER") ||
			die "'apt-get download $SRC_PKG=$SRC_VER' failed: check network access to the Debian mirrors"
	fi
	DEB=$(deb_of "$SRC_VER") || die "apt-get download left no $DEBS/${SRC_PKG}_*_all.deb of version $SRC_VER"
	# Keep only this version in the cache.
	find "$DEBS" -maxdepth 1 -name "${SRC_PKG}_*_all.deb" ! -path "$DEB" -delete
}

SRC_ID=$SRC/.lmigtester-source       # the package version the tree came from
APPLIED=$SRC/.lmigtester-applied.patch # copy of the patch applied to the tree

extract_source() {
	local tarball
	download
	say "unpacking $(basename "$DEB")"
	rm -rf "$PKGS" "$SRC" "$SRC.tmp"
	mkdir -p "$PKGS" "$SRC.tmp"
	dpkg-deb -x "$DEB" "$PKGS" || die "dpkg-deb -x $DEB failed (corrupt download? delete $DEBS and retry)"
	tarball=$PKGS/usr/src/$SRC_PKG.tar.xz
	[ -f "$tarball" ] || die "$SRC_PKG $SRC_VER has no usr/src/$SRC_PKG.tar.xz"
	tar -C "$SRC.tmp" --strip-components=1 -xJf "$tarball" ||
		die "unpacking $tarball failed"
	{ [ -f "$SRC.tmp/Makefile" ] && [ -d "$SRC.tmp/arch/x86" ]; } ||
		die "$tarball does not hold a Linux source tree"
	rm -rf "$PKGS"
	echo "$SRC_VER" >"$SRC.tmp/.lmigtester-source"
	mv "$SRC.tmp" "$SRC"
}

if [ ! -f "$SRC_ID" ] || [ "$(cat "$SRC_ID")" != "$SRC_VER" ]; then
	extract_source
fi

# --- The patch: apply, remove or update it to match the variant ------------
if [ -f "$APPLIED" ] && { [ "$VARIANT" = stock ] || ! cmp -s "$APPLIED" "$PATCH"; }; then
	say "reverting the previously applied patch"
	if patch -d "$SRC" -p1 -R --batch --dry-run -s <"$APPLIED" >/dev/null 2>&1; then
		patch -d "$SRC" -p1 -R --batch --no-backup-if-mismatch -s <"$APPLIED" ||
			die "reverting $APPLIED in $SRC failed; delete $SRC and retry"
		rm -f "$APPLIED"
	else
		say "the tree does not match the recorded patch; unpacking it again"
		extract_source
	fi
fi
if [ "$VARIANT" = patched-for-emulating-kvm ] && [ ! -f "$APPLIED" ]; then
	say "applying $(basename "$PATCH") (this host's KVM emulates guest kernel code)"
	patch -d "$SRC" -p1 --forward --batch --dry-run -s <"$PATCH" >/dev/null ||
		die "$PATCH does not apply to $SRC_PKG $SRC_VER: update the patch (see guest-kernel/README.md)"
	patch -d "$SRC" -p1 --forward --batch --no-backup-if-mismatch -s <"$PATCH" ||
		die "applying $PATCH failed"
	cp "$PATCH" "$APPLIED"
fi

# --- Configure and build ----------------------------------------------------
# Nothing from an enclosing make (variables such as V= or CC=, -j, the
# jobserver) or the environment may leak into the kernel's build.
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES GNUMAKEFLAGS KBUILD_OUTPUT \
	KCONFIG_CONFIG KBUILD_EXTMOD CROSS_COMPILE LLVM O V W C
export ARCH=$KARCH
JOBS=$(nproc 2>/dev/null || echo 1)
kmake() { make -C "$SRC" ARCH=$KARCH "$@"; }

fail() { # $1 = what failed
	echo "build-guest-kernel: error: $1; the last lines of $LOG:" >&2
	tail -n 40 "$LOG" >&2
	exit 1
}

: >"$LOG"
rm -f "$STAMP"
say "configuring: tinyconfig + $(basename "$FRAGMENT")"
{
	kmake tinyconfig &&
		(cd "$SRC" && scripts/kconfig/merge_config.sh -n .config "$FRAGMENT") &&
		kmake olddefconfig
} >>"$LOG" 2>&1 || fail "configuring the kernel failed"

# Kconfig silently drops options whose dependencies are missing: check that
# every line of the fragment made it into the final .config.
bad=0
while IFS= read -r line; do
	if [[ $line =~ ^(CONFIG_[A-Za-z0-9_]+)=(.*)$ ]]; then
		sym=${BASH_REMATCH[1]}
		grep -qxF -- "$line" "$SRC/.config" && continue
	elif [[ $line =~ ^#\ (CONFIG_[A-Za-z0-9_]+)\ is\ not\ set$ ]]; then
		sym=${BASH_REMATCH[1]}
		grep -q "^$sym=" "$SRC/.config" || continue
	else
		continue
	fi
	got=$(grep -E "^$sym=|^# $sym is not set" "$SRC/.config" || true)
	echo "build-guest-kernel: error: fragment asks for '$line', the final .config has '${got:-# $sym is not set (unavailable: a dependency is missing)}'" >&2
	bad=1
done <"$FRAGMENT"
[ "$bad" -eq 0 ] || die "the kernel configuration lost options of $FRAGMENT (see above; the log is $LOG)"

say "compiling with make -j$JOBS (a few minutes the first time; log: $LOG)"
start=$(date +%s)
kmake -j"$JOBS" bzImage >>"$LOG" 2>&1 || fail "the kernel build failed"
say "compiled in $(($(date +%s) - start)) s"

BZ=$SRC/arch/x86/boot/bzImage
[ -s "$BZ" ] || die "the build left no $BZ"
[ -s "$SRC/vmlinux" ] || die "the build left no $SRC/vmlinux"

for f in bzImage vmlinux config variant; do
	rm -f "$OUT/.$f.tmp"
done
cp "$BZ" "$OUT/.bzImage.tmp"
cp "$SRC/vmlinux" "$OUT/.vmlinux.tmp"
cp "$SRC/.config" "$OUT/.config.tmp"
echo "$VARIANT" >"$OUT/.variant.tmp"
for f in bzImage vmlinux config variant; do
	mv -f "$OUT/.$f.tmp" "$OUT/$f"
done
echo "$HASH" >"$STAMP"

say "wrote $OUT/bzImage ($(stat -c %s "$OUT/bzImage") bytes), $OUT/vmlinux ($(stat -c %s "$OUT/vmlinux") bytes): Linux $(kmake -s kernelrelease 2>/dev/null || echo "$SRC_VER"), $VARIANT"
