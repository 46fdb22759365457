#!/usr/bin/env bash
# Builds gko's OCI image without pulling any base image:
#   - a minimal root filesystem from Debian packages (libc6: the C library the binaries link against,
#     libgcc-s1, ca-certificates), unpacked with dpkg-deb, plus gko and certs-tool in /usr/local/bin;
#   - packed by umoci (Debian package `umoci`) as an OCI image: user 65532:65532, PATH, labels
#     org.opencontainers.image.*;
#   - written as an OCI archive target/image/gko-<version>.oci.tar; the image reference is printed.
#
# Usage: image/build.sh [--bin-dir DIR] [--out FILE] [--rootfs-only DIR]
#   --bin-dir DIR      take gko and certs-tool from DIR (e.g. target/debug) instead of
#                      `cargo build --release --locked`
#   --out FILE         archive path (default target/image/gko-<version>.oci.tar)
#   --rootfs-only DIR  only assemble the root filesystem into DIR (for image/Containerfile elsewhere)
# Exit 69 when a tool or a Debian package cannot be had (the message says which).
set -euo pipefail
cd "$(dirname "$0")/.."

unavailable() { echo "image/build.sh: $*" >&2; exit 69; }

bin_dir=""
out=""
rootfs_only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --bin-dir) bin_dir="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --rootfs-only) rootfs_only="$2"; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "image/build.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

version="$(sed -n '/^\[package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)"
[ -n "$version" ] || { echo "image/build.sh: no [package] version in Cargo.toml" >&2; exit 2; }
name="gko"
reference="$name:$version"
out="${out:-target/image/$name-$version.oci.tar}"

for tool in apt-get dpkg-deb dpkg-query strip tar; do
  command -v "$tool" >/dev/null 2>&1 || unavailable "$tool not found (a Debian system is needed)"
done
if [ -z "$rootfs_only" ]; then
  command -v umoci >/dev/null 2>&1 || unavailable "umoci not found: apt-get install umoci"
fi

if [ -z "$bin_dir" ]; then
  cargo build --release --locked -p gko -p certs-tool --bins >&2
  bin_dir="target/release"
fi
for b in gko certs-tool; do
  [ -x "$bin_dir/$b" ] || { echo "image/build.sh: $bin_dir/$b not found" >&2; exit 2; }
done

work="$(mktemp -d "${TMPDIR:-/tmp}/gko-image.XXXXXX")"
trap 'rm -rf "$work"' EXIT
rootfs="${rootfs_only:-$work/rootfs}"
mkdir -p "$rootfs"

# The Debian packages, at the versions installed here (the binaries were linked against this glibc),
# else the candidate version.
debs="target/image/debs"
mkdir -p "$debs"
for pkg in libc6 libgcc-s1 ca-certificates; do
  installed="$(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null || true)"
  if ! ls "$debs/${pkg}_"*.deb >/dev/null 2>&1; then
    ( cd "$debs" && { [ -n "$installed" ] && apt-get download -qq "$pkg=$installed" 2>/dev/null; } \
      || apt-get download -qq "$pkg" ) >&2 \
      || unavailable "cannot download the Debian package $pkg (apt-get update first?)"
  fi
  for deb in "$debs/${pkg}_"*.deb; do dpkg-deb -x "$deb" "$rootfs"; done
done

# What a process never reads: documentation, manuals, locales, iconv modules.
rm -rf "$rootfs/usr/share/doc" "$rootfs/usr/share/man" "$rootfs/usr/share/lintian" \
  "$rootfs/usr/share/locale" "$rootfs/usr/lib/x86_64-linux-gnu/gconv" "$rootfs/usr/lib/aarch64-linux-gnu/gconv" \
  "$rootfs/usr/sbin" "$rootfs/sbin"
# ca-certificates' postinst (update-ca-certificates) is not run: make its bundle the same way.
mkdir -p "$rootfs/etc/ssl/certs"
cat "$rootfs"/usr/share/ca-certificates/mozilla/*.crt > "$rootfs/etc/ssl/certs/ca-certificates.crt"
rm -rf "$rootfs/usr/share/ca-certificates"

mkdir -p "$rootfs/usr/local/bin" "$rootfs/tmp" "$rootfs/etc"
chmod 1777 "$rootfs/tmp"
for b in gko certs-tool; do
  strip -o "$rootfs/usr/local/bin/$b" "$bin_dir/$b"
  chmod 0755 "$rootfs/usr/local/bin/$b"
done
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > "$rootfs/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' > "$rootfs/etc/group"

if [ -n "$rootfs_only" ]; then
  echo "root filesystem assembled in $rootfs_only (build with image/Containerfile)" >&2
  exit 0
fi

created="$(date -u -d "@${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}" +%Y-%m-%dT%H:%M:%SZ)"
revision="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
rootless=()
[ "$(id -u)" = 0 ] || rootless=(--rootless)

layout="$work/oci"
umoci init --layout "$layout"
umoci new --image "$layout:$version"
umoci unpack "${rootless[@]}" --image "$layout:$version" "$work/bundle" >/dev/null
rm -rf "$work/bundle/rootfs"
mv "$rootfs" "$work/bundle/rootfs"
umoci repack --image "$layout:$version" "$work/bundle"
umoci config --image "$layout:$version" \
  --config.user 65532:65532 \
  --config.workingdir /tmp \
  --config.env PATH=/usr/local/bin:/usr/bin:/bin \
  --config.env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
  --config.cmd gko --config.cmd --help \
  --created "$created" --author gko \
  --config.label "org.opencontainers.image.title=$name" \
  --config.label "org.opencontainers.image.description=gko: admission webhook and operator for Gravitee API Management (gko and certs-tool)" \
  --config.label "org.opencontainers.image.version=$version" \
  --config.label "org.opencontainers.image.revision=$revision" \
  --config.label "org.opencontainers.image.created=$created" \
  --config.label "org.opencontainers.image.licenses=Apache-2.0" \
  --config.label "org.opencontainers.image.base.name=scratch" \
  --manifest.annotation "org.opencontainers.image.version=$version" \
  --manifest.annotation "org.opencontainers.image.title=$name"
umoci gc --layout "$layout"
# containerd (kind load image-archive, ctr import) names the image from this annotation.
python3 - "$layout/index.json" "docker.io/library/$reference" <<'PY'
import json, sys
path, full = sys.argv[1], sys.argv[2]
index = json.load(open(path))
for m in index["manifests"]:
    m.setdefault("annotations", {})["io.containerd.image.name"] = full
json.dump(index, open(path, "w"))
PY

mkdir -p "$(dirname "$out")"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="$created" -C "$layout" -cf "$out.tmp" .
mv "$out.tmp" "$out"
echo "image/build.sh: wrote $out ($(du -h "$out" | cut -f1)); image $reference" >&2
echo "$reference"
