"""Luigi's view of the warehouse: targets whose existence is asked of pipeline.fs, whatever the backend."""
import luigi

from pipeline import config, fs


def warehouse():
    return fs.open_warehouse(config.settings()['warehouse'])


class WarehouseTarget(luigi.Target):
    def __init__(self, path):
        self.path = path

    def __repr__(self):
        return f'WarehouseTarget({self.path!r})'

    def exists(self):
        return warehouse().exists(self.path)
