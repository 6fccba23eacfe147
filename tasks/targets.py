"""Luigi's view of the warehouse (targets whose existence is asked of pipeline.fs, whatever the backend)
and of the dates that name its datasets."""
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


class DateParameter(luigi.DateParameter):
    """`--date`, with an error that says which value is no date."""

    def parse(self, s):
        try:
            return super().parse(s)
        except ValueError as e:
            raise ValueError(f'--date {s!r} is not a date of the form YYYY-MM-DD ({e})') from None
