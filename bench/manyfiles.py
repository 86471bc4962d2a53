#!/usr/bin/env python3
"""A synthetic layer of many small files: DIRS directories (d0000/d00 ... two levels deep), FILES
regular files spread evenly over them, each holding one short line of its own (12 to 60 bytes),
every 50th a symlink to its neighbour instead. Written as an uncompressed ustar stream to OUT,
with fixed times and owners, so the same arguments give the same bytes.

  manyfiles.py OUT [FILES [DIRS]]      (defaults: 1,000,000 files, 10,000 directories)
"""
import sys


def header(name, size, mode, kind, link=b""):
    h = bytearray(512)
    h[0:len(name)] = name
    h[100:108] = b"%07o\0" % mode
    h[108:116] = b"%07o\0" % 1000
    h[116:124] = b"%07o\0" % 1000
    h[124:136] = b"%011o\0" % size
    h[136:148] = b"%011o\0" % 1700000000
    h[148:156] = b" " * 8
    h[156:157] = kind
    h[157:157 + len(link)] = link
    h[257:263] = b"ustar\0"
    h[263:265] = b"00"
    h[148:156] = b"%06o\0 " % sum(h)
    return bytes(h)


def main():
    out = sys.argv[1]
    files = int(sys.argv[2]) if len(sys.argv) > 2 else 1000000
    dirs = int(sys.argv[3]) if len(sys.argv) > 3 else 10000
    top = max(1, int(dirs ** 0.5))
    with open(out, "wb") as f:
        w = f.write
        made = set()
        for d in range(dirs):
            a, b = divmod(d, top)
            parent = b"d%04d/" % a
            if parent not in made:
                made.add(parent)
                w(header(parent, 0, 0o755, b"5"))
            path = parent + b"d%02d/" % b
            w(header(path, 0, 0o755, b"5"))
            per = files // dirs + (1 if d < files % dirs else 0)
            for i in range(per):
                name = path + b"f%05d" % i
                if i % 50 == 49:
                    w(header(name, 0, 0o777, b"2", b"f%05d" % (i - 1)))
                    continue
                body = b"file %d of directory %d\n" % (i, d) * (1 + i % 2)
                w(header(name, len(body), 0o644, b"0"))
                w(body + b"\0" * (-len(body) % 512))
        w(b"\0" * 1024)


if __name__ == "__main__":
    main()
