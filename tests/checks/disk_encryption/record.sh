# disk_encryption cases, sourced by tests/checks/record_all.sh (uses record, $W, $ONLY, FAILED).
#
# This machine's kernel has no device mapper, so no dm-crypt/LUKS device can be made here:
# the crypt paths of the check have no recorded case (see the check's docstring). What is
# real: this machine's unencrypted root (virtio /dev/vda), and ext4 file systems in image
# files, loop-mounted inside a private mount namespace on /srv, with fscrypt policies set by
# e4crypt (e2fsprogs). Nothing is mounted in the machine's own namespace; the loop devices
# are detached when the namespace goes (mount -o loop sets autoclear).
#
# Needs: mkfs.ext4 and e4crypt (e2fsprogs), losetup/mount with loop support.

DE_TOOLS_OK=1
for tool in mkfs.ext4 e4crypt losetup; do
  command -v "$tool" >/dev/null || { echo "disk_encryption: $tool missing, fscrypt cases skipped" >&2; DE_TOOLS_OK=0; }
done
[ -e /dev/loop-control ] || { echo "disk_encryption: no loop devices, fscrypt cases skipped" >&2; DE_TOOLS_OK=0; }

# fscrypt_image IMG "ENCRYPTED_DIRS" "PLAIN_DIRS" ["FIFOS"]: an ext4 image (mkfs -O encrypt)
# whose ENCRYPTED_DIRS get an fscrypt v1 policy from e4crypt (a throw-away passphrase), each
# with one file written through the policy; PLAIN_DIRS are ordinary directories; FIFOS are
# named pipes (mkfifo) at the top level.
fscrypt_image() {
  local img=$1 encrypted=$2 plain=$3 fifos=${4:-}
  truncate -s 32M "$img"
  mkfs.ext4 -q -F -O encrypt "$img"
  unshare --mount --propagation private bash -euc '
    img=$1 encrypted=$2 plain=$3 fifos=$4 mnt=$(mktemp -d)
    mount -o loop "$img" "$mnt"
    for d in $encrypted; do
      mkdir "$mnt/$d"
      printf "%s\n" "throwaway-fscrypt-passphrase" | e4crypt add_key -S 0x5eedf00d5eedf00d "$mnt/$d" >/dev/null
      echo "data" >"$mnt/$d/file"
    done
    for d in $plain; do mkdir "$mnt/$d"; echo "data" >"$mnt/$d/file"; done
    for f in $fifos; do mkfifo "$mnt/$f"; done
    umount "$mnt"; rmdir "$mnt"
  ' _ "$img" "$encrypted" "$plain" "$fifos"
}

# record_with_loop CASE IMG MOUNTPOINT ARGS...: record.py inside a namespace where IMG is
# loop-mounted read-only at MOUNTPOINT.
record_with_loop() {
  local case=$1 img=$2 mountpoint=$3
  shift 3
  # shellcheck disable=SC2053
  [[ $case == $ONLY ]] || return 0
  echo "=== disk_encryption/$case"
  unshare --mount --propagation private bash -euc '
    img=$1 mountpoint=$2; shift 2
    mkdir -p "$mountpoint" 2>/dev/null || true
    mount -o loop,ro "$img" "$mountpoint"
    exec python3 tests/checks/record.py "$@"
  ' _ "$img" "$mountpoint" disk_encryption "$case" "$@" || FAILED+=("disk_encryption/$case")
}

record disk_encryption fail_root_unencrypted \
  --source "this machine as it is: root ext4 directly on the virtio disk /dev/vda (no partition table, no dm-crypt layer: the kernel has no device mapper), /run/netns a bind mount of it, no swap, no /etc/crypttab, zram0 unused; nothing planted" \
  --expect-status fail --expect-summary "/ on /dev/vda (ext4) is not encrypted" \
  --expect-value storage_checked=1 --expect-value storage_unencrypted=1

record disk_encryption manual_provider_encrypted --param 'provider_encrypted=["vda"]' \
  --source "this machine as it is (root ext4 on the virtio disk /dev/vda, no dm-crypt), with the inventory saying the provider encrypts vda (provider_encrypted: [vda]); nothing planted" \
  --expect-status manual --expect-summary "cloud provider (vda)" --expect-summary "attach the provider's volume-encryption setting" \
  --expect-value storage_provider=1

record disk_encryption fail_provider_covers_another_disk --param 'provider_encrypted=["/dev/nvme*", "xvd*"]' \
  --source "this machine as it is (root ext4 on the virtio disk /dev/vda, no dm-crypt), with provider_encrypted naming other disks (/dev/nvme*, xvd*) than the one root is on; nothing planted" \
  --expect-status fail --expect-summary "/ on /dev/vda (ext4) is not encrypted"

mkdir -p "$W/crypttab"
printf '# <target name> <source device> <key file> <options>\n# a comment line\n\ncryptroot UUID=0c3b9d8e-5a53-4b6e-9c1e-2f0e6b4d7a11 none luks,discard\ncryptswap /dev/vda3 /dev/urandom swap,cipher=aes-xts-plain64,size=256\ncryptdata PARTUUID=7d2e6f10-02 /etc/keys/data.key luks\n' >"$W/crypttab/crypttab"
record disk_encryption fail_crypttab_but_no_crypt_device --plant /etc/crypttab="$W/crypttab/crypttab" \
  --source "this machine (root ext4 on /dev/vda, no dm-crypt) with a planted /etc/crypttab of three entries (a LUKS root asking a passphrase, a swap keyed from /dev/urandom, a data volume with a key file) and comments: crypttab says what should be unlocked at boot, but no crypt device exists, so root is still unencrypted" \
  --expect-status fail --expect-summary "/ on /dev/vda (ext4) is not encrypted" --expect-value crypttab_entries=3

mkdir -p "$W/nosys"
record disk_encryption error_no_block_devices --plant-dir /sys/block="$W/nosys" \
  --plant-dir /sys/class/block="$W/nosys" --plant-dir /sys/dev/block="$W/nosys" \
  --source "this machine with /sys/block, /sys/class/block and /sys/dev/block each hidden by an empty directory (as in a container that masks sysfs): lsblk prints no device and the sysfs probe none, so the device of / cannot be followed" \
  --expect-status error --expect-summary "could not read the block devices"

if [ "$DE_TOOLS_OK" = 1 ]; then
  fscrypt_image "$W/all-encrypted.img" "customers invoices" ""
  fscrypt_image "$W/partly.img" "customers" "exports tmp"
  record_with_loop pass_fscrypt_data_mount "$W/all-encrypted.img" /srv --param 'exclude_mounts=["/"]' \
    --source "this machine, in a private mount namespace, with a 32 MiB ext4 image (mkfs.ext4 -O encrypt) loop-mounted read-only on /srv; its two top-level directories customers/ and invoices/ carry fscrypt v1 policies set with e4crypt add_key (lost+found is not encrypted, as always); exclude_mounts: [/] leaves the unencrypted root of the machine out" \
    --expect-status pass --expect-summary "/srv on /dev/loop" --expect-summary "fscrypt: all 2 top-level entries are encrypted directories" \
    --expect-value storage_checked=1
  record_with_loop fail_fscrypt_partly "$W/partly.img" /srv --param 'exclude_mounts=["/"]' \
    --source "as pass_fscrypt_data_mount, but only customers/ is fscrypt-encrypted (e4crypt); exports/ and tmp/ are plain directories holding a file each" \
    --expect-status fail --expect-summary "/srv on /dev/loop" --expect-summary "is not encrypted (fscrypt encrypts 1 top-level director(ies) (customers) but not exports, tmp)"
  record_with_loop fail_fscrypt_data_mount_root_plain "$W/all-encrypted.img" /srv \
    --source "as pass_fscrypt_data_mount (ext4 image with customers/ and invoices/ fscrypt-encrypted, loop-mounted on /srv) but with the machine's root judged too: / is ext4 on /dev/vda with no encryption" \
    --expect-status fail --expect-summary "/ on /dev/vda (ext4) is not encrypted" --expect-value storage_checked=2 \
    --expect-value storage_unencrypted=1

  # A FIFO at the top level: lsattr -d cannot read its flags ("Operation not supported"), so
  # the probe prints '?' for it; it must not count as an unencrypted entry.
  fscrypt_image "$W/fifo.img" "customers invoices" "" "app.fifo"
  record_with_loop error_fscrypt_unreadable_flag "$W/fifo.img" /srv --param 'exclude_mounts=["/"]' \
    --source "this machine, in a private mount namespace, with a 32 MiB ext4 image (mkfs.ext4 -O encrypt) loop-mounted read-only on /srv; top-level: customers/ and invoices/ fscrypt-encrypted with e4crypt, lost+found, and a named pipe app.fifo (mkfifo), on which lsattr -d fails with 'Operation not supported'; exclude_mounts: [/] leaves the unencrypted root of the machine out" \
    --expect-status error --expect-summary "/srv on /dev/loop" --expect-summary "could not read the encryption flag of app.fifo"

  # Odd names: a mount point with a space (\040 in mountinfo), top-level directories with a
  # non-UTF-8 byte, a space and a leading dot, and 230 more encrypted directories (more than
  # the probe's 200-entry cap per file system).
  many="$(printf 'caf\351 dir.d .hidden') $(seq -f 'd%03g' 1 230 | tr '\n' ' ')"
  fscrypt_image "$W/odd.img" "$many" ""
  record_with_loop garbled_odd_names "$W/odd.img" "/srv/data set" --param 'exclude_mounts=["/"]' \
    --source "this machine, in a private mount namespace, with an ext4 image (mkfs.ext4 -O encrypt) loop-mounted read-only on '/srv/data set' (a space: \\040 in mountinfo); top-level: lost+found, 'caf\\351' (a latin-1 byte, not UTF-8), 'dir.d', '.hidden' and d001..d230, every one fscrypt-encrypted with e4crypt; the probe lists at most 200 entries per file system" \
    --expect-status error --expect-summary "/srv/data set on /dev/loop" --expect-summary "more than 200: too many to judge them all"
fi
