"""The GET of a document as sent over the wire: signed (SigV4) as S3 checks it. The local S3 server checks
no signature, so this checks what it would not: the request a recording server received, against a
signature computed here from AWS's specification, not by botocore."""
import hashlib
import hmac
import http.server
import threading
import urllib.parse

import pytest
import urllib3
from botocore.awsrequest import AWSResponse

from pipeline import config, s3

KEYS = ['TR/AB/TRABCDE12345678901/full.json', 'a key/with spaces+plus~tilde/été.json', "odd?#%&=;'key"]
SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY'


class Recorder(http.server.BaseHTTPRequestHandler):
    """Answers every GET 404 (no such key), keeping what it received."""
    received = []

    def do_GET(self):
        self.received.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.mark.parametrize('region', ['us-east-1', 'eu-west-1'])
def test_a_get_is_signed_as_aws_checks_it(cfg, monkeypatch, region):
    monkeypatch.setenv('AWS_ACCESS_KEY_ID', 'AKIDEXAMPLE')
    monkeypatch.setenv('AWS_SECRET_ACCESS_KEY', SECRET)
    monkeypatch.setenv('AWS_SESSION_TOKEN', 'a-session-token')
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Recorder.received = []
    try:
        settings = dict(config.settings()['s3'], region=region, endpoint_url=f'http://127.0.0.1:{server.server_port}')
        store = s3.AnalysisStore(settings)
        for key in KEYS:
            body, reason, _, _ = store._get(key, {'track_id': 't'})
            assert (body, reason) == (None, 'missing')
    finally:
        server.shutdown()
    assert len(Recorder.received) == len(KEYS)
    for key, (path, headers) in zip(KEYS, Recorder.received):
        assert path == f'/{store.bucket}/' + urllib.parse.quote(key, safe='/~')  # S3's encoding of a key
        assert headers['x-amz-security-token'] == 'a-session-token'
        assert headers['x-amz-content-sha256'] == hashlib.sha256(b'').hexdigest()
        assert headers['authorization'] == _authorization(path, headers, region)


@pytest.mark.parametrize('region', ['us-east-1', 'eu-west-1'])
def test_a_get_goes_where_boto3s_get_object_goes(cfg, monkeypatch, region):
    # On AWS the bucket's regional endpoint, not the global one of a presigned URL (which may redirect).
    monkeypatch.setenv('AWS_ACCESS_KEY_ID', 'AKIDEXAMPLE')
    monkeypatch.setenv('AWS_SECRET_ACCESS_KEY', SECRET)
    store = s3.AnalysisStore(dict(config.settings()['s3'], region=region, endpoint_url=''))
    prepared = []

    def answer(request, **kwargs):  # boto3's request, not sent
        prepared.append((request.url, request.headers['Authorization'].decode()))
        return AWSResponse(request.url, 200, {}, urllib3.HTTPResponse(b''))
    store.client.meta.events.register('before-send.s3.GetObject', answer)
    for key in KEYS:
        store.client.get_object(Bucket=store.bucket, Key=key)
        url, headers = store._signed(key)
        assert url == prepared[-1][0]
        assert f'/{region}/s3/aws4_request' in headers['Authorization'] and f'/{region}/s3/' in prepared[-1][1]
    assert prepared[0][0].startswith(f'https://{store.bucket}.s3.{region}.amazonaws.com/' if region != 'us-east-1'
                                     else f'https://{store.bucket}.s3.amazonaws.com/')


def _authorization(path, headers, region):
    """The Authorization header of a GET with no body and no query, as AWS's SigV4 specification makes it."""
    credential = headers['authorization'].split('Credential=')[1].split(',')[0]
    signed = headers['authorization'].split('SignedHeaders=')[1].split(',')[0].split(';')
    assert {'host', 'x-amz-date', 'x-amz-content-sha256', 'x-amz-security-token'} <= set(signed)
    date = headers['x-amz-date']
    scope = f'{date[:8]}/{region}/s3/aws4_request'
    assert credential == f'AKIDEXAMPLE/{scope}'
    canonical = '\n'.join(['GET', path, '', *(f'{h}:{headers[h].strip()}' for h in sorted(signed)), '',
                           ';'.join(sorted(signed)), headers['x-amz-content-sha256']])
    to_sign = '\n'.join(['AWS4-HMAC-SHA256', date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = f'AWS4{SECRET}'.encode()
    for part in (date[:8], region, 's3', 'aws4_request'):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return f'AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders={";".join(sorted(signed))}, Signature={signature}'


def test_no_credentials_stop_at_once_with_what_to_do(cfg, monkeypatch, tmp_path):
    for name in ('AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE'):
        monkeypatch.delenv(name, raising=False)
    for name in ('AWS_SHARED_CREDENTIALS_FILE', 'AWS_CONFIG_FILE'):
        monkeypatch.setenv(name, str(tmp_path / 'none'))
    monkeypatch.setenv('AWS_EC2_METADATA_DISABLED', 'true')
    settings = dict(config.settings()['s3'], endpoint_url='https://s3.example.com')
    with pytest.raises(s3.S3Error, match=r'no AWS credentials found for s3://\S+ at https://s3.example.com: set'):
        s3.AnalysisStore(settings)
