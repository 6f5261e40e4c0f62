#!/usr/bin/python3
"""Run a command under a seccomp filter that refuses io_uring_setup with EPERM, as Docker's and
containerd's default seccomp profiles do, and nothing else:

    deny-uring.py COMMAND [ARGS...]

A classic BPF program (seccomp(2), SECCOMP_MODE_FILTER) checks the architecture, answers
io_uring_setup (425 on every architecture since Linux 5.1) with SECCOMP_RET_ERRNO | EPERM and
allows every other call; PR_SET_NO_NEW_PRIVS first, so that no privilege is needed. Then exec.
"""
import ctypes
import os
import platform
import struct
import sys

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
EPERM = 1
NR_IO_URING_SETUP = 425
# include/uapi/linux/audit.h
AUDIT_ARCH = {'x86_64': 0xC000003E, 'aarch64': 0xC00000B7}[platform.machine()]

# struct seccomp_data: nr at 0, arch at 4
BPF_LD_W_ABS = 0x20
BPF_JEQ_K = 0x15
BPF_RET_K = 0x06


def insn(code, jt, jf, k):
    return struct.pack('HBBI', code, jt, jf, k)


prog = b''.join([
    insn(BPF_LD_W_ABS, 0, 0, 4),  # A = arch
    insn(BPF_JEQ_K, 1, 0, AUDIT_ARCH),  # not ours: allow (nothing to decide)
    insn(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW),
    insn(BPF_LD_W_ABS, 0, 0, 0),  # A = nr
    insn(BPF_JEQ_K, 0, 1, NR_IO_URING_SETUP),
    insn(BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | EPERM),
    insn(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW),
])
count = len(prog) // 8
buf = ctypes.create_string_buffer(prog)
fprog = struct.pack('HxxxxxxQ', count, ctypes.addressof(buf))
fprog_buf = ctypes.create_string_buffer(fprog)

libc = ctypes.CDLL(None, use_errno=True)
libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
    sys.exit(f'deny-uring: PR_SET_NO_NEW_PRIVS: {os.strerror(ctypes.get_errno())}')
if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fprog_buf), 0, 0) != 0:
    sys.exit(f'deny-uring: PR_SET_SECCOMP: {os.strerror(ctypes.get_errno())}')
os.execvp(sys.argv[1], sys.argv[1:])
