#!/usr/bin/env python3
"""
rcptrate.py - RCPT lookups per second against a running smtpd, for the
benchmark: `rcptrate.py PORT DOMAIN PREFIX COUNT ROUNDS [MOD]`. Each round is one
MAIL, then COUNT RCPTs (PREFIX0@DOMAIN, PREFIX1@DOMAIN, ..., numbered modulo
MOD, default 100000) in one write, their replies, then RSET. Prints "rcpts=N secs=S rate=R codes=C,..."
(the distinct reply codes seen).
"""
import socket
import sys
import time


def main():
    port, domain, prefix = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    count, rounds = int(sys.argv[4]), int(sys.argv[5])
    mod = int(sys.argv[6]) if len(sys.argv) > 6 else 100000
    s = socket.create_connection(('127.0.0.1', port), timeout=60)
    f = s.makefile('rb')

    def reply():
        while True:
            line = f.readline()
            if not line:
                raise SystemExit('connection closed')
            if line[3:4] != b'-':
                return int(line[:3])

    reply()
    s.sendall(b'EHLO bench.test\r\n')
    reply()
    codes = set()
    t0 = time.monotonic()
    for r in range(rounds):
        batch = ['MAIL FROM:<b@bench.test>\r\n']
        batch += ['RCPT TO:<%s%d@%s>\r\n' % (prefix, (r * count + i) % mod, domain)
                  for i in range(count)]
        batch.append('RSET\r\n')
        s.sendall(''.join(batch).encode())
        for _ in range(count + 2):
            codes.add(reply())
    secs = time.monotonic() - t0
    s.sendall(b'QUIT\r\n')
    n = count * rounds
    print('rcpts=%d secs=%.3f rate=%.0f codes=%s'
          % (n, secs, n / secs, ','.join(str(c) for c in sorted(codes))))


if __name__ == '__main__':
    main()
