#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Assemble the test guest's bzImage: setup sectors + protected-mode payload.

    mkimage.py --setup setup.bin --payload payload.elf -o testguest.bzImage

setup.bin is the flat boot sector + setup header + real-mode stub (setup.S).
payload.elf is the linked payload (payload.ld, linked at 0x100000). This
tool flattens the payload's loadable segments, fills in the header fields
that depend on sizes (setup_sects, syssize, init_size, kernel_info_offset),
writes a copy of the final setup header into the payload (tg_image_hdr) so
the guest can compare it with what the loader handed over, and checks the
result. Standard library only.
"""
import argparse
import struct
import sys

LOAD_ADDR = 0x100000
HDR_START, HDR_END = 0x1F1, 0x26C
HDR_MAGIC = b"TGHDRCPY"


def die(msg):
    sys.exit("mkimage.py: " + msg)


def read_elf(data):
    """Return (segments, symbols) of a little-endian ELF64 file."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        die("payload is not a little-endian ELF64 file")
    phoff, shoff = struct.unpack_from("<QQ", data, 0x20)
    phentsize, phnum, shentsize, shnum = struct.unpack_from("<HHHH", data, 0x36)
    segments = []
    for i in range(phnum):
        p_type, _flags, off, _vaddr, paddr, filesz, memsz, _align = struct.unpack_from(
            "<IIQQQQQQ", data, phoff + i * phentsize)
        if p_type == 1:  # PT_LOAD
            segments.append((paddr, data[off:off + filesz], memsz))
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize)
                for i in range(shnum)]
    symbols = {}
    for sh in sections:
        if sh[1] != 2:  # SHT_SYMTAB
            continue
        strtab = sections[sh[6]]
        for k in range(sh[5] // 24):
            name, _info, _other, _shndx, value, _size = struct.unpack_from(
                "<IBBHQQ", data, sh[4] + k * 24)
            end = data.index(b"\0", strtab[4] + name)
            symbols[data[strtab[4] + name:end].decode()] = value
    return segments, symbols


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--setup", required=True)
    ap.add_argument("--payload", required=True)
    ap.add_argument("-o", "--output", required=True)
    args = ap.parse_args()

    setup = bytearray(open(args.setup, "rb").read())
    segments, syms = read_elf(open(args.payload, "rb").read())

    if len(setup) < 1024 or len(setup) % 512:
        die("setup is %d bytes, expected a multiple of 512, at least 1024" % len(setup))
    setup_sects = len(setup) // 512 - 1
    if setup_sects > 255:
        die("setup too large")
    if struct.unpack_from("<H", setup, 0x1FE)[0] != 0xAA55 or setup[0x202:0x206] != b"HdrS":
        die("setup lacks boot_flag 0xaa55 or HdrS")
    if (struct.unpack_from("<I", setup, 0x214)[0] != LOAD_ADDR or
            struct.unpack_from("<Q", setup, 0x258)[0] != LOAD_ADDR):
        die("code32_start or pref_address is not %#x: header layout is off" % LOAD_ADDR)
    if 0x202 + setup[0x201] != HDR_END:
        die("the jump at 0x200 does not land right after the header")

    # Flatten the payload: file bytes of every PT_LOAD segment, in place.
    base = min(p for p, _, _ in segments)
    if base != LOAD_ADDR:
        die("payload starts at %#x, expected %#x" % (base, LOAD_ADDR))
    file_end = max(p + len(b) for p, b, _ in segments if b)
    mem_end = max(p + m for p, _, m in segments)
    mem_end = max(mem_end, syms.get("_end", 0))
    payload = bytearray(file_end - base)
    for paddr, body, _ in segments:
        payload[paddr - base:paddr - base + len(body)] = body

    for name, want in (("startup_32", LOAD_ADDR), ("startup_64_entry", LOAD_ADDR + 0x200)):
        if syms.get(name) != want:
            die("%s at %#x, expected %#x" % (name, syms.get(name, 0), want))
    init_size = (mem_end - base + 0xFFF) & ~0xFFF
    kernel_info = syms["kernel_info"] - base
    if payload[kernel_info:kernel_info + 4] != b"LToP":
        die("kernel_info lacks its LToP magic")

    setup[0x1F1] = setup_sects
    struct.pack_into("<I", setup, 0x1F4, (len(payload) + 15) // 16)  # syssize
    struct.pack_into("<I", setup, 0x260, init_size)
    struct.pack_into("<I", setup, 0x268, kernel_info)

    hdr = syms["tg_image_hdr"] - base
    if payload[hdr - len(HDR_MAGIC):hdr] != HDR_MAGIC:
        die("tg_image_hdr lacks its magic")
    if any(payload[hdr:hdr + HDR_END - HDR_START]):
        die("tg_image_hdr is not empty")
    payload[hdr:hdr + HDR_END - HDR_START] = setup[HDR_START:HDR_END]

    with open(args.output, "wb") as f:
        f.write(setup)
        f.write(payload)
    print("  IMAGE   %s: setup_sects %d, payload %d bytes, init_size %#x" %
          (args.output, setup_sects, len(payload), init_size))


if __name__ == "__main__":
    main()
