"""The embedded default S3: moto's server on loopback, spoken to over HTTP like any S3.

    python -m pipeline.local_s3 start --port 5055 --pidfile var/local-s3.pid --log var/local-s3.log
    python -m pipeline.local_s3 stop --pidfile var/local-s3.pid

It keeps its objects in memory: stopping it empties the bucket.
"""
import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def start(port, log_path=os.devnull):
    """A moto server process on 127.0.0.1:port, answering once this returns; and its endpoint URL."""
    endpoint = f'http://127.0.0.1:{port}'
    moto_server = Path(sys.executable).with_name('moto_server')
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, 'ab') as log:
        server = subprocess.Popen([str(moto_server), '-H', '127.0.0.1', '-p', str(port)],
                                  stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f'{endpoint}/moto-api/', timeout=1)
            return server, endpoint
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                raise RuntimeError(f'the local S3 server did not start on {endpoint}: is port {port} free? '
                                   f'(its log: {log_path})')
            time.sleep(0.1)


@contextlib.contextmanager
def running(port=None, log_path=os.devnull):
    """Yield the endpoint URL of a fresh, empty server; stop it on the way out, whatever happened."""
    server, endpoint = start(port or free_port(), log_path)
    try:
        yield endpoint
    finally:
        server.terminate()
        server.wait(10)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('action', choices=['start', 'stop'])
    parser.add_argument('--port', type=int, default=5055)
    parser.add_argument('--pidfile', type=Path, default=Path('var/local-s3.pid'))
    parser.add_argument('--log', default='var/local-s3.log')
    args = parser.parse_args()
    if args.action == 'start':
        server, endpoint = start(args.port, args.log)
        args.pidfile.write_text(str(server.pid))
        print(f'local S3 server at {endpoint} (pid {server.pid})')
    elif args.pidfile.exists():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(args.pidfile.read_text()), signal.SIGTERM)
        args.pidfile.unlink()


if __name__ == '__main__':
    main()
