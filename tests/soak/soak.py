#!/usr/bin/env python3
"""
soak.py - a long stretch of mixed traffic against one daemon: `make soak`.

    python3 tests/soak/soak.py [--seconds S] [--seed N] [--crash-every S]

Starts smtpd (SMTPD_BIN, as the integration tests do) on a free loopback
port with a temporary spool and, for S seconds, drives it from many threads
at once:
  senders      smtplib sessions: 1-3 recipients, 1-4 messages per
               connection, bodies of 0 to 256 KiB with lines that start
               with a dot
  pipeliners   raw sessions: MAIL, RCPT and DATA in one write, then the
               body, the final dot and the next commands in one write;
               BDAT in chunks; 8-bit bodies
  hostiles     garbage with NULs, endless lines, talking before the
               greeting, addresses that try to leave the spool, too many
               recipients, a reset in the middle of a body, bodies over
               the size limit, a second message smuggled behind a bare
               LF, connect floods, a malformed BDAT whose chunk hides a
               whole transaction, one address (127.0.0.2) holding more
               idle sessions than its limit, a PROXY header with the
               client's commands in the same segment
  screened     (issue 18) a client a DNS list names (127.0.0.66) refused
               554 at RCPT, one that is not (127.0.0.88) accepted, and
               one (127.0.0.77) connecting over max_connection_rate and
               turned away with 421 4.7.0; the lists are asked of a DNS
               server of the soak's own on loopback (dnsserver.py)
  sloths       clients that say nothing, or trickle a command a byte at a
               time: the daemon must cut each within its timeout
  reloads      SIGHUP every two seconds
  crashes      with --crash-every: kill -9 every S seconds, then a restart
               on the same spool (sessions cut by it are counted, not
               failed; a message sent but never answered may be stored
               once, whole)
Then it checks what an admin counts on:
  - the daemon stayed up, still serves, and stops cleanly on SIGTERM with
    no sanitizer report (in any run's log)
  - every message answered 250 is in each recipient's new/, once, byte for
    byte; nothing else is in any new/ (no aborted, refused or half-written
    message), nothing is left in tmp/, nothing was written outside the spool
  - one "result=delivered" log line per 250 (without crashes)
  - no well-behaved client saw an error or a timeout
  - its descriptors are back where they started once the clients are gone
Traffic stays on loopback; DNS questions go only to the soak's own server. The last line is
"N passed, N failed"; the exit status is 0 when nothing failed.
"""

import argparse
import os
import random
import re
import signal
import smtplib
import socket
import struct
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'integration'))
import harness  # noqa: E402
from dnsserver import DNSServer, reverse4  # noqa: E402

TIMEOUT = 3             # the daemon's timeout for a command
PER_IP = 150            # its max_clients_per_ip
HOARDER = '127.0.0.2'   # the address that holds idle sessions
LISTED, UNLISTED, FLOODER = '127.0.0.66', '127.0.0.88', '127.0.0.77'
CONN_RATE = 30          # its max_connection_rate
MAX_SIZE = 1024 * 1024  # its max_message_size: above every sender's message
BOXES = ['user%d' % i for i in range(8)]
HELO = 'soak.test'
IO = 60.0               # client socket timeout: far above any honest wait
SID_RE = re.compile(rb'^X-Soak: (\S+)$', re.M)


class Ledger:
    """What the clients sent and were told, shared by every thread."""

    def __init__(self):
        self.mu = threading.Lock()
        self.sent = {}          # id -> (stored bytes, [mailbox, ...])
        self.accepted = set()   # ids answered 250
        self.counts = {}        # event -> number
        self.errors = []        # what well-behaved clients ran into
        self.seq = 0
        # Odd while the daemon is down: a session begun in one epoch
        # and failed in another was cut by a crash, not by a fault.
        self.epoch = 0

    def new_id(self, kind):
        with self.mu:
            self.seq += 1
            return '%s-%d' % (kind, self.seq)

    def send(self, sid, stored, boxes):
        """Before the message goes out: from here on it may be stored."""
        with self.mu:
            self.sent[sid] = (stored, list(boxes))

    def accept(self, sid):
        with self.mu:
            self.accepted.add(sid)

    def in_doubt(self):
        """Sent whole or in part, never answered: 0 or 1 copies each."""
        with self.mu:
            return set(self.sent) - self.accepted

    def count_locked(self, event):
        self.counts[event] = self.counts.get(event, 0) + 1

    def count(self, event):
        with self.mu:
            self.count_locked(event)

    def error(self, who, exc):
        with self.mu:
            self.errors.append('%s: %r' % (who, exc))

    def failed(self, who, exc, epoch0):
        """A session begun in epoch0 failed: cut by a crash, or an error."""
        with self.mu:
            crashed = epoch0 % 2 == 1 or epoch0 != self.epoch
        if crashed:
            self.count('sessions cut by a crash')
        else:
            self.error(who, exc)


def body_lines(rng, eight_bit=False):
    """Random body lines (no CR or LF): some empty, some starting with a
    dot, some long; 0 to about 256 KiB in all."""
    size = rng.choice([0, 10, 300, 4000, 30000, rng.randrange(1, 256 * 1024)])
    alphabet = bytes(range(32, 127)) + (bytes(range(128, 256)) if eight_bit else b'')
    lines, total = [], 0
    while total < size:
        n = rng.choice([0, 1, 40, 76, 200, 990])
        line = bytes(rng.choice(alphabet) for _ in range(min(n, 60)))
        line = (line * (n // max(len(line), 1) + 1))[:n]
        if rng.random() < 0.1:
            line = b'.' + line[:980]
        lines.append(line)
        total += len(line) + 2
    return lines


def message(sid, rng, eight_bit=False):
    """(wire bytes ending in CRLF, undotted; what the daemon stores)."""
    head = [b'X-Soak: ' + sid.encode(), b'Subject: soak ' + sid.encode(), b'']
    lines = head + body_lines(rng, eight_bit)
    wire = b'\r\n'.join(lines) + b'\r\n'
    return wire, wire.replace(b'\r\n', b'\n')


def stuffed(wire):
    return b'\r\n'.join(b'.' + l if l.startswith(b'.') else l
                        for l in wire.split(b'\r\n'))


def rcpts(rng):
    boxes = rng.sample(BOXES, rng.choice([1, 1, 2, 3]))
    return boxes, ['%s@%s' % (b, harness.DOMAIN) for b in boxes]


# ---- well-behaved clients ---------------------------------------------

def sender(port, ledger, rng, stop):
    while not stop.is_set():
        epoch0 = ledger.epoch
        try:
            with smtplib.SMTP('127.0.0.1', port, local_hostname=HELO, timeout=IO) as c:
                for _ in range(rng.choice([1, 1, 2, 4])):
                    sid = ledger.new_id('s')
                    wire, stored = message(sid, rng)
                    boxes, to = rcpts(rng)
                    ledger.send(sid, stored, boxes)
                    refused = c.sendmail('soak@client.test', to, wire)
                    if refused:
                        raise AssertionError('recipients refused: %r' % refused)
                    ledger.accept(sid)
                    ledger.count('250 to smtplib')
        except Exception as e:          # noqa: BLE001 - every failure is reported
            ledger.failed('sender', e, epoch0)
            stop.wait(0.2)


def pipeliner(port, ledger, rng, stop):
    while not stop.is_set():
        epoch0 = ledger.epoch
        try:
            c = harness.RawClient(port, timeout=IO)
            c.ehlo(HELO)
            n = rng.choice([1, 3, 8])
            for i in range(n):
                sid = ledger.new_id('p')
                eight = rng.random() < 0.5
                wire, stored = message(sid, rng, eight)
                boxes, to = rcpts(rng)
                body = ' BODY=8BITMIME' if eight else ''
                cmds = ('MAIL FROM:<pipe@client.test>%s\r\n' % body +
                        ''.join('RCPT TO:<%s>\r\n' % t for t in to))
                ledger.send(sid, stored, boxes)
                if rng.random() < 0.3:
                    # BDAT: no dot-stuffing; chunks of any size.
                    c.send(cmds.encode())
                    c.expect(250)
                    for _ in to:
                        c.expect(250)
                    off = 0
                    while True:
                        k = rng.choice([1, 100, 5000, len(wire)])
                        chunk = wire[off:off + k]
                        off += len(chunk)
                        last = off >= len(wire)
                        c.send(b'BDAT %d%s\r\n' % (len(chunk), b' LAST' if last else b'') + chunk)
                        c.expect(250)
                        if last:
                            break
                else:
                    c.send((cmds + 'DATA\r\n').encode())
                    c.expect(250)
                    for _ in to:
                        c.expect(250)
                    c.expect(354)
                    tail = b'QUIT\r\n' if i == n - 1 else b''
                    c.send(stuffed(wire) + b'.\r\n' + tail)
                    c.expect(250)
                ledger.accept(sid)
                ledger.count('250 to pipeliners')
            c.close()
        except Exception as e:          # noqa: BLE001
            ledger.failed('pipeliner', e, epoch0)
            stop.wait(0.2)


# ---- hostile clients --------------------------------------------------

def rst_close(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    s.close()


def hoard(port, ledger, rng):
    """More idle sessions from one address than it may hold: those past
    the limit get 421 at once, the rest are greeted and then left idle."""
    socks, refused = [], 0
    try:
        for _ in range(PER_IP + 20):
            s = socket.socket()
            s.settimeout(IO)
            s.bind((HOARDER, 0))
            s.connect(('127.0.0.1', port))
            socks.append(s)
        for s in socks:
            line = s.recv(512)
            if line.startswith(b'421 '):
                refused += 1
            elif not line.startswith(b'220 '):
                raise AssertionError('hoarded session got %r' % line[:80])
        # PER_IP is a ceiling shared with the other hoarders' sessions.
        if refused < 20:
            raise AssertionError('%d of %d idle sessions refused' % (refused, len(socks)))
        time.sleep(rng.random())
    finally:
        for s in socks:
            s.close()


def proxy_talk(pport, ledger, rng):
    """A PROXY header and the client's commands in one segment: the
    commands are an early talker's, refused, never run."""
    sid = ledger.new_id('never')
    s = socket.create_connection(('127.0.0.1', pport), timeout=IO)
    try:
        s.sendall(b'PROXY TCP4 192.0.2.%d 127.0.0.1 1 25\r\nEHLO p.test\r\n'
                  b'MAIL FROM:<a@b.test>\r\nRCPT TO:<user0@%s>\r\nDATA\r\n'
                  b'X-Soak: %s\r\n\r\nproxied\r\n.\r\n'
                  % (rng.randrange(1, 255), harness.DOMAIN.encode(), sid.encode()))
        data = b''
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        if not data.startswith(b'554 ') or data.count(b'\r\n') != 1:
            raise AssertionError('PROXY header and data: %r' % data[:200])
    finally:
        s.close()


def bdat_hidden(c, ledger, rng):
    """A BDAT whose size cannot be read, its chunk a whole transaction:
    501, the session ends, nothing of it is stored."""
    sid = ledger.new_id('never')
    hidden = (b'MAIL FROM:<x@y.test>\r\nRCPT TO:<user0@%s>\r\nDATA\r\n'
              b'X-Soak: %s\r\n\r\nsmuggled\r\n.\r\n'
              % (harness.DOMAIN.encode(), sid.encode()))
    spelling = rng.choice([b'BDAT  %d', b'BDAT\t%d', b'BDAT +%d', b'BDAT %d LAST x',
                           b'BDAT 0x%x', b'BDAT ' + b'9' * 25, b'BDAT %d LASTLAST'])
    try:
        verb = spelling % len(hidden)
    except TypeError:
        verb = spelling
    c.ehlo(HELO)
    say(c, 'MAIL FROM:<a@client.test>', 250)
    say(c, 'RCPT TO:<%s@%s>' % (rng.choice(BOXES), harness.DOMAIN), 250)
    c.send(verb + b'\r\n' + hidden)
    codes = [r.code for r in c.replies_until_close()]
    if codes != [501]:
        raise AssertionError('%r then a hidden transaction: %r' % (verb, codes))


def hostile_once(port, ledger, rng, pport):
    kind = rng.choice(['garbage', 'endless', 'early', 'escape', 'rcpts',
                       'reset', 'flood', 'bdat-reset', 'too-big', 'smuggle',
                       'bdat-hidden', 'hoard', 'proxy-talk'])
    ledger.count('hostile ' + kind)
    if kind == 'hoard':
        return hoard(port, ledger, rng)
    if kind == 'proxy-talk':
        return proxy_talk(pport, ledger, rng)
    if kind == 'flood':
        socks = []
        for _ in range(30):
            try:
                socks.append(socket.create_connection(('127.0.0.1', port), timeout=IO))
            except OSError:
                break
        for s in socks:
            rst_close(s) if rng.random() < 0.5 else s.close()
        return
    if kind == 'early':
        s = socket.create_connection(('127.0.0.1', port), timeout=IO)
        s.sendall(b'EHLO early.test\r\nMAIL FROM:<a@b.test>\r\n')
        s.close()
        return
    c = harness.RawClient(port, timeout=IO)
    try:
        return hostile_talk(c, kind, ledger, rng)
    except Exception as e:
        e.kind = kind
        raise
    finally:
        c.close()


def say(c, line, code):
    """One command; its reply must carry code."""
    r = c.cmd(line)
    if r.code != code:
        raise AssertionError('%s: expected %d, got %r' % (line[:40], code, r))


def hostile_talk(c, kind, ledger, rng):
    if kind == 'garbage':
        # Anything may come back, the connection may be cut: no errors.
        try:
            c.send(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 4000))))
            c.send(b'\r\nNOOP\r\n')
        except OSError:
            pass
    elif kind == 'endless':
        c.send(b'EHLO ' + b'x' * rng.choice([2000, 70000]) + b'\r\n')
        c.expect(500)
    elif kind == 'escape':
        c.ehlo(HELO)
        say(c, 'MAIL FROM:<a@client.test>', 250)
        for local in ['../../etc', '..', 'a/b', '.hidden', 'x' * 300,
                      '"../x"', 'user0/../../y']:
            r = c.cmd('RCPT TO:<%s@%s>' % (local, harness.DOMAIN))
            if r.code == 250:
                raise AssertionError('RCPT %r accepted' % local)
    elif kind == 'rcpts':
        c.ehlo(HELO)
        say(c, 'MAIL FROM:<a@client.test>', 250)
        # Distinct ones: the same address twice counts once.
        c.send(''.join('RCPT TO:<r%d@%s>\r\n' % (i, harness.DOMAIN)
                       for i in range(120)).encode())
        codes = [c.read_reply().code for _ in range(120)]
        if codes != [250] * 100 + [452] * 20:
            raise AssertionError('120 recipients: %r' % codes)
    elif kind == 'bdat-hidden':
        bdat_hidden(c, ledger, rng)
    elif kind in ('too-big', 'smuggle'):
        # Refused after the body, and the session goes on: neither the
        # oversized message nor the one hiding a second inside is stored.
        c.ehlo(HELO)
        say(c, 'MAIL FROM:<a@client.test>', 250)
        say(c, 'RCPT TO:<%s@%s>' % (rng.choice(BOXES), harness.DOMAIN), 250)
        say(c, 'DATA', 354)
        if kind == 'too-big':
            line = b'x' * 998 + b'\r\n'
            for _ in range(MAX_SIZE // len(line) + 2):
                c.send(line)
            c.send(b'.\r\n')
            c.expect(552)
        else:
            c.send(b'Subject: hi\r\n\r\nfirst\n.\nMAIL FROM:<x@y.test>\r\n'
                   b'RCPT TO:<user0@%s>\r\nDATA\r\nsmuggled\r\n.\r\n'
                   % harness.DOMAIN.encode())
            c.expect(550)
        say(c, 'RSET', 250)
        say(c, 'QUIT', 221)
    elif kind in ('reset', 'bdat-reset'):
        # Cut off mid-body: nothing of it may be stored.
        wire, _ = message(ledger.new_id('h'), rng)
        c.ehlo(HELO)
        say(c, 'MAIL FROM:<a@client.test>', 250)
        say(c, 'RCPT TO:<%s@%s>' % (rng.choice(BOXES), harness.DOMAIN), 250)
        if kind == 'reset':
            say(c, 'DATA', 354)
            c.send(stuffed(wire)[:rng.randrange(0, len(wire) + 1)])
        else:
            c.send(b'BDAT %d LAST\r\n' % (len(wire) + 10) + wire)
        rst_close(c.sock)


def hostile(port, ledger, rng, stop, pport):
    while not stop.is_set():
        epoch0 = ledger.epoch
        try:
            hostile_once(port, ledger, rng, pport)
        except Exception as e:          # noqa: BLE001
            ledger.failed('hostile %s' % getattr(e, 'kind', ''), e, epoch0)
        stop.wait(rng.random() * 0.05)


def sloth(port, ledger, rng, stop):
    """Silent or trickling; the daemon must close it within its timeout."""
    while not stop.is_set():
        trickle = rng.random() < 0.5
        epoch0 = ledger.epoch
        try:
            c = harness.RawClient(port, timeout=IO)
            t0 = time.monotonic()
            closed = False
            while time.monotonic() - t0 < TIMEOUT + 5:
                if trickle:
                    try:
                        c.sock.sendall(b'N')
                    except OSError:
                        closed = True
                        break
                c.sock.settimeout(0.5)
                try:
                    data = c.sock.recv(4096)
                except socket.timeout:
                    continue
                except OSError:
                    closed = True
                    break
                if data == b'' or data.startswith(b'421') and c.is_closed(2):
                    closed = True
                    break
            took = time.monotonic() - t0
            c.close()
            if not closed:
                ledger.failed('sloth', 'still open after %.1fs' % took, epoch0)
            else:
                ledger.count('sloths cut')
        except Exception as e:          # noqa: BLE001
            ledger.failed('sloth', e, epoch0)
            stop.wait(0.5)


def sourced(port, source):
    s = socket.create_connection(('127.0.0.1', port), timeout=IO,
                                 source_address=(source, 0))
    c = harness.RawClient.__new__(harness.RawClient)
    c.sock, c.buf, c.transcript = s, b'', []
    return c


def screened(port, ledger, rng, stop):
    """Clients the screening must refuse, and one it must not."""
    while not stop.is_set():
        kind = rng.choice(['listed', 'unlisted', 'flood'])
        epoch0 = ledger.epoch
        try:
            if kind == 'flood':
                for _ in range(rng.randrange(5, 20)):
                    c = sourced(port, FLOODER)
                    try:
                        r = c.read_reply()
                        if r.code == 421 and r.enhanced == '4.7.0':
                            ledger.count('screened rate 421')
                            if not c.is_closed(3):
                                raise AssertionError('open after the rate 421')
                        elif r.code == 220:
                            say(c, 'QUIT', 221)
                        else:
                            raise AssertionError('flooder got %r' % (r,))
                    finally:
                        c.close()
            else:
                c = sourced(port, LISTED if kind == 'listed' else UNLISTED)
                try:
                    r = c.read_reply()
                    if r.code == 421 and r.enhanced == '4.7.0':
                        # Over max_connection_rate too: right, and done.
                        ledger.count('screened rate 421')
                        stop.wait(rng.random() * 0.2)
                        continue
                    if r.code != 220:
                        raise AssertionError('%s client greeted %r' % (kind, r))
                    c.ehlo(HELO)
                    say(c, 'MAIL FROM:<a@client.test>', 250)
                    c.send('RCPT TO:<%s@%s>\r\n' % (rng.choice(BOXES), harness.DOMAIN))
                    r = c.read_reply()
                    want = (554, '5.7.1') if kind == 'listed' else (250, '2.1.5')
                    if (r.code, r.enhanced) != want:
                        raise AssertionError('%s client got %r' % (kind, r))
                    ledger.count('screened %s %d' % (kind, r.code))
                    say(c, 'QUIT', 221)
                finally:
                    c.close()
        except Exception as e:          # noqa: BLE001
            ledger.failed('screened ' + kind, e, epoch0)
        stop.wait(rng.random() * 0.2)


def reloader(daemon, ledger, rng, stop):
    while not stop.wait(2.0):
        with ledger.mu:     # never while the crasher restarts it
            if ledger.epoch % 2 == 0:
                daemon.proc.send_signal(signal.SIGHUP)
                ledger.count_locked('reloads')


def crasher(daemon, ledger, every, stop):
    """kill -9 every so often, and start again on the same spool: what
    was answered 250 must survive, and nothing half-written appear."""
    n = 0
    while not stop.wait(every):
        with ledger.mu:
            ledger.epoch += 1
            daemon.proc.kill()
        daemon.proc.wait()
        daemon._err.close()
        n += 1
        os.rename(daemon.errlog, '%s.%d' % (daemon.errlog, n))
        try:
            daemon.start()
        except AssertionError as e:
            ledger.error('restart', e)
            stop.set()
            return
        with ledger.mu:
            ledger.epoch += 1
        ledger.count('crashes (kill -9, restart)')


# ---- checks -------------------------------------------------------------

class SpoolCheck:
    """Reads what the daemon stored while the traffic runs and removes each
    copy once it has matched the ledger, so that a long soak needs little
    disk. A file whose client has not yet read its 250 waits for the next
    sweep; the final sweep, after the traffic, judges every file left."""

    def __init__(self, spool, ledger):
        self.spool = spool
        self.boxes = os.path.join(spool, harness.DOMAIN)
        self.ledger = ledger
        self.seen = {}          # (id, mailbox) -> copies found
        self.bad = set()        # not an accepted message's copy, byte for byte
        self.outside = []       # anywhere but a mailbox's new/
        self.matched = 0

    def sweep(self, final=False):
        for dirpath, _, files in os.walk(self.spool):
            box_dir, sub = os.path.split(dirpath)
            in_new = sub == 'new' and os.path.dirname(box_dir) == self.boxes
            for name in files:
                p = os.path.join(dirpath, name)
                if not in_new:
                    if final:   # tmp/ holds files only while they are written
                        self.outside.append(p)
                    continue
                if p in self.bad:
                    continue
                self.judge(p, os.path.basename(box_dir), final)

    def judge(self, p, box, final):
        with open(p, 'rb') as f:
            raw = f.read()
        try:
            rest = harness.body_of(raw)
        except AssertionError:
            self.bad.add(p)
            return
        m = SID_RE.search(rest)
        sid = m.group(1).decode() if m else None
        with self.ledger.mu:
            entry = self.ledger.sent.get(sid)
            answered = sid in self.ledger.accepted
        if not answered and not final:
            return
        if entry is None or entry[0] != rest or box not in entry[1]:
            self.bad.add(p)
            return
        self.seen[(sid, box)] = self.seen.get((sid, box), 0) + 1
        self.matched += 1
        os.unlink(p)


def sweeper(spool_check, stop):
    while not stop.wait(2.0):
        spool_check.sweep()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    ap.add_argument('--seconds', type=float, default=60)
    ap.add_argument('--seed', type=int, default=None)
    ap.add_argument('--crash-every', type=float, default=0, metavar='S',
                    help='kill -9 the daemon every S seconds and start it again')
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    print('soak: %.0f s, seed %d (--seed %d makes the same choices again)%s'
          % (args.seconds, seed, seed, ', kill -9 every %g s' % args.crash_every
             if args.crash_every else ''), flush=True)

    pport = harness.free_port()
    dns = DNSServer()
    dns.add(reverse4(LISTED, 'bl.test'), 'A', '127.0.0.2', ttl=5)
    # The well-behaved clients (127.0.0.1), the hoarder and the PROXY
    # clients are exempt: only the screened role meets the screening.
    d = harness.Daemon(['timeout %d' % TIMEOUT, 'max_clients 600',
                        'max_clients_per_ip %d' % PER_IP,
                        'max_recipients 100', 'max_errors 50',
                        'max_message_size %d' % MAX_SIZE,
                        'proxy_from 127.0.0.1/32',
                        'resolver 127.0.0.1:%d' % dns.port, 'dnsbl bl.test*2',
                        'dnsbl_threshold 2', 'dns_timeout 2',
                        'max_connection_rate %d' % CONN_RATE,
                        'allow 127.0.0.1/32', 'allow %s/32' % HOARDER,
                        'allow 192.0.2.0/24'],
                       listen=['127.0.0.1:{port}', '127.0.0.1:%d proxy' % pport])
    d.start()
    results = []

    def check(name, ok, detail=''):
        results.append(ok)
        print('%s  %s%s' % ('ok  ' if ok else 'FAIL', name,
                            '' if ok or not detail else ': ' + detail), flush=True)

    try:
        time.sleep(0.3)
        fds0 = d.open_files()
        ledger, stop = Ledger(), threading.Event()
        roles = ([sender] * 6 + [pipeliner] * 4 + [hostile] * 3 + [sloth] * 3 +
                 [screened] * 2)
        threads = [threading.Thread(target=r, args=(d.port, ledger, random.Random(seed + i), stop)
                                    + ((pport,) if r is hostile else ()))
                   for i, r in enumerate(roles)]
        threads.append(threading.Thread(target=reloader,
                                        args=(d, ledger, random.Random(seed), stop)))
        spool = SpoolCheck(d.spool, ledger)
        threads.append(threading.Thread(target=sweeper, args=(spool, stop)))
        if args.crash_every:
            threads.append(threading.Thread(target=crasher,
                                            args=(d, ledger, args.crash_every, stop)))
        for t in threads:
            t.start()
        t_end = time.monotonic() + args.seconds
        up = True
        while time.monotonic() < t_end and up:
            time.sleep(0.5)
            with ledger.mu:
                up = d.alive() or ledger.epoch % 2 == 1
        stop.set()
        for t in threads:
            t.join(IO + TIMEOUT + 10)
        hung = [t.name for t in threads if t.is_alive()]
        for k in sorted(ledger.counts):
            print('  %-22s %d' % (k, ledger.counts[k]))
        check('the daemon stayed up', up and d.alive(), d.stderr(2000))
        check('every client thread finished', not hung, ', '.join(hung))
        check('no well-behaved client saw an error or a timeout', not ledger.errors,
              '%d errors, first: %s' % (len(ledger.errors), '; '.join(ledger.errors[:5])))
        check('messages were delivered', len(ledger.accepted) > 0)
        check('listed clients were refused, unlisted ones served',
              ledger.counts.get('screened listed 554', 0) > 0 and
              ledger.counts.get('screened unlisted 250', 0) > 0)
        check('a connection flood met max_connection_rate',
              ledger.counts.get('screened rate 421', 0) > 0)
        if args.crash_every:
            check('the daemon was killed and started again',
                  ledger.counts.get('crashes (kill -9, restart)', 0) > 0)

        # One more message after the storm.
        sid = 'final'
        wire, stored = message(sid, random.Random(seed))
        try:
            ledger.send(sid, stored, ['user0'])
            with smtplib.SMTP('127.0.0.1', d.port, local_hostname=HELO, timeout=IO) as c:
                c.sendmail('soak@client.test', ['user0@' + harness.DOMAIN], wire)
            ledger.accept(sid)
            check('a new client is served after the storm', True)
        except Exception as e:          # noqa: BLE001
            check('a new client is served after the storm', False, repr(e))

        # The spool: every 250 once per recipient, byte for byte; nothing else.
        spool.sweep(final=True)
        want = {(sid, b) for sid in ledger.accepted for b in ledger.sent[sid][1]}
        doubt = ledger.in_doubt()
        print('  %-22s %d' % ('copies checked', spool.matched))
        if doubt:
            print('  %-22s %d, %d of them stored' % (
                'sent, no 250 seen', len(doubt),
                len({sid for sid, _ in spool.seen if sid in doubt})))
        check('every accepted message is stored in each recipient\'s new/',
              want <= set(spool.seen), '%d missing' % len(want - set(spool.seen)))
        check('each copy is stored once', all(n == 1 for n in spool.seen.values()),
              str([k for k, n in spool.seen.items() if n != 1][:5]))
        check('every stored file is a whole message as sent, byte for byte',
              not spool.bad, '%d bad, first: %s' % (len(spool.bad), sorted(spool.bad)[:3]))
        check('no file anywhere but in a mailbox\'s new/ (none left in tmp/)',
              not spool.outside and set(os.listdir(d.spool)) <= {harness.DOMAIN},
              str(spool.outside[:5]))
        outside = [n for n in os.listdir(d.tmp) if n not in ('spool', 'smtpd.conf')
                   and not n.startswith('stderr.log')]
        check('nothing written beside the spool', not outside, str(outside))

        logs = [d.errlog + '.%d' % i for i in range(1, 1000)
                if os.path.exists(d.errlog + '.%d' % i)]
        log = ''.join(open(f, encoding='utf-8', errors='replace').read() for f in logs)
        log += d.stderr(1 << 30)
        delivered = len(re.findall(r'result=delivered', log))
        if not args.crash_every:    # a kill can fall between a 250 and its line
            check('one "delivered" log line per 250', delivered == len(ledger.accepted),
                  '%d lines for %d messages' % (delivered, len(ledger.accepted)))
        check('no sanitizer report in any run\'s log', not harness.SANITIZER_RE.search(log))

        # Descriptors: idle mailboxes' directories are closed within
        # seconds (maildir_expire).
        deadline = time.monotonic() + 15
        while len(d.open_files()) > len(fds0) and time.monotonic() < deadline:
            time.sleep(0.5)
        now = d.open_files()
        extra = sorted(set(now.values()) - set(fds0.values()))
        check('descriptors back to where they started', len(now) <= len(fds0),
              '%d open, %d at start; new: %s' % (len(now), len(fds0), extra[:10]))
        try:
            d.stop_and_check()
            check('clean stop, no sanitizer report', True)
        except AssertionError as e:
            check('clean stop, no sanitizer report', False, str(e)[:3000])
    finally:
        d.kill()
        dns.close()
        if all(results):
            d.cleanup()
        else:
            print('soak: the daemon\'s directory is kept: %s' % d.tmp)
    passed = sum(results)
    print('%d passed, %d failed' % (passed, len(results) - passed))
    return 0 if all(results) else 1


if __name__ == '__main__':
    sys.exit(main())
