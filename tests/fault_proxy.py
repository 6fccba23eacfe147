"""A fault-injecting HTTP/1.1 proxy on loopback, between boto3 and an S3 endpoint, for failure drills.

    with FaultProxy(upstream_url, schedule) as proxy:   # schedule(key, nth GET of that key) -> kind or None
        ... point [s3] endpoint_url at proxy.url ...
    proxy.injected  # Counter of the faults it injected, by kind

Only GETs of object keys are broken; everything else (HEAD bucket, listings) passes through untouched.
"""
import collections
import contextlib
import socket
import struct
import threading
import time
import urllib.parse

KINDS = ('slowdown', 'reset', 'stall', 'truncate')  # the transient faults; the other ERRORS are not
# S3's error answers: status line, error code, message.
ERRORS = {
    'slowdown': (b'503 Slow Down', b'SlowDown', b'Please reduce your request rate.'),
    'denied': (b'403 Forbidden', b'AccessDenied', b'Access Denied'),
    'expired': (b'403 Forbidden', b'ExpiredToken', b'The provided token has expired.'),
    'redirect': (b'301 Moved Permanently', b'PermanentRedirect',
                 b'The bucket you are attempting to access must be addressed using the specified endpoint.'),
}
HOP_BY_HOP = (b'connection', b'keep-alive')


def read_head(rfile):
    """The start line and headers of a message, as raw lines; [] when the peer closed first."""
    lines = []
    while True:
        line = rfile.readline(65537)
        if not line:
            return []
        if line in (b'\r\n', b'\n'):
            return lines
        lines.append(line)


def header(lines, name):
    """A header's value (lowercase name), or None."""
    for line in lines[1:]:
        key, _, value = line.partition(b':')
        if key.strip().lower() == name:
            return value.strip().decode('latin-1')
    return None


class FaultProxy:
    """Real sockets, so boto3 meets the faults where it would in production: in its HTTP stack."""

    def __init__(self, upstream, schedule, stall_s=3.0):
        self.upstream = urllib.parse.urlsplit(upstream)
        self.schedule = schedule
        self.stall_s = stall_s
        self.injected = collections.Counter()
        self.gets = collections.Counter()  # GETs received per object key, faulted or not
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._conns, self._threads = set(), []
        self._listener = socket.create_server(('127.0.0.1', 0))
        self._listener.settimeout(0.1)  # so that the accept loop notices stop() promptly
        self.url = f'http://127.0.0.1:{self._listener.getsockname()[1]}'

    def __enter__(self):
        """Serve in the background: the pipeline runs in the test's own thread."""
        self._threads.append(threading.Thread(target=self._accept, name='fault-proxy', daemon=True))
        self._threads[0].start()
        return self

    def __exit__(self, *exc):
        """Stop accepting, cut every open connection, and wait (bounded) for the threads."""
        self._stop.set()
        with self._lock:
            for conn in self._conns:
                with contextlib.suppress(OSError):  # already closed by its thread
                    conn.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + 5
        for thread in list(self._threads):
            thread.join(max(0.0, deadline - time.monotonic()))
        self._listener.close()

    def _accept(self):
        """One thread per client connection: boto3 keeps several alive at once."""
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            with self._lock:
                self._conns.add(conn)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn):
        """Request after request on one keep-alive connection, until the client or a fault ends it."""
        try:
            with conn, conn.makefile('rb') as rfile:
                while not self._stop.is_set():
                    head = read_head(rfile)
                    if not head:
                        return
                    body = rfile.read(int(header(head, b'content-length') or 0))
                    if not self._answer(conn, head, body):
                        return
        except OSError:
            pass  # the client gave up (its read timeout) or stop() cut the connection
        finally:
            with self._lock:
                self._conns.discard(conn)

    def _fault(self, head):
        """The fault the schedule gives this request: only GETs of an object key (/bucket/key) count."""
        method, target, _ = head[0].decode('latin-1').split(' ', 2)
        bucket_and_key = urllib.parse.unquote(urllib.parse.urlsplit(target).path).lstrip('/').split('/', 1)
        if method != 'GET' or len(bucket_and_key) < 2 or not bucket_and_key[1]:
            return None
        key = bucket_and_key[1]
        with self._lock:
            self.gets[key] += 1
            kind = self.schedule(key, self.gets[key])
            if kind:
                assert kind in KINDS or kind in ERRORS, kind
                self.injected[kind] += 1
        return kind

    def _answer(self, conn, head, body):
        """Fault or forward one request; False when the client connection must end."""
        kind = self._fault(head)
        if kind in ERRORS:  # as S3 answers: throttling (retried), or a refusal (not)
            status, code, message = ERRORS[kind]
            error = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code><Message>%s</Message>'
                     b'<RequestId>FAULTPROXY</RequestId></Error>' % (code, message))
            conn.sendall(b'HTTP/1.1 %s\r\nContent-Type: application/xml\r\nContent-Length: %d\r\n\r\n%s'
                         % (status, len(error), error))
            return True
        if kind == 'reset':  # SO_LINGER 0: close() sends a TCP RST instead of a FIN
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
            return False
        if kind == 'stall':  # past the client's read timeout, then drop it (stop() ends the wait)
            self._stop.wait(self.stall_s)
            return False
        headers, response = self._forward(head, body)
        known_length = header(headers, b'content-length') is not None or not response
        kept = [line for line in headers if line.split(b':', 1)[0].strip().lower() not in HOP_BY_HOP]
        ending = b'\r\n' if known_length else b'Connection: close\r\n\r\n'
        if kind == 'truncate':  # the full Content-Length announced, half the body sent
            conn.sendall(b''.join(kept) + ending + response[:len(response) // 2])
            return False
        conn.sendall(b''.join(kept) + ending + response)
        return known_length  # a body delimited by the end of the connection ends it

    def _forward(self, head, body):
        """One upstream connection per request: S3 servers may close after each answer (moto does)."""
        with socket.create_connection((self.upstream.hostname, self.upstream.port), timeout=30) as up, \
                up.makefile('rb') as rfile:
            up.sendall(b''.join(head) + b'\r\n' + body)
            headers = read_head(rfile)
            if not headers:
                raise ConnectionError('the upstream closed without answering')
            if head[0].startswith(b'HEAD ') or headers[0].split()[1] in (b'204', b'304'):
                return headers, b''
            length = header(headers, b'content-length')
            return headers, rfile.read(int(length)) if length is not None else rfile.read()
