"""Compaction, a map task per chunk of the new full snapshot: compaction.compact_chunk merges it from the
same chunk of the previous full snapshot and of the incremental sets."""
from pipeline.compaction import compact_chunk
from pipeline.jobs.chunk_job import MRChunkJob


class MRCompactChunk(MRChunkJob):
    COUNTERS = 'compaction'

    def make_chunk(self, warehouse, settings, spec):
        return compact_chunk(warehouse, settings['ingest'], spec['chunk'], spec['previous_full'],
                             spec['incrementals'], spec['out'])


if __name__ == '__main__':
    MRCompactChunk.run()
