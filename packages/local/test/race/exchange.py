"""Swaps two paths atomically (renameat2 RENAME_EXCHANGE) in a loop for a number of seconds.

Usage: exchange.py PATH_A PATH_B SECONDS. Prints the number of swaps; always ends on an even
number, so both paths are back where they started. A test helper: the attacker of the symlink race.
"""

import ctypes
import os
import sys
import time

AT_FDCWD = -100
RENAME_EXCHANGE = 2

libc = ctypes.CDLL(None, use_errno=True)
renameat2 = libc.renameat2
renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]


def swap(a: bytes, b: bytes) -> None:
    if renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def main() -> None:
    a, b = os.fsencode(sys.argv[1]), os.fsencode(sys.argv[2])
    end = time.monotonic() + float(sys.argv[3])
    swaps = 0
    while time.monotonic() < end:
        for _ in range(100):
            swap(a, b)
        swaps += 100
    print(swaps, flush=True)


main()
