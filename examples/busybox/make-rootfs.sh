#!/bin/sh
# Makes rootfs.tar beside this script: a minimal root filesystem around Debian's static
# busybox (package busybox-static), one symlink per applet, /etc/passwd and /etc/group,
# /tmp with the sticky bit. Packed with sorted names, mtime 0 and numeric root ownership,
# so the same busybox binary always gives the same bytes. No network needed.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
busybox=${BUSYBOX:-/bin/busybox}
[ -x "$busybox" ] || { echo "make-rootfs.sh: $busybox not found (apt-get install busybox-static)" >&2; exit 1; }
"$busybox" --list >/dev/null 2>&1 || { echo "make-rootfs.sh: $busybox is not a busybox binary" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/rootfs
mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/root" "$root/home" "$root/var" "$root/usr/bin" "$root/proc" "$root/sys" "$root/dev"
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
  [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
cat > "$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
app:x:1000:1000:app:/home/app:/bin/sh
PASSWD
cat > "$root/etc/group" <<'GROUP'
root:x:0:
daemon:x:1:
staff:x:50:app
app:x:1000:
nogroup:x:65534:
GROUP
mkdir -p "$root/home/app"
chmod 0755 "$root/bin" "$root/etc" "$root/usr" "$root/usr/bin" "$root/var" "$root/home" "$root/home/app" "$root/proc" "$root/sys" "$root/dev"
chmod 0700 "$root/root"
chmod 1777 "$root/tmp"
chmod 0644 "$root/etc/passwd" "$root/etc/group"
chmod 0755 "$root/bin/busybox"
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=gnu \
  -C "$root" -cf "$work/rootfs.tar" bin dev etc home proc root sys tmp usr var
mv "$work/rootfs.tar" "$here/rootfs.tar"
echo "$here/rootfs.tar"
