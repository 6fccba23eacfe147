"""One real Apache Cassandra 5.0 node in a local JVM, from Maven Central's jars, for tests and `make demo`.

    import cassandra_node
    cassandra_node.fetch_jars()                       # once: Maven Central -> cassandra_node/lib
    with cassandra_node.running(tmp_dir) as node:     # CQL on 127.0.0.1:node.port
        ...
        node.kill(); node.start()                     # a SIGKILLed node comes back (commit log replay)

The jars are `org.apache.cassandra:cassandra-all` (pom.xml beside this file; no start scripts in them):
the node is `CassandraDaemon` with the Java 17 flags of Cassandra's jvm17-server.options (jvm.options),
jamm as its agent and a short generated cassandra.yaml: loopback only, free ports, data in the work
directory. Stdlib only, so that it runs before the virtualenv has the driver.
    python -m cassandra_node run [WORKDIR]                             one node until Ctrl-C
    python -m cassandra_node start --workdir var/cassandra --port 9042 in the background (make demo)
    python -m cassandra_node stop --workdir var/cassandra              (make stop)
"""
import contextlib
import dataclasses
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from hadoop.minicluster import _die_with_parent, _rss_bytes, _tail, copy_dependencies, fetched, free_port

HOME = Path(__file__).resolve().parent
POM = HOME / 'pom.xml'
LIB = HOME / 'lib'
DAEMON = 'org.apache.cassandra.service.CassandraDaemon'


def missing_tools():
    """The programs not on PATH that starting a node needs (mvn only until the jars are fetched)."""
    needed = ['java'] + ([] if _fetched() else ['mvn'])
    return [tool for tool in needed if not shutil.which(tool)]


def _fetched():
    return fetched(POM, LIB)


def fetch_jars():
    """Copy Cassandra's jars from Maven Central into cassandra_node/lib, unless done for this pom.xml already."""
    if _fetched():
        return
    if missing := missing_tools():
        raise RuntimeError(f'the Cassandra node needs {" and ".join(missing)} on PATH '
                           '(a JDK 17 and Maven: apt-get install openjdk-17-jdk-headless maven)')
    copy_dependencies(POM, LIB, 'Cassandra')


def _yaml(work, port, storage_port):
    """cassandra.yaml of a one-node cluster: everything on 127.0.0.1, every file under `work`."""
    return f"""\
cluster_name: echonest-local
num_tokens: 1
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: SimpleSnitch
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "127.0.0.1:{storage_port}"
listen_address: 127.0.0.1
rpc_address: 127.0.0.1
storage_port: {storage_port}
native_transport_port: {port}
start_native_transport: true
data_file_directories: [{work}/data]
commitlog_directory: {work}/commitlog
saved_caches_directory: {work}/saved_caches
hints_directory: {work}/hints
cdc_raw_directory: {work}/cdc_raw
commitlog_sync: periodic
commitlog_sync_period: 10000ms
# A new cluster: Cassandra 5's own formats, not those readable by 4.x.
storage_compatibility_mode: NONE
concurrent_compactors: 1
# jvector (the vector index) fails an insert when more threads than cores + 1 add to one memtable's graph at
# once ("outstanding pooled objects ... beyond the limit"): seen replaying the commit log after a SIGKILL.
concurrent_writes: {os.cpu_count()}
# A node sharing a small machine with other work: a write may wait longer than the default 2 s.
write_request_timeout: 10000ms
# Dropped tables are not kept as snapshots: the data is the warehouse's copy.
auto_snapshot: false
"""


@dataclasses.dataclass
class Node:
    workdir: str
    port: int                   # CQL (native transport) on 127.0.0.1
    storage_port: int
    heap: str = '1g'
    pid: int = 0
    startup_seconds: float = 0.0
    host: str = '127.0.0.1'

    @property
    def log(self):
        return f'{self.workdir}/cassandra.log'

    def command(self):
        work = Path(self.workdir)
        options = [line.strip() for line in (HOME / 'jvm.options').read_text().splitlines()
                   if line.strip() and not line.startswith('#')]
        jamm = next(LIB.glob('jamm-*.jar'))
        return ['java', '-Xms256m', f'-Xmx{self.heap}', '-Xss512k', *options, f'-javaagent:{jamm}',
                f'-Dcassandra.config=file://{work}/cassandra.yaml', f'-Dcassandra.storagedir={work}',
                f'-Dcassandra.logdir={work}', f'-Dlogback.configurationFile={HOME}/logback.xml',
                '-Dcassandra-foreground=yes', '-Dcassandra.skip_wait_for_gossip_to_settle=0',
                f'-Djava.io.tmpdir={work}/tmp', '-cp', f'{LIB}/*', DAEMON]

    def start(self, timeout=180, detached=False):
        """Start the node (again, after stop() or kill(): same files, same ports); return once it takes CQL.
        detached: it outlives this process (make demo); otherwise Linux kills it if this process dies."""
        if not _fetched():
            raise RuntimeError('no Cassandra jars in cassandra_node/lib: call fetch_jars() first')
        work = Path(self.workdir)
        (work / 'tmp').mkdir(parents=True, exist_ok=True)
        (work / 'cassandra.yaml').write_text(_yaml(work, self.port, self.storage_port))
        started = time.monotonic()
        with open(self.log, 'ab') as out:
            proc = subprocess.Popen(self.command(), cwd=work, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True,
                                    preexec_fn=_no_mlock if detached else _no_mlock_die_with_parent)
        self.pid = proc.pid
        while not _listening(self.port):
            if proc.poll() is not None or time.monotonic() > started + timeout:
                self.stop()
                why = f'exited with {proc.returncode}' if proc.poll() is not None else f'not up after {timeout}s'
                raise RuntimeError(f'Cassandra on 127.0.0.1:{self.port} {why}; the end of {self.log}:\n'
                                   + _tail(Path(self.log).read_text(errors='replace')))
            time.sleep(0.25)
        self.startup_seconds = time.monotonic() - started
        (work / 'node.json').write_text(json.dumps(dataclasses.asdict(self)))
        return self

    def rss_bytes(self):
        return _rss_bytes(self.pid)

    def kill(self):
        """SIGKILL, as a lost machine: no drain, the commit log is replayed at the next start."""
        _signal_and_wait(self.pid, signal.SIGKILL, 30)

    def stop(self):
        """SIGTERM (Cassandra drains: memtables flushed), SIGKILL if it is not gone in 60 s."""
        if not _signal_and_wait(self.pid, signal.SIGTERM, 60):
            _signal_and_wait(self.pid, signal.SIGKILL, 30)


def _no_mlock():
    # Cassandra mlockall()s its memory when allowed (as root): not on a machine it shares.
    resource.setrlimit(resource.RLIMIT_MEMLOCK, (0, 0))


def _no_mlock_die_with_parent():
    _no_mlock()
    _die_with_parent()


def _listening(port):
    try:
        socket.create_connection(('127.0.0.1', port), 1).close()
        return True
    except OSError:
        return False


def _alive(pid):
    """True while any thread of the process lives: its main thread is a zombie before the others are gone
    (and with them its sockets)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our child
    with contextlib.suppress(OSError):
        for task in Path(f'/proc/{pid}/task').iterdir():
            with contextlib.suppress(OSError, IndexError):
                if (task / 'stat').read_text().rsplit(')', 1)[1].split()[0] not in 'ZX':
                    return True
    return False


def _signal_and_wait(pid, sig, seconds):
    """Send sig to the node's process group; True once its JVM is gone."""
    if not pid or not _alive(pid):
        return True
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)
    deadline = time.monotonic() + seconds
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def node(workdir, port=None, heap='1g'):
    """A Node on `workdir`: the one that ran there before (same ports, same data), else a new one."""
    work = Path(workdir).resolve()
    saved = work / 'node.json'
    if saved.exists():
        found = Node(**json.loads(saved.read_text()))
        if port in (None, found.port):
            found.heap = heap
            return found
    return Node(workdir=str(work), port=port or free_port(), storage_port=free_port(), heap=heap)


@contextlib.contextmanager
def running(workdir, port=None, heap='1g'):
    """Start a node with its files in workdir; yield the Node; stop it on the way out, whatever happened."""
    started = node(workdir, port, heap)
    try:
        yield started.start()
    finally:
        started.stop()
