#!/bin/bash
# Build lmigtester's default guest from Debian packages, without installing
# anything on the host: `apt-get download` + `dpkg-deb -x`.
#
#   scripts/build-guest.sh OUTDIR        (make guest: OUTDIR = build/guest)
#
# Outputs:
#   OUTDIR/vmlinuz               Debian's cloud kernel (bzImage)
#   OUTDIR/initramfs.cpio.gz     busybox (static) + the kernel's virtio modules
#                                + /init that starts a shell on the console
#   OUTDIR/kernel-version.txt    the kernel release (uname -r), one line
# Work and cache directories:
#   OUTDIR/debs                  downloaded .deb files (kept as a cache)
#   OUTDIR/pkgs                  the packages, extracted
#   OUTDIR/rootfs                the initramfs tree
#
# When all outputs exist and are newer than this script, it does nothing
# (`make test` runs it every time). Delete OUTDIR to force a rebuild.
set -eu
set -o pipefail

KERNEL_META=linux-image-cloud-amd64
BUSYBOX_PKG=busybox-static
# Modules for later work (virtio-mmio devices); their dependencies are added.
MODULES="virtio virtio_ring virtio_mmio virtio_blk virtio_net virtio_console virtio_rng"

die() {
	echo "build-guest: error: $*" >&2
	exit 1
}
say() { echo "build-guest: $*"; }

if [ $# -ne 1 ] || [ -z "$1" ]; then
	echo "usage: $0 OUTDIR" >&2
	exit 2
fi
OUT=$1
SELF=$0

up_to_date() {
	local f
	for f in vmlinuz vmlinux initramfs.cpio.gz kernel-version.txt; do
		[ -s "$OUT/$f" ] && [ "$OUT/$f" -nt "$SELF" ] || return 1
	done
}

# Fast path, before anything else.
up_to_date && exit 0

for tool in apt-get apt-cache dpkg-deb cpio gzip find sort; do
	command -v "$tool" >/dev/null 2>&1 ||
		die "'$tool' is missing (this script needs a Debian/apt host; try 'make deps')"
done

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

# Serialise concurrent builds into the same OUTDIR; recheck after waiting.
if command -v flock >/dev/null 2>&1; then
	exec 9>"$OUT/.lock"
	flock 9
	up_to_date && exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

apt_update() {
	say "refreshing the package lists (apt-get update)"
	$SUDO apt-get update -q >&2 ||
		die "'apt-get update' failed: check network access to the Debian mirrors and /etc/apt/sources.list*"
}

# The versioned kernel package the metapackage depends on, e.g.
# linux-image-6.1.0-56-cloud-amd64.
kernel_pkg() {
	apt-cache depends "$KERNEL_META" 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-cloud-amd64\)$/\1/p' | head -n 1
}

KPKG=$(kernel_pkg || true)
if [ -z "$KPKG" ]; then
	apt_update
	KPKG=$(kernel_pkg || true)
	[ -n "$KPKG" ] ||
		die "apt knows no package '$KERNEL_META' (or it has no linux-image-*-cloud-amd64 dependency); is Debian 12 'main' in /etc/apt/sources.list*?"
fi
KVER=${KPKG#linux-image-}
say "kernel package $KPKG ($KVER)"

DEBS=$OUT/debs
mkdir -p "$DEBS"

# Run as root, apt-get download drops privileges to _apt and warns when _apt
# cannot write the target directory; download as root instead.
APT_DL_OPTS=(-q)
[ "$(id -u)" -ne 0 ] || APT_DL_OPTS+=(-o APT::Sandbox::User=root)

# Print the path of the cached .deb of package $1 (newest if several).
cached_deb() {
	local f best=""
	for f in "$DEBS/$1"_*.deb; do
		[ -f "$f" ] || continue
		[ -z "$best" ] || [ "$f" -nt "$best" ] && best=$f
	done
	[ -n "$best" ] && echo "$best"
}

download() {
	local pkg=$1 deb
	if deb=$(cached_deb "$pkg"); then
		echo "$deb"
		return
	fi
	say "downloading $pkg" >&2
	if ! (cd "$DEBS" && apt-get download "${APT_DL_OPTS[@]}" "$pkg" >&2); then
		# Most often: the lists name a version the mirror no longer has.
		say "download of $pkg failed; refreshing the lists and retrying" >&2
		apt_update >&2
		(cd "$DEBS" && apt-get download "${APT_DL_OPTS[@]}" "$pkg" >&2) ||
			die "'apt-get download $pkg' failed: check network access to the Debian mirrors"
	fi
	deb=$(cached_deb "$pkg") || die "apt-get download $pkg left no $DEBS/${pkg}_*.deb"
	echo "$deb"
}

KDEB=$(download "$KPKG")
BDEB=$(download "$BUSYBOX_PKG")

PKGS=$OUT/pkgs
rm -rf "$PKGS"
mkdir -p "$PKGS"
for deb in "$KDEB" "$BDEB"; do
	say "extracting $(basename "$deb")"
	dpkg-deb -x "$deb" "$PKGS" || die "dpkg-deb -x $deb failed (corrupt download? delete $DEBS and retry)"
done

VMLINUZ=$PKGS/boot/vmlinuz-$KVER
MODDIR=$PKGS/lib/modules/$KVER
BUSYBOX=$PKGS/bin/busybox
[ -f "$VMLINUZ" ] || die "$KPKG has no boot/vmlinuz-$KVER"
[ -d "$MODDIR" ] || die "$KPKG has no lib/modules/$KVER"
[ -x "$BUSYBOX" ] || die "$BUSYBOX_PKG has no bin/busybox"
"$BUSYBOX" true 2>/dev/null || die "cannot run $BUSYBOX on this host"

# Debian ships no modules.dep (depmod runs at install time): make one for the
# whole kernel with busybox's depmod, to resolve dependencies.
"$BUSYBOX" depmod -b "$PKGS" "$KVER" || die "busybox depmod failed on $MODDIR"

# modules.dep lines: "kernel/x/y.ko: kernel/a.ko kernel/b.ko". Module names
# treat '-' and '_' alike (virtio_rng is virtio-rng.ko).
modpath() {
	awk -F: -v w="${1//-/_}" '{ n = $1; sub(/.*\//, "", n); sub(/\.ko.*/, "", n);
		gsub(/-/, "_", n); if (n == w) { print $1; exit } }' "$MODDIR/modules.dep"
}
moddeps() {
	awk -F: -v p="$1" '$1 == p { print $2; exit }' "$MODDIR/modules.dep"
}

declare -A SEEN=()
QUEUE=()
for m in $MODULES; do
	p=$(modpath "$m")
	if [ -z "$p" ]; then
		if grep -Eq "/${m//_/[-_]}\.ko" "$MODDIR/modules.builtin" 2>/dev/null; then
			say "module $m is built into the kernel"
			continue
		fi
		die "kernel $KVER has no module $m"
	fi
	QUEUE+=("$p")
done
while [ ${#QUEUE[@]} -gt 0 ]; do
	p=${QUEUE[0]}
	QUEUE=("${QUEUE[@]:1}")
	[ -z "${SEEN[$p]:-}" ] || continue
	SEEN[$p]=1
	for d in $(moddeps "$p"); do
		[ -n "${SEEN[$d]:-}" ] || QUEUE+=("$d")
	done
done

# The initramfs tree.
ROOT=$OUT/rootfs
rm -rf "$ROOT"
mkdir -p "$ROOT"
(cd "$ROOT" && mkdir -p bin sbin usr/bin usr/sbin etc proc sys dev tmp run root \
	"lib/modules/$KVER" && chmod 1777 tmp && chmod 700 root)

cp "$BUSYBOX" "$ROOT/bin/busybox"
n=0
for app in $("$BUSYBOX" --list-full); do
	[ "$app" != bin/busybox ] || continue
	rel=$(echo "$app" | sed 's|[^/]*/|../|g; s|[^/]*$||')
	[ -e "$ROOT/$app" ] || [ -L "$ROOT/$app" ] || ln -s "${rel}bin/busybox" "$ROOT/$app"
	n=$((n + 1))
done
[ "$n" -gt 100 ] || die "busybox --list-full gave only $n applets"

for p in "${!SEEN[@]}"; do
	mkdir -p "$ROOT/lib/modules/$KVER/$(dirname "$p")"
	cp "$MODDIR/$p" "$ROOT/lib/modules/$KVER/$p"
done
for f in modules.builtin modules.builtin.modinfo modules.order; do
	[ ! -f "$MODDIR/$f" ] || cp "$MODDIR/$f" "$ROOT/lib/modules/$KVER/$f"
done
"$BUSYBOX" depmod -b "$ROOT" "$KVER" || die "busybox depmod failed on the initramfs modules"
say "modules: $(for p in "${!SEEN[@]}"; do b=${p##*/}; echo "${b%%.ko*}"; done | sort | tr '\n' ' ')"

cat >"$ROOT/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
EOF
cat >"$ROOT/etc/group" <<'EOF'
root:x:0:
EOF
echo lmigtester >"$ROOT/etc/hostname"
cat >"$ROOT/etc/profile" <<'EOF'
export PATH=/sbin:/usr/sbin:/bin:/usr/bin
PS1='\h:\w\$ '
EOF

cat >"$ROOT/init" <<'EOF'
#!/bin/sh
# /init of lmigtester's default guest (written by scripts/build-guest.sh).
export PATH=/sbin:/usr/sbin:/bin:/usr/bin HOME=/root TERM=linux
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
exec </dev/console >/dev/console 2>&1
hostname -F /etc/hostname
# The virtio-mmio drivers, for the kernel whose modules we carry (the VMM
# announces the devices in the DSDT as LNRO0005). Other kernels (lmigtester's
# minimal one) have them built in.
if [ -d "/lib/modules/$(uname -r)" ]; then
	for m in virtio_mmio virtio_blk virtio_net virtio_console virtio_rng; do
		modprobe "$m" || echo "lmigtester default guest: modprobe $m failed"
	done
fi
ip link set lo up 2>/dev/null
# The console the kernel uses (the last of console=...), e.g. ttyS0.
con=$(cat /sys/class/tty/console/active 2>/dev/null)
con=${con##* }
[ -n "$con" ] || con=ttyS0
echo "lmigtester default guest: busybox shell on $con (poweroff -f or reboot -f to leave)"
# A shell with job control: cttyhack gives it $con as controlling tty.
setsid cttyhack sh -l
echo "lmigtester default guest: shell exited, powering off"
poweroff -f
sleep 1
reboot -f
EOF
chmod 755 "$ROOT/init"

# The initial console for the kernel (opened before /init runs). Needs root.
mknod -m 600 "$ROOT/dev/console" c 5 1 2>/dev/null ||
	say "warning: cannot create dev/console (not root?); the kernel will warn 'unable to open an initial console'"

# The uncompressed ELF vmlinux inside the bzImage: the payload named by the
# setup header (payload_offset at 0x248, payload_length at 0x24c, after the
# setup sectors), decompressed with the tool its magic names. lmigtester
# boots it directly at its 64-bit entry point.
le32() { od -An -tu4 -j "$2" -N4 "$1" | tr -d ' '; }
extract_vmlinux() { # $1 = bzImage, $2 = output
	local sects off len magic
	sects=$(od -An -tu1 -j $((0x1f1)) -N1 "$1" | tr -d ' ')
	[ "$sects" -ne 0 ] || sects=4
	off=$(( (sects + 1) * 512 + $(le32 "$1" $((0x248))) ))
	len=$(le32 "$1" $((0x24c)))
	magic=$(od -An -tx1 -j "$off" -N4 "$1" | tr -d ' ')
	# The last 4 bytes of the payload are the decompressed size, not data.
	dd if="$1" of="$2.z" bs=1M iflag=skip_bytes,count_bytes skip="$off" \
		count=$((len - 4)) status=none || die "cannot read the payload of $1"
	case $magic in
	02214c18) lz4 -dc "$2.z" >"$2" ;;
	fd377a58) xz -dc "$2.z" >"$2" ;;
	1f8b*) gzip -dc "$2.z" >"$2" ;;
	28b52ffd) zstd -dc "$2.z" >"$2" ;;
	*) rm -f "$2.z"; die "unknown kernel compression (magic $magic) in $1" ;;
	esac || die "decompressing the kernel payload of $1 failed"
	rm -f "$2.z"
	[ "$(head -c 4 "$2" | od -An -tx1 | tr -d ' ')" = 7f454c46 ] ||
		die "the payload of $1 is not an ELF vmlinux"
}
VMLINUX_TMP=$OUT/.vmlinux.tmp
extract_vmlinux "$VMLINUZ" "$VMLINUX_TMP"

KVERS_TMP=$OUT/.kernel-version.txt.tmp
INITRD_TMP=$OUT/.initramfs.cpio.gz.tmp
VMLINUZ_TMP=$OUT/.vmlinuz.tmp
(cd "$ROOT" && find . -mindepth 1 | LC_ALL=C sort |
	cpio -o -H newc -R 0:0 --reproducible --quiet) | gzip -9 -n >"$INITRD_TMP" ||
	die "building the initramfs (cpio | gzip) failed"
cp "$VMLINUZ" "$VMLINUZ_TMP"
echo "$KVER" >"$KVERS_TMP"
mv -f "$VMLINUZ_TMP" "$OUT/vmlinuz"
mv -f "$VMLINUX_TMP" "$OUT/vmlinux"
mv -f "$INITRD_TMP" "$OUT/initramfs.cpio.gz"
mv -f "$KVERS_TMP" "$OUT/kernel-version.txt"

say "wrote $OUT/vmlinuz ($(stat -c %s "$OUT/vmlinuz") bytes), $OUT/initramfs.cpio.gz ($(stat -c %s "$OUT/initramfs.cpio.gz") bytes), kernel $KVER"
