import io
import json

import pytest

from pipeline import records, synthetic

DEFLATE = {'codec': 'deflate', 'codec_level': 6, 'block_bytes': 200}


def avro_file(track_ids, settings=DEFLATE):
    f = io.BytesIO()
    records.write(f, 'analysis', [{'track_id': t, 'echonest_id': 'TR', 'analysis': '{"segments": []}'}
                                  for t in track_ids], settings)
    f.seek(0)
    return f


def test_concatenated_blocks_read_back_as_every_record_in_order():
    out = io.BytesIO()
    records.concat([avro_file(['a', 'b', 'c']), avro_file([]), avro_file(['d'])], out, 'analysis', DEFLATE)
    out.seek(0)
    assert [r['track_id'] for r in records.read(out, 'analysis')] == ['a', 'b', 'c', 'd']


def test_blocks_of_another_codec_are_refused():
    snappy = dict(DEFLATE, codec='snappy')
    with pytest.raises(ValueError, match='another schema or codec: snappy'):
        records.concat([avro_file(['a'], snappy)], io.BytesIO(), 'analysis', DEFLATE)


def test_a_corrupt_block_is_refused():
    data = bytearray(avro_file(['a', 'b']).getvalue())
    data[-1] ^= 0xFF  # the last sync marker
    with pytest.raises(ValueError, match='sync marker'):
        records.concat([io.BytesIO(bytes(data))], io.BytesIO(), 'analysis', DEFLATE)


@pytest.mark.parametrize('codec, level', [('null', None), ('deflate', None), ('snappy', None), ('zstandard', None),
                                          ('zstandard', 1), ('zstandard', 4), ('zstandard', 6)])
def test_blocks_packed_here_read_back_with_fastavro(codec, level):
    settings = {'codec': codec, 'codec_level': level, 'block_bytes': 200}
    analysis = json.dumps(synthetic.synthetic_analysis(7, "echonest", 30.0), separators=(',', ':'))  # matches to find
    batches = [[{'track_id': 'a', 'echonest_id': 'TR', 'analysis': '{"é":[1.5]}'.encode()}], [],
               [{'track_id': 'b', 'echonest_id': 'TR', 'analysis': '{}'},
                {'track_id': 'c', 'echonest_id': 'TR', 'analysis': analysis.encode()}]]
    out = io.BytesIO()
    records.write_blocks(out, 'analysis', (records.block('analysis', b, settings) for b in batches), settings)
    out.seek(0)
    assert [(r['track_id'], r['analysis']) for r in records.read(out, 'analysis')] == [
        ('a', '{"é":[1.5]}'), ('b', '{}'), ('c', analysis)]
