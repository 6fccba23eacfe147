"""The daily attributes snapshot: what the join decides for each track, and the records it writes.

For each track the join sees its attributes from the base snapshot (or its reject), and where it is in
the analysis sets given to the job. Existing attributes of the current calculator version are kept;
anything else is computed from the newest analysis of the track.
"""
import json

from pipeline import attributes

KEEP, REJECT, POINTER = 'attributes', 'reject', 'analysis'
INTEGERS = ('key', 'mode', 'time_signature')


def decide(values, version):
    """(what, value) for one track from its tagged values: ('keep', record), ('compute', part path)
    or ('reject', record)."""
    kept = rejected = newest = None
    for tag, value in values:
        if tag == KEEP:
            kept = value
        elif tag == REJECT:
            rejected = value
        elif newest is None or value[0] > newest[0]:
            newest = value  # (set rank, part path): the newest set holding the track wins
    if kept and kept['calculator_version'] == version:
        return 'keep', kept
    if rejected and rejected['calculator_version'] == version:
        return 'reject', rejected
    if newest is not None:
        return 'compute', newest[1]
    # An older version with no analysis here to recompute from: keep what there is.
    return ('keep', kept) if kept else ('reject', rejected)


def compute(track_id, analysis_json, version):
    """('keep', attributes record) or ('reject', reject record) for one analysis document."""
    try:
        values = attributes.compute_attributes(json.loads(analysis_json))
        for name in INTEGERS:
            if values[name] != int(values[name]):
                raise attributes.UncomputableAnalysis(f'analysis track.{name} is not a whole number: {values[name]}')
            values[name] = int(values[name])
    except (attributes.UncomputableAnalysis, ValueError, OverflowError) as e:
        return 'reject', {'track_id': track_id, 'calculator_version': version, 'reason': str(e)}
    return 'keep', {'track_id': track_id, 'calculator_version': version, **values}
