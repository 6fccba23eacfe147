"""The seed's map-only job: each input line is one part of a chunk, which a mapper downloads and
commits to the warehouse exactly as the Luigi worker would. Its output is the counts of each part."""
from dataclasses import asdict

from pipeline.ingest import ChunkIngest
from pipeline.jobs.chunk_job import MRChunkJob


class MRIngestChunk(MRChunkJob):
    COUNTERS = 'ingest'
    KEY = 'part'  # one part per map task on Hadoop, so a failed task retries a single part

    def configure_args(self):
        super().configure_args()
        self.add_passthru_arg('--directory', help='the chunk directory in the warehouse')

    def make_chunk(self, warehouse, settings, spec):
        ingest = ChunkIngest(warehouse, settings, self.options.directory, rows=None)
        return asdict(ingest.write_part(spec['part'], spec['rows'], spec['duplicates']))


if __name__ == '__main__':
    MRIngestChunk.run()
