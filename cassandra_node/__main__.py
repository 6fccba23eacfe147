"""python -m cassandra_node run [WORKDIR] | start --workdir DIR --port PORT | stop --workdir DIR"""
import argparse
import contextlib
import dataclasses
import json
import time

import cassandra_node


def main():
    parser = argparse.ArgumentParser(description=cassandra_node.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('action', choices=['run', 'start', 'stop'])
    parser.add_argument('workdir', nargs='?', default=str(cassandra_node.HOME / 'work'))
    parser.add_argument('--workdir', dest='workdir_option')
    parser.add_argument('--port', type=int, help='CQL port on 127.0.0.1 (default: a free one)')
    parser.add_argument('--heap', default='1g')
    args = parser.parse_args()
    workdir = args.workdir_option or args.workdir
    if args.action == 'stop':
        cassandra_node.node(workdir).stop()
        return
    cassandra_node.fetch_jars()
    if args.action == 'start':
        node = cassandra_node.node(workdir, args.port, args.heap).start(detached=True)
        print(f'Cassandra at 127.0.0.1:{node.port} (pid {node.pid}, up in {node.startup_seconds:.1f} s, '
              f'log {node.log})')
        return
    with cassandra_node.running(workdir, args.port, args.heap) as node:
        print(json.dumps({**dataclasses.asdict(node), 'rss_bytes': node.rss_bytes()}, indent=2), flush=True)
        print('Ctrl-C stops it', flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)


if __name__ == '__main__':
    main()
