"""The daily attributes join, in two MapReduce steps over a manifest of warehouse files.

Step 1 joins on track ID what is small: the base attributes snapshot and its rejects, and the track-ID
index of the analysis sets (never the analyses). Step 2 groups the tracks that need computing by the
part file holding their analysis, so each part is read once, by one reducer; kept records pass through.
"""
import json

from mrjob.job import MRJob
from mrjob.protocol import JSONProtocol
from mrjob.step import MRStep

from pipeline import analysis_sets, fs, paths, records
from pipeline.config import read_settings
from pipeline.attribute_snapshots import KEEP, POINTER, REJECT, WANTED, compute, decide

PART = 'part:'  # step 2 keys: a part file to compute from, or a track ID passing through


class MRDailyAttributes(MRJob):
    # Several manifest lines per map task: each is one small file.
    HADOOP_INPUT_FORMAT = 'org.apache.hadoop.mapred.lib.NLineInputFormat'
    JOBCONF = {'mapreduce.input.lineinputformat.linespermap': 20}
    OUTPUT_PROTOCOL = JSONProtocol

    def configure_args(self):
        super().configure_args()
        self.add_file_arg('--settings', help='pipeline.config.settings() as a JSON file')
        self.add_passthru_arg('--calculator-version', type=int)

    def steps(self):
        return [MRStep(mapper_init=self.open_warehouse, mapper=self.read, reducer=self.join),
                MRStep(reducer_init=self.open_warehouse, reducer=self.compute)]

    def open_warehouse(self):
        self.warehouse = fs.open_warehouse(read_settings(self.options.settings)['warehouse'])

    def read(self, _, line):
        # NLineInputFormat hands streaming "offset<TAB>line"; JSON lines hold no raw tab.
        entry = json.loads(line.rsplit('\t', 1)[-1])
        if entry['kind'] in ('index', 'wanted'):
            value = (POINTER, (entry['rank'], paths.part(entry['chunk'], entry['part']), entry['wanted'])) \
                if entry['kind'] == 'index' else (WANTED, None)
            for track_id in analysis_sets.part_ids(self.warehouse, entry['chunk'], entry['part']):
                yield track_id, value
            return
        tag, schema = (KEEP, 'attributes') if entry['kind'] == 'attributes' else (REJECT, 'attribute_reject')
        with self.warehouse.open_read(entry['path']) as f:
            for record in records.read(f, schema):
                yield record['track_id'], (tag, record)

    def join(self, track_id, values):
        what, value = decide(values, self.options.calculator_version)
        if what == 'skip':
            return
        if what == 'compute':
            yield PART + value, track_id
        else:
            self.increment_counter('attributes', f'{what} (existing)', 1)
            yield track_id, (what, value)

    def compute(self, key, values):
        if not key.startswith(PART):
            yield key, next(iter(values))
            return
        wanted = set(values)
        with self.warehouse.open_read(key[len(PART):]) as f:
            for record in records.read(f, 'analysis'):
                if record['track_id'] in wanted:
                    what, value = compute(record['track_id'], record['analysis'], self.options.calculator_version)
                    self.increment_counter('attributes', f'{what} (computed)', 1)
                    yield record['track_id'], (what, value)


if __name__ == '__main__':
    MRDailyAttributes.run()
