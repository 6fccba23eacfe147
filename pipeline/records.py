"""Avro files of the warehouse: the schemas under version control and the codec settings."""
import functools
import json
import os
import tempfile
from importlib import resources

import fastavro

@functools.cache
def schema(name):
    # importlib.resources: the package may be a zip shipped with a Hadoop job.
    return fastavro.parse_schema(json.loads(resources.files('pipeline').joinpath(f'schemas/{name}.avsc').read_text()))


def write(fo, schema_name, records, ingest_settings=None, metadata=None, sync_marker=b''):
    """Stream `records` (an iterable of dicts) into `fo`; codec and block size from [ingest]."""
    options = {}
    if ingest_settings:
        options = dict(codec=ingest_settings['codec'], sync_interval=ingest_settings['block_bytes'])
        if ingest_settings['codec'] in ('deflate', 'zstandard'):
            options['codec_compression_level'] = ingest_settings['codec_level']
    fastavro.writer(fo, schema(schema_name), records, metadata=metadata, sync_marker=sync_marker, **options)


def read(fo, schema_name, resolve=True):
    """Records of `fo`, resolved against the project's schema (so older writers' files still read).
    resolve=False skips that (twice as fast) for a file known to have the schema: see has_schema."""
    return fastavro.reader(fo, reader_schema=schema(schema_name) if resolve else None)


def _canonical(parsed):
    return fastavro.schema.to_parsing_canonical_form(parsed)


def has_schema(fo, schema_name):
    """Whether an Avro file was written with exactly this schema: reads its header only."""
    metadata, _ = _header(fo)
    return _canonical(json.loads(metadata['avro.schema'])) == _canonical(schema(schema_name))


def _read_long(fo):
    shift = result = 0
    while True:
        byte = fo.read(1)
        if not byte:
            raise EOFError
        result |= (byte[0] & 0x7F) << shift
        shift += 7
        if not byte[0] & 0x80:
            return (result >> 1) ^ -(result & 1)


def _long(n):
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while n & ~0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _header(fo):
    """(metadata, sync marker) of an Avro object container file, leaving `fo` at its first block."""
    if fo.read(4) != b'Obj\x01':
        raise ValueError('not an Avro object container file')
    metadata = {}
    while count := _read_long(fo):
        if count < 0:
            count = -count
            _read_long(fo)  # the block's size in bytes
        for _ in range(count):
            key = fo.read(_read_long(fo)).decode()
            metadata[key] = fo.read(_read_long(fo))
    return metadata, fo.read(16)


def concat(sources, fo, schema_name, ingest_settings, metadata=None):
    """The blocks of Avro files (`sources`: readable binary streams) into one new file, as they are:
    nothing is decompressed or decoded, which is the cost of a copy. Every source must have this
    schema and the configured codec, or ValueError."""
    sync = os.urandom(16)
    write(fo, schema_name, [], ingest_settings, metadata=metadata, sync_marker=sync)
    expected = {'avro.schema': _canonical(schema(schema_name)), 'avro.codec': ingest_settings['codec']}
    for source in sources:
        metadata, source_sync = _header(source)
        found = {'avro.schema': _canonical(json.loads(metadata['avro.schema'])),
                 'avro.codec': metadata.get('avro.codec', b'null').decode()}
        if found != expected:
            raise ValueError(f'cannot concatenate blocks of another schema or codec: {found["avro.codec"]}')
        while True:
            try:
                count = _read_long(source)
            except EOFError:
                break
            size = _read_long(source)
            data = source.read(size)
            if source.read(16) != source_sync:
                raise ValueError('an Avro block does not end with its sync marker: the file is corrupt')
            fo.write(_long(count) + _long(size) + data + sync)


TRACK_IDS = 'pipeline.track_ids'  # header metadata: the file's track IDs, one a line


def write_indexed(fo, schema_name, stream, ingest_settings):
    """`write`, with the track IDs of the records in the file's header (see track_ids); returns them.
    The header comes first, so the blocks are written to a local temporary file, then copied as they are."""
    ids = []

    def tracked():
        for record in stream:
            ids.append(record['track_id'])
            yield record
    with tempfile.TemporaryFile() as blocks:
        write(blocks, schema_name, tracked(), ingest_settings)
        blocks.seek(0)
        concat([blocks], fo, schema_name, ingest_settings, metadata={TRACK_IDS: '\n'.join(ids)})
    return ids


def track_ids(fo):
    """The track IDs of a file written by write_indexed, from its header alone: no block is read."""
    metadata, _ = _header(fo)
    return metadata[TRACK_IDS].decode().split('\n') if metadata.get(TRACK_IDS) else []
