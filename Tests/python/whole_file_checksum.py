"""The whole-file checksum the library writes in the first 512 bytes of its HDF5 files (the user
block): "superconv-crc32 <8 hex digits> <byte count>\\n" over the bytes after it."""
import zlib

BLOCK = 512


def reseal(path):
    """Rewrites the checksum line of a file edited with h5py. The edited file then stands for one
    made by hand with a valid checksum, whose content the library must still check itself."""
    data = bytearray(open(path, "rb").read())
    if not data.startswith(b"superconv-crc32 "):
        return  # an unsealed file (an older library's) has nothing to reseal
    body = bytes(data[BLOCK:])
    line = f"superconv-crc32 {zlib.crc32(body):08x} {len(body)}\n".encode()
    data[:BLOCK] = line + bytes(BLOCK - len(line))
    open(path, "wb").write(bytes(data))
