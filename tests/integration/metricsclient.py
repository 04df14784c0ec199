"""
metricsclient.py - scrape smtpd's metrics endpoint and parse what it says.

scrape(port)        GET /metrics over a raw socket: (status, headers, body)
http(port, data)    send raw bytes, read until the server closes: bytes
parse(text)         the Prometheus text format 0.0.4, strictly: {(name,
                    labels): value}, raising ValueError on any bad line
                    (a sample before its TYPE, a family declared twice, a
                    counter without _total, a malformed label or value)
total(samples, name, **labels)   the sum of a family's matching samples
"""

import re
import socket

IO_TIMEOUT = 10.0

NAME = r'[a-zA-Z_:][a-zA-Z0-9_:]*'
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"'
SAMPLE_RE = re.compile(r'^(%s)(?:\{((?:%s)(?:,%s)*)?,?\})? (\S+)$' % (NAME, LABEL, LABEL))
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"')
HELP_RE = re.compile(r'^# HELP (%s) (.+)$' % NAME)
TYPE_RE = re.compile(r'^# TYPE (%s) (counter|gauge|histogram|summary|untyped)$' % NAME)


def http(port, data, host='127.0.0.1', timeout=IO_TIMEOUT):
    """Send data on a new connection, then read until the server closes."""
    s = socket.create_connection((host, port), timeout=timeout)
    try:
        if data:
            s.sendall(data)
        out = b''
        while True:
            b = s.recv(65536)
            if not b:
                return out
            out += b
    finally:
        s.close()


def split_response(raw):
    """(status, {lower-case header: value}, body) of an HTTP/1.1 answer."""
    head, sep, body = raw.partition(b'\r\n\r\n')
    if not sep:
        raise ValueError('no end of head in %r' % raw[:200])
    lines = head.decode('ascii').split('\r\n')
    m = re.match(r'^HTTP/1\.1 (\d{3}) [^\r\n]+$', lines[0])
    if not m:
        raise ValueError('bad status line %r' % lines[0])
    headers = {}
    for l in lines[1:]:
        k, _, v = l.partition(':')
        headers[k.strip().lower()] = v.strip()
    if 'content-length' in headers and int(headers['content-length']) != len(body):
        raise ValueError('Content-Length %s, body %d octets'
                         % (headers['content-length'], len(body)))
    return int(m.group(1)), headers, body


def scrape(port, path='/metrics', method='GET', host='127.0.0.1'):
    authority = '[%s]:%d' % (host, port) if ':' in host else '%s:%d' % (host, port)
    raw = http(port, ('%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: test\r\n'
                      'Accept: text/plain;version=0.0.4\r\n\r\n'
                      % (method, path, authority)).encode(), host=host)
    return split_response(raw)


def parse(text):
    """Strict parse of the exposition; {(name, frozenset(labels)): float}."""
    if not text.endswith('\n'):
        raise ValueError('exposition does not end in a newline')
    types, helps, samples = {}, {}, {}
    family = None
    for n, line in enumerate(text.split('\n')[:-1], 1):
        m = HELP_RE.match(line)
        if m:
            if m.group(1) in helps:
                raise ValueError('line %d: HELP twice for %s' % (n, m.group(1)))
            helps[m.group(1)] = m.group(2)
            continue
        m = TYPE_RE.match(line)
        if m:
            name, typ = m.groups()
            if name in types:
                raise ValueError('line %d: TYPE twice for %s' % (n, name))
            if name not in helps:
                raise ValueError('line %d: TYPE before HELP for %s' % (n, name))
            if typ == 'counter' and not name.endswith('_total'):
                raise ValueError('line %d: counter %s without _total' % (n, name))
            types[name] = typ
            family = name
            continue
        m = SAMPLE_RE.match(line)
        if not m:
            raise ValueError('line %d: not a sample: %r' % (n, line))
        name, labels, value = m.groups()
        base = family
        ok = name == family or (types.get(family) == 'histogram' and name in (
            family + '_bucket', family + '_sum', family + '_count'))
        if not ok:
            raise ValueError('line %d: sample %s outside its family %s' % (n, name, base))
        lab = frozenset(LABEL_RE.findall(labels or ''))
        value = float(value)
        key = (name, lab)
        if key in samples:
            raise ValueError('line %d: sample twice: %r' % (n, line))
        if not name.startswith('smtpd_'):
            raise ValueError('line %d: %s not prefixed smtpd_' % (n, name))
        samples[key] = value
    for name, typ in types.items():
        if typ == 'histogram':
            buckets = sorted(((float(dict(l)['le']), v) for (nm, l), v in samples.items()
                              if nm == name + '_bucket'))
            if not buckets or buckets[-1][0] != float('inf'):
                raise ValueError('%s: no +Inf bucket' % name)
            if any(a[1] > b[1] for a, b in zip(buckets, buckets[1:])):
                raise ValueError('%s: buckets not cumulative' % name)
            if samples[(name + '_count', frozenset())] != buckets[-1][1]:
                raise ValueError('%s: _count is not the +Inf bucket' % name)
    return samples


def total(samples, name, **labels):
    """The sum of name's samples whose labels include the given ones."""
    want = set(labels.items())
    return sum(v for (n, l), v in samples.items() if n == name and want <= set(l))


def get(port):
    """One scrape that must succeed; the parsed samples."""
    status, headers, body = scrape(port)
    if status != 200:
        raise AssertionError('scrape: status %d: %r' % (status, body[:200]))
    return parse(body.decode('utf-8'))
