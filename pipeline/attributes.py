"""Daily audio attributes of a track, computed from its Echo Nest analysis.

tempo, key, mode, time_signature and loudness are copied from `track`, and duration_ms is
round(track.duration * 1000), as the Echo Nest and Spotify published them. The other seven attributes are
estimates in [0, 1] of the published ones: each is σ(offset + gain × Σ weight × term) over a few terms
(`ESTIMATES`), where a term is a summary feature of the analysis, centred and scaled on real music and
clamped to [-2, 2] (`FEATURES`):

    loudness    track.loudness (dB): the level of the whole master
    brightness, flatness, attack
                timbre[1], timbre[2], timbre[3] (timbre[0] is loudness, already covered)
    rise        loudness_max - loudness_start (dB) of the onsets: how far an attack rises above what
                precedes it; a difference of levels, so a louder master does not move it
    onsets      segments that rise at least 6 dB from their start, per second: attacks, not the cuts
                an analyzer makes inside a sound
    flux        |change| of timbre[1..3] between consecutive segments, per second: how fast the sound
                changes; per second, so an analyzer that cuts finer segments does not move it
    density     mean pitch value (pitches peak at 1): 1/12 for one pure pitch class, 1 for noise
    beat, regularity
                mean beat confidence; -log of the mean |difference of consecutive beat durations| /
                mean beat duration (local, so a deliberate tempo change does not count as irregular)
    metre       track.time_signature_confidence
    tempo_fit   1 for tempo 90..130 BPM, falling linearly to 0 at 40 BPM outside that range; 0 for tempo 0
    major       mode_confidence for major, -mode_confidence for minor, 0 for no mode detected

Why these and not others: every one exists and means the same in analyses of every era, from the Echo
Nest's of 2010 (analyzer 3) to Spotify's of 2021 (analyzer 4). Fields only one era has (tempo_confidence,
loudness_end, the fingerprints) are not used. Segment means are weighted by duration and leave out
silence (segments 30 dB below the track's loudness: fade-ins, gaps), so two analyzers that cut the same
music into segments differently land in the same place, and a long silent intro does not count. A feature
a document lacks (no beats, no pitches, no loudness_start) takes its centre and contributes nothing.

Centres and spreads are the median and half the p10..p90 range of each feature over real music (the
248 Echo Nest analyses of ../shared/calibration/); offsets and gains are set so that the estimates over
those analyses have the quantiles of the published values (`python -m bench.calibration` prints both).
Nothing is tuned to a single track.
"""
import math

CALCULATOR_VERSION = 2

ATTRIBUTE_NAMES = (
    'tempo', 'key', 'mode', 'time_signature', 'loudness', 'duration_ms',
    'acousticness', 'danceability', 'energy', 'instrumentalness', 'liveness', 'speechiness', 'valence',
)

_COPIED = ('tempo', 'key', 'mode', 'time_signature', 'loudness')

# (centre, spread) of each feature over real music: term = clamp((value - centre) / spread, -2, 2).
FEATURES = {
    'loudness': (-9.3, 5.4),
    'brightness': (2.4, 60.0),
    'flatness': (12.3, 46.0),
    'attack': (7.0, 20.0),
    'rise': (11.0, 2.9),
    'onsets': (1.9, 1.5),
    'flux': (350.0, 235.0),
    'density': (0.33, 0.10),
    'beat': (0.43, 0.23),
    'regularity': (4.6, 0.86),
    'metre': (0.58, 0.5),
    'tempo_fit': (0.96, 0.5),
    'major': (0.37, 0.6),
}
_LIMIT = 2.0
_SILENCE_DB = 30.0
_ONSET_DB = 6.0

# attribute: (offset, gain, {feature: weight}); the weights of an attribute add up to 1 in absolute value.
ESTIMATES = {
    # Acoustic instruments are quieter, darker and change sound more slowly than amplified and electronic ones.
    'acousticness': (-1.75, 4.0, {'loudness': -0.4, 'brightness': -0.35, 'flux': -0.25}),
    # Dance music has a beat the analyzer is sure of, steady beats, a clear metre and a tempo of 90-130 BPM.
    'danceability': (0.56, 1.4, {'beat': 0.4, 'regularity': 0.2, 'metre': 0.2, 'tempo_fit': 0.2}),
    # Energetic tracks are loud, dense with onsets, changing and bright.
    'energy': (0.68, 1.84, {'loudness': 0.5, 'onsets': 0.2, 'flux': 0.15, 'brightness': 0.15}),
    # A voice lights many pitch classes through formants and glides (density), moves timbre at syllable rate
    # (flux), starts its notes softly where struck, plucked and bowed instruments attack, and sings in the
    # regular bars of a song; the level of the master says nothing about it.
    'instrumentalness': (-3.1, 7.9, {'density': -0.3, 'flux': -0.2, 'attack': 0.25, 'metre': -0.25}),
    # Audience and room fill the gaps between onsets (small rise) and soften and blur attacks.
    'liveness': (-1.65, 1.0, {'rise': -0.5, 'attack': -0.3, 'onsets': -0.2}),
    # Speech changes timbre at syllable rate, is unpitched (dense chroma) and noisy (flat), with sharp rises
    # and no steady beat.
    'speechiness': (-3.0, 1.6, {'flux': 0.3, 'density': 0.25, 'flatness': 0.15, 'rise': 0.15,
                                'regularity': -0.15}),
    # Happy-sounding music is danceable, energetic and consonant (pitched, not noise); the published values
    # follow the major mode only weakly.
    'valence': (-0.17, 3.5, {'beat': 0.3, 'loudness': 0.2, 'onsets': 0.15, 'major': 0.1, 'density': -0.25}),
}


class UncomputableAnalysis(ValueError):
    """The analysis lacks what every attribute needs; the message says what, for the rejects output."""


def compute_attributes(analysis):
    """The attributes of ATTRIBUTE_NAMES for one analysis document (a dict as parsed from JSON)."""
    track, features = analysis_features(analysis)
    terms = feature_terms(features)
    attributes = {name: track[name] for name in _COPIED}
    attributes['duration_ms'] = round(track['duration'] * 1000)
    for name, (offset, gain, weights) in ESTIMATES.items():
        attributes[name] = round(_logistic(offset + gain * weighted_sum(terms, weights)), 4)
    return {name: attributes[name] for name in ATTRIBUTE_NAMES}


def analysis_features(analysis):
    """The document's track object and the features of FEATURES, None for those it lacks."""
    track, segments = _required_parts(analysis)
    features = dict.fromkeys(FEATURES)
    features.update(_segment_features(segments, track['loudness']))
    features.update(_beat_features(analysis.get('beats')))
    features['loudness'] = track['loudness']
    metre = track.get('time_signature_confidence')
    features['metre'] = metre if _is_number(metre) else None
    features['tempo_fit'] = _tempo_fit(track['tempo'])
    features['major'] = _major(track)
    return track, features


def feature_terms(features):
    """Each feature centred, scaled and clamped to ±_LIMIT; 0 for a missing one."""
    return {name: 0.0 if features[name] is None else _clamp((features[name] - centre) / spread, -_LIMIT, _LIMIT)
            for name, (centre, spread) in FEATURES.items()}


def weighted_sum(terms, weights):
    return sum(weight * terms[feature] for feature, weight in weights.items())


def _required_parts(analysis):
    if not isinstance(analysis, dict):
        raise UncomputableAnalysis(f'analysis is not a JSON object but {type(analysis).__name__}')
    track = analysis.get('track')
    if not isinstance(track, dict):
        raise UncomputableAnalysis('analysis has no track object')
    for name in ('duration',) + _COPIED:
        if name not in track:
            raise UncomputableAnalysis(f'analysis has no track.{name}')
        if not _is_number(track[name]):
            raise UncomputableAnalysis(f'analysis track.{name} is not a number: {track[name]!r}')
    if not 0 < track['duration'] < math.inf:
        raise UncomputableAnalysis(f'analysis track.duration is not a positive number: {track["duration"]!r}')
    segments = analysis.get('segments')
    if not isinstance(segments, list):
        raise UncomputableAnalysis('analysis has no segments list')
    if not segments:
        raise UncomputableAnalysis('analysis has an empty segments list')
    return track, segments


def _segment_features(segments, loudness):
    """brightness, flatness, attack, rise, onsets, flux and density in one pass over the segments."""
    silence = loudness - _SILENCE_DB
    sound = brightness = flatness = attack = flux = 0.0
    rise = risen = density = pitched = 0.0
    onsets = levelled = 0
    previous = None
    for index, segment in enumerate(segments):
        timbre = segment.get('timbre') if isinstance(segment, dict) else None
        if type(timbre) is not list or len(timbre) != 12:
            raise UncomputableAnalysis(f'analysis segment {index} has no timbre of 12 numbers')
        try:
            sum(timbre)  # raises TypeError unless all 12 are numbers
            peak, start = segment.get('loudness_max'), segment.get('loudness_start')
            if peak is not None and peak < silence:
                previous = None  # the sound after a silence is no change of sound
                continue
            weight = max(segment.get('duration', 0.0), 0.0)
            sound += weight
            t1, t2, t3 = timbre[1], timbre[2], timbre[3]
            brightness += weight * t1
            flatness += weight * t2
            attack += weight * t3
            if previous is not None:
                flux += abs(t1 - previous[1]) + abs(t2 - previous[2]) + abs(t3 - previous[3])
            previous = timbre
            if peak is not None and start is not None:
                levelled += 1
                if peak - start >= _ONSET_DB:
                    rise += weight * (peak - start)
                    risen += weight
                    onsets += 1
            pitches = segment.get('pitches')
            if type(pitches) is list and len(pitches) == 12:
                density += weight * sum(pitches)
                pitched += weight
        except TypeError:
            raise UncomputableAnalysis(f'analysis segment {index} has a value that is not a number') from None
    if not sound > 0:  # all silence, or no durations: nothing to measure
        return {}
    return {
        'brightness': brightness / sound,
        'flatness': flatness / sound,
        'attack': attack / sound,
        'rise': rise / risen if risen else None,
        'onsets': onsets / sound if levelled else None,
        'flux': flux / sound,
        'density': density / (12 * pitched) if pitched else None,
    }


def _beat_features(beats):
    """beat and regularity; None when the analyzer found too few beats."""
    confidences, durations = [], []
    for beat in beats if isinstance(beats, list) else ():
        if not isinstance(beat, dict):
            continue
        confidence, duration = beat.get('confidence'), beat.get('duration')
        if confidence is not None:
            confidences.append(confidence)
        if duration is not None:
            durations.append(duration)
    try:
        confidence = sum(confidences) / len(confidences) if confidences else None
        total = sum(durations)
        regularity = None
        if len(durations) > 1 and total > 0:
            steps = sum(abs(b - a) for a, b in zip(durations, durations[1:]))
            jitter = steps / (len(durations) - 1) / (total / len(durations))
            regularity = -math.log(max(jitter, 1e-4))
    except TypeError:
        raise UncomputableAnalysis('analysis beats have a value that is not a number') from None
    return {'beat': confidence, 'regularity': regularity}


def _tempo_fit(tempo):
    if tempo <= 0:  # the analyzer found no pulse
        return 0.0
    distance = max(90 - tempo, tempo - 130, 0)
    return max(0.0, 1 - distance / 40)


def _major(track):
    mode = track['mode']
    confidence = track.get('mode_confidence')
    if not _is_number(confidence):
        confidence = 0.5  # a mode given without its confidence is half trusted
    return {1: confidence, 0: -confidence}.get(mode, 0.0)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _clamp(value, low, high):
    return min(max(value, low), high)


def _logistic(z):
    if z != z:  # NaN from a NaN or infinite input: no evidence either way
        return 0.5
    return 1 / (1 + math.exp(-_clamp(z, -60.0, 60.0)))
