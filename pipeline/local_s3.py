"""The embedded default S3: moto's server on loopback, spoken to over HTTP like any S3.

    python -m pipeline.local_s3 --port 5055 -- COMMAND ...   runs COMMAND while the server is up
"""
import argparse
import contextlib
import os
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


@contextlib.contextmanager
def running(port=None, log_path=os.devnull):
    """Yield the endpoint URL of a fresh, empty server; stop it on the way out, whatever happened."""
    port = port or free_port()
    endpoint = f'http://127.0.0.1:{port}'
    moto_server = Path(sys.executable).with_name('moto_server')
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, 'ab') as log:
        server = subprocess.Popen([str(moto_server), '-H', '127.0.0.1', '-p', str(port)],
                                  stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f'{endpoint}/moto-api/', timeout=1)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f'the local S3 server did not start on {endpoint}: is port {port} free? '
                                       f'(its log: {log_path})')
                time.sleep(0.1)
        yield endpoint
    finally:
        server.terminate()
        server.wait(10)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--port', type=int, default=5055)
    parser.add_argument('--log', default=os.devnull)
    parser.add_argument('command', nargs='+')
    args = parser.parse_args()
    with running(args.port, args.log) as endpoint:
        print(f'local S3 server at {endpoint}', file=sys.stderr)
        sys.exit(subprocess.call(args.command))


if __name__ == '__main__':
    main()
