"""The warehouse filesystem: one small interface, a local directory or HDFS through WebHDFS.

Paths are absolute warehouse paths ('/echonest/analysis/full/2014-09-01/...'). Writes are atomic:
a writer streams into a hidden temporary name beside the target and renames it on success, so a
reader never sees a partial file and a crash leaves only a '.tmp-*' file that readers ignore.
"""
import contextlib
import errno
import io
import os
import shutil
import uuid
from pathlib import Path


class WarehouseError(RuntimeError):
    pass


# A disk that cannot take a write: an error about the warehouse, not about the data being written.
_DISK_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO}
AGAIN = 'nothing half-written is visible: run the same command again once it is back.'


def _tmp_name(path):
    head, _, tail = path.rpartition('/')
    return f'{head}/.tmp-{uuid.uuid4().hex[:12]}-{tail}'


class LocalWarehouse:
    def __init__(self, root):
        self.root = Path(root).resolve()

    def __repr__(self):
        return f'local warehouse {self.root}'

    def local(self, path):
        return self.root / path.lstrip('/')

    def exists(self, path):
        return self.local(path).exists()

    def listdir(self, path):
        """Names in a directory, sorted; [] when it does not exist."""
        try:
            return sorted(os.listdir(self.local(path)))
        except FileNotFoundError:
            return []

    @contextlib.contextmanager
    def open_read(self, path):
        with open(self.local(path), 'rb') as f:
            yield f

    @contextlib.contextmanager
    def open_write(self, path):
        target = self.local(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.local(_tmp_name(path))
        try:
            with open(tmp, 'wb') as f:
                yield f
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException as e:
            tmp.unlink(missing_ok=True)
            if isinstance(e, OSError) and e.errno in _DISK_ERRORS:
                raise WarehouseError(f'cannot write {path} in the {self}: {e.strerror}. Make room; {AGAIN}') from e
            raise

    def link(self, source, target):
        """`target` names the file `source` names: files are never changed once in place, so sharing is safe."""
        tmp = self.local(_tmp_name(target))
        tmp.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(self.local(source), tmp)
            os.replace(tmp, self.local(target))
        except OSError as e:
            tmp.unlink(missing_ok=True)
            if e.errno in _DISK_ERRORS:
                raise WarehouseError(f'cannot write {target} in the {self}: {e.strerror}. Make room; {AGAIN}') from e
            raise

    def walk(self, path):
        """(directory, file names) of a tree, as warehouse paths."""
        for directory, _, files in os.walk(self.local(path)):
            yield str(Path('/') / Path(directory).relative_to(self.root)), files

    def rename(self, src, dst):
        self.local(dst).parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.local(src), self.local(dst))

    def remove(self, path):
        p = self.local(path)
        if p.is_dir():
            # Out of sight in one atomic step, as an HDFS delete is; then the slow part.
            doomed = self.local(_tmp_name(path))
            os.replace(p, doomed)
            shutil.rmtree(doomed)
        else:
            p.unlink(missing_ok=True)

    def size(self, path):
        return self.local(path).stat().st_size


class WebHdfsWarehouse:
    """HDFS through WebHDFS with HdfsCLI: no `hadoop` binary, no $USER guessing."""

    def __init__(self, url, user, timeout):
        import hdfs  # only needed on a cluster
        import requests
        self.url = url
        # Without a timeout, a namenode that hangs (GC, a partition) would hang the worker for ever.
        self.client = hdfs.InsecureClient(url, user=user, timeout=timeout)
        self._errors = (hdfs.HdfsError,)
        self._unreachable = (requests.exceptions.RequestException,)

    @contextlib.contextmanager
    def _answering(self, doing, path):
        try:
            yield
        except self._unreachable as e:
            raise WarehouseError(f'HDFS at {self.url} did not answer while {doing} {path} ({type(e).__name__}): '
                                 f'is the namenode up? Then {AGAIN}') from e

    def __repr__(self):
        return f'HDFS at {self.url}'

    def exists(self, path):
        with self._answering('looking for', path):
            return self.client.status(path, strict=False) is not None

    def listdir(self, path):
        with self._answering('listing', path):
            try:
                return sorted(self.client.list(path))
            except self._errors as e:
                # Asked of the answer itself: a second request could see the directory appear meanwhile.
                if e.exception == 'FileNotFoundException':
                    return []
                raise

    @contextlib.contextmanager
    def open_read(self, path):
        with self._answering('reading', path), self.client.read(path) as f:
            f.auto_close = False  # urllib3 would close at the end of the body, under the buffer's feet
            yield io.BufferedReader(f, 1 << 20)  # a raw HTTP stream: small reads need a buffer

    @contextlib.contextmanager
    def open_write(self, path):
        tmp = _tmp_name(path)
        with self._answering('writing', path):
            try:
                with self.client.write(tmp, overwrite=True) as f:
                    yield f
                self.rename(tmp, path)
            except BaseException:
                with contextlib.suppress(*self._unreachable):  # a namenode that is down keeps the '.tmp-' file
                    self.client.delete(tmp)
                raise

    def link(self, source, target):
        # HDFS has no hard links: a copy, made where this runs (a map task on the cluster).
        copy(self, source, target)

    def walk(self, path):
        with self._answering('listing', path):
            for directory, _, files in self.client.walk(path):
                yield directory, files

    def rename(self, src, dst):
        with self._answering('renaming', f'{src} to {dst}'):
            # HDFS rename does not replace an existing file.
            self.client.delete(dst)
            self.client.makedirs(dst.rpartition('/')[0] or '/')
            self.client.rename(src, dst)

    def remove(self, path):
        with self._answering('deleting', path):
            self.client.delete(path, recursive=True)

    def size(self, path):
        with self._answering('reading the size of', path):
            return self.client.status(path)['length']


def remove_temporaries(warehouse, directory):
    """The '.tmp-*' files that writers killed mid-write left in a tree."""
    for parent, files in list(warehouse.walk(directory)):
        for name in files:
            if name.startswith('.tmp-'):
                warehouse.remove(f'{parent}/{name}')


def copy(warehouse, source, target):
    """Byte for byte, streaming, atomic at the target."""
    with warehouse.open_read(source) as src, warehouse.open_write(target) as dst:
        shutil.copyfileobj(src, dst, 8 * 1024 * 1024)


def open_warehouse(settings):
    """The warehouse named by a [warehouse] settings dict (see pipeline.config)."""
    if settings['kind'] == 'webhdfs':
        return WebHdfsWarehouse(settings['webhdfs_url'], settings['user'], settings['timeout'])
    return LocalWarehouse(settings['root'])
