"""Avro files of the warehouse: the schemas under version control and the codec settings."""
import functools
import json
from pathlib import Path

import fastavro

SCHEMAS = Path(__file__).with_name('schemas')


@functools.cache
def schema(name):
    return fastavro.parse_schema(json.loads((SCHEMAS / f'{name}.avsc').read_text()))


def write(fo, schema_name, records, ingest_settings=None, metadata=None):
    """Stream `records` (an iterable of dicts) into `fo`; codec and block size from [ingest]."""
    options = {}
    if ingest_settings:
        options = dict(codec=ingest_settings['codec'], sync_interval=ingest_settings['block_bytes'])
        if ingest_settings['codec'] in ('deflate', 'zstandard'):
            options['codec_compression_level'] = ingest_settings['codec_level']
    fastavro.writer(fo, schema(schema_name), records, metadata=metadata, **options)


def read(fo, schema_name):
    """Records of `fo`, resolved against the project's schema (so older writers' files still read)."""
    return fastavro.reader(fo, reader_schema=schema(schema_name))
