"""Bytes of the Internet protocols for the scripted peers (craft.py, tcp-malformed.py, peer.py):
addresses, the Internet checksum (RFC 1071) and TCP flag names. Imported from the scripts'
own folder, which Python puts first on the module path."""
import struct

FIN, SYN, RST, PSH, ACK, URG = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
M32 = 0xFFFFFFFF


def mac_bytes(mac):
    return bytes(int(b, 16) for b in mac.split(':'))


def ip_bytes(ip):
    return bytes(int(b) for b in ip.split('.'))


def checksum(data):
    """RFC 1071: the one's complement of the one's complement sum of 16-bit words."""
    if len(data) % 2:
        data += b'\0'
    s = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def flag_str(f):
    return ''.join(n for b, n in ((SYN, 'S'), (ACK, 'A'), (FIN, 'F'), (RST, 'R'), (PSH, 'P'), (URG, 'U')) if f & b)
