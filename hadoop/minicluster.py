"""A real Hadoop cluster in one local JVM, for tests: HDFS (WebHDFS) plus YARN and MapReduce.

    from hadoop import minicluster
    minicluster.fetch_jars()                      # once: Maven Central -> hadoop/lib
    with minicluster.running(tmp_dir) as cluster:
        hdfs.InsecureClient(cluster.webhdfs_url, user='hadoop')
        subprocess.run(['hadoop/bin/hadoop', 'fs', '-ls', '/'], env=cluster.env())

The jars are Hadoop's own test clusters (hadoop-minicluster, pom.xml beside this file); the cluster is
`MiniHadoopClusterManager` started as a child process on loopback ports chosen here (with -nomr for
HDFS only). Stdlib only.
    python -m hadoop.minicluster [WORKDIR]   starts one and waits for Ctrl-C.
"""
import contextlib
import ctypes
import dataclasses
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

HOME = Path(__file__).resolve().parent
POM = HOME / 'pom.xml'
LIB = HOME / 'lib'
JVM_OPTIONS = HOME / 'jvm.options'  # the --add-opens Java 17 needs; bin/hadoop reads it too
MANAGER = 'org.apache.hadoop.mapreduce.MiniHadoopClusterManager'
CLASSPATH = str(LIB / '*')
STAGING_DIR = '/tmp/hadoop-yarn/minicluster-staging'


class MissingTool(RuntimeError):
    pass


def missing_tools():
    """The programs not on PATH that starting a cluster needs (mvn only until the jars are fetched)."""
    needed = ['java'] + ([] if _fetched() else ['mvn'])
    return [tool for tool in needed if not shutil.which(tool)]


def _require_tools():
    if missing := missing_tools():
        raise MissingTool(f'the Hadoop test cluster needs {" and ".join(missing)} on PATH '
                          '(a JDK 17 and Maven: apt-get install openjdk-17-jdk-headless maven)')


def fetched(pom=POM, lib=LIB):
    """Whether lib holds the jars of this pom.xml (a stamp of its digest, written once all are copied)."""
    stamp = lib / '.complete'
    return stamp.exists() and stamp.read_text() == hashlib.sha256(pom.read_bytes()).hexdigest()


def _fetched():
    return fetched()


def copy_dependencies(pom, lib, what):
    """Copy the jars a pom.xml depends on from Maven Central into lib; `what` names them in messages."""
    started = time.monotonic()
    shutil.rmtree(lib, ignore_errors=True)  # no jars of an older pom.xml on the classpath
    # An absolute outputDirectory: Maven resolves a relative one against the pom's folder, not the cwd.
    done = subprocess.run(['mvn', '-q', '-B', '-f', str(pom), 'dependency:copy-dependencies',
                           f'-DoutputDirectory={lib}'], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f'fetching the {what} jars failed (mvn exit {done.returncode}):\n'
                           + _tail(done.stdout + done.stderr))
    (lib / '.complete').write_text(hashlib.sha256(pom.read_bytes()).hexdigest())
    print(f'{lib.parent.name}/lib: {len(list(lib.glob("*.jar")))} jars fetched in {time.monotonic() - started:.0f}s')


def fetch_jars():
    """Copy the cluster's jars from Maven Central into hadoop/lib, unless done for this pom.xml already."""
    if _fetched():
        return
    _require_tools()
    copy_dependencies(POM, LIB, 'Hadoop')


def streaming_jar():
    """The hadoop-streaming jar, for mrjob's --hadoop-streaming-jar."""
    return str(next(LIB.glob('hadoop-streaming-*.jar')))


def jvm_options():
    return [line.strip() for line in JVM_OPTIONS.read_text().splitlines()
            if line.strip() and not line.startswith('#')]


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@dataclasses.dataclass
class Cluster:
    webhdfs_url: str      # http://127.0.0.1:PORT, for hdfs.InsecureClient
    namenode: str         # hdfs://127.0.0.1:PORT, the fs.defaultFS
    conf_dir: str         # *-site.xml for a client of this cluster (HADOOP_CONF_DIR of bin/hadoop)
    classpath: str
    workdir: str
    log: str              # the JVM's output
    pid: int
    mapreduce: bool       # YARN + MapReduce running too (else HDFS only)
    startup_seconds: float
    rss_bytes: int        # the JVM's resident memory once started

    def env(self, base=None):
        """An environment for hadoop/bin/hadoop against this cluster."""
        return {**(os.environ if base is None else base), 'HADOOP_CONF_DIR': self.conf_dir}


def _site_settings(work, http_port):
    """-D settings of the cluster: everything on 127.0.0.1, its files in `work`, memory modest."""
    port = lambda: f'127.0.0.1:{free_port()}'  # noqa: E731
    java_opts = ' '.join(jvm_options())
    return {
        'hdfs.minidfs.basedir': f'{work}/dfs',
        'hadoop.tmp.dir': f'{work}/tmp',
        'dfs.namenode.rpc-bind-host': '127.0.0.1',
        'dfs.namenode.servicerpc-bind-host': '127.0.0.1',
        'dfs.namenode.http-bind-host': '127.0.0.1',
        'dfs.namenode.http-address': f'127.0.0.1:{http_port}',
        'dfs.datanode.address': '127.0.0.1:0',
        'dfs.datanode.http.address': '127.0.0.1:0',
        'dfs.datanode.ipc.address': '127.0.0.1:0',
        'dfs.permissions.enabled': 'false',
        'dfs.replication': '1',
        'dfs.webhdfs.enabled': 'true',
        # YARN's minicluster keeps configured ports ("fixed ports"), so none may stay at its default.
        'yarn.resourcemanager.bind-host': '127.0.0.1',
        'yarn.nodemanager.bind-host': '127.0.0.1',
        'mapreduce.jobhistory.bind-host': '127.0.0.1',
        'yarn.resourcemanager.scheduler.address': port(),
        'yarn.resourcemanager.resource-tracker.address': port(),
        'yarn.resourcemanager.admin.address': port(),
        'yarn.resourcemanager.webapp.address': port(),
        'yarn.nodemanager.address': '127.0.0.1:0',
        'yarn.nodemanager.localizer.address': port(),
        'yarn.nodemanager.webapp.address': '127.0.0.1:0',
        'mapreduce.jobhistory.admin.address': port(),
        'mapreduce.jobhistory.webapp.address': port(),
        'mapreduce.shuffle.port': '0',  # the one server that takes no bind host: it listens on all addresses
        'yarn.timeline-service.enabled': 'false',
        # Small containers: the node offers 4 GiB (the minicluster's default), a task asks for 512 MiB.
        'yarn.scheduler.minimum-allocation-mb': '128',
        'yarn.nodemanager.disk-health-checker.max-disk-utilization-per-disk-percentage': '99.5',
        # Where jobs stage their files and history (the default would be swapped for a local path).
        'yarn.app.mapreduce.am.staging-dir': STAGING_DIR,
        **_job_settings(java_opts),
    }


def _job_settings(java_opts):
    """Settings a job takes from its client's configuration: task JVMs need the --add-opens too."""
    return {
        'yarn.app.mapreduce.am.resource.mb': '512',
        'yarn.app.mapreduce.am.command-opts': f'-Xmx384m {java_opts}',
        'mapreduce.map.memory.mb': '512',
        'mapreduce.reduce.memory.mb': '512',
        'mapreduce.map.java.opts': f'-Xmx384m {java_opts}',
        'mapreduce.reduce.java.opts': f'-Xmx384m {java_opts}',
    }


def _client_conf(settings, nn_port, http_port, rm_port, jhs_port, mapreduce):
    """The *-site.xml of a client (no file holds the cluster's own: -writeConfig misses YARN's part)."""
    return {
        'core-site.xml': {'fs.defaultFS': f'hdfs://127.0.0.1:{nn_port}'},
        'hdfs-site.xml': {'dfs.replication': '1', 'dfs.namenode.http-address': f'127.0.0.1:{http_port}'},
        'yarn-site.xml': {
            'yarn.resourcemanager.address': f'127.0.0.1:{rm_port}',
            'yarn.resourcemanager.scheduler.address': settings['yarn.resourcemanager.scheduler.address'],
            'yarn.resourcemanager.webapp.address': settings['yarn.resourcemanager.webapp.address'],
            # Task JVMs then get the client's java.class.path (hadoop/lib/*): there is no Hadoop install.
            'yarn.is.minicluster': 'true',
        } if mapreduce else {},
        'mapred-site.xml': {
            # Without YARN, Hadoop's LocalJobRunner, which fails on mrjob's `-files hdfs:///...#name`.
            'mapreduce.framework.name': 'yarn' if mapreduce else 'local',
            'mapreduce.jobhistory.address': f'127.0.0.1:{jhs_port}',
            'yarn.app.mapreduce.am.staging-dir': STAGING_DIR,
            **_job_settings(' '.join(jvm_options())),
        },
    }


def _write_conf_dir(conf_dir, files):
    conf_dir.mkdir(parents=True, exist_ok=True)
    for name, values in files.items():
        root = ET.Element('configuration')
        for key, value in values.items():
            prop = ET.SubElement(root, 'property')
            ET.SubElement(prop, 'name').text = key
            ET.SubElement(prop, 'value').text = value
        ET.indent(root)
        ET.ElementTree(root).write(conf_dir / name, encoding='utf-8', xml_declaration=True)


def _tail(text, lines=40):
    return '\n'.join(text.splitlines()[-lines:])


def _rss_bytes(pid):
    with contextlib.suppress(OSError):
        for line in Path(f'/proc/{pid}/status').read_text().splitlines():
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) * 1024
    return 0


def _descendants(pid):
    """Child processes of pid, recursively: YARN's containers run in sessions of their own."""
    children = {}
    for stat in Path('/proc').glob('[0-9]*/stat'):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(')', 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def _die_with_parent():
    # The JVM would sleep forever: have Linux kill it if this process dies without cleaning up.
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _stop(proc):
    stragglers = _descendants(proc.pid)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    for pid in stragglers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _ready(http_port):
    """True once the namenode is out of safe mode and WebHDFS answers."""
    base = f'http://127.0.0.1:{http_port}'
    try:
        with urllib.request.urlopen(f'{base}/jmx?qry=Hadoop:service=NameNode,name=NameNodeInfo', timeout=5) as r:
            beans = json.load(r)['beans']
        if not beans or beans[0].get('Safemode'):
            return False
        with urllib.request.urlopen(f'{base}/webhdfs/v1/?op=GETFILESTATUS&user.name=hadoop', timeout=5) as r:
            return json.load(r)['FileStatus']['type'] == 'DIRECTORY'
    except (OSError, ValueError, KeyError):
        return False


@contextlib.contextmanager
def running(workdir, mapreduce=True, timeout=240, heap='1g'):
    """Start a fresh cluster with its files in workdir; yield a Cluster; stop it on the way out.

    mapreduce=False starts HDFS only (4 s, 300 MiB instead of 10 s, 400 MiB), not enough for mrjob.
    """
    _require_tools()
    if not _fetched():
        raise RuntimeError('no Hadoop jars in hadoop/lib: call fetch_jars() first')
    work = Path(workdir).resolve()
    (work / 'tmp').mkdir(parents=True, exist_ok=True)
    nn_port, http_port, rm_port, jhs_port = (free_port() for _ in range(4))
    details, log = work / 'details.json', work / 'cluster.log'  # details: written once all is up
    details.unlink(missing_ok=True)
    settings = _site_settings(work, http_port)
    command = ['java', f'-Xmx{heap}', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', *jvm_options(),
               f'-Djava.io.tmpdir={work}/tmp', '-cp', CLASSPATH, MANAGER,
               '-format', '-nnport', str(nn_port), '-nnhttpport', str(http_port),
               '-writeDetails', str(details)]
    command += ['-rmport', str(rm_port), '-jhsport', str(jhs_port)] if mapreduce else ['-nomr']
    for key, value in settings.items():
        command += ['-D', f'{key}={value}']
    # Containers run $JAVA_HOME/bin/java: point it at the java on PATH when unset.
    java_home = os.environ.get('JAVA_HOME') or str(Path(shutil.which('java') or 'java').resolve().parent.parent)
    started = time.monotonic()
    with open(log, 'ab') as out:
        # The cwd matters: the YARN minicluster keeps its files under ./target.
        proc = subprocess.Popen(command, cwd=work, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env={**os.environ, 'JAVA_HOME': java_home}, start_new_session=True,
                                preexec_fn=_die_with_parent)
    try:
        while not (details.exists() and _ready(http_port)):
            if proc.poll() is not None or time.monotonic() > started + timeout:
                why = f'exited with {proc.returncode}' if proc.poll() is not None else f'not up after {timeout}s'
                raise RuntimeError(f'the Hadoop test cluster {why}; the end of {log}:\n'
                                   + _tail(log.read_text(errors='replace')))
            time.sleep(0.5)
        startup = time.monotonic() - started
        conf_dir = work / 'conf'
        _write_conf_dir(conf_dir, _client_conf(settings, nn_port, http_port, rm_port, jhs_port, mapreduce))
        yield Cluster(webhdfs_url=f'http://127.0.0.1:{http_port}', namenode=f'hdfs://127.0.0.1:{nn_port}',
                      conf_dir=str(conf_dir), classpath=CLASSPATH, workdir=str(work), log=str(log), pid=proc.pid,
                      mapreduce=mapreduce, startup_seconds=startup, rss_bytes=_rss_bytes(proc.pid))
    finally:
        _stop(proc)


def main():
    fetch_jars()
    workdir = sys.argv[1] if len(sys.argv) > 1 else str(HOME / 'work')
    with running(workdir) as cluster:
        print(json.dumps(dataclasses.asdict(cluster), indent=2), flush=True)
        print(f'export HADOOP_CONF_DIR={cluster.conf_dir}; Ctrl-C stops it', flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)


if __name__ == '__main__':
    main()
