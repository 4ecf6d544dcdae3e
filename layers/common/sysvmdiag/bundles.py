"""VM-state bundles in S3: one object per request, downloaded through a pre-signed URL with a TTL.

The bucket's lifecycle rule (template.yaml) deletes bundles after a day; the URL expires sooner
(DATA_URL_TTL_SECONDS). Objects are keyed by account, VM and request, so a key names nothing that the
caller does not already know.
"""

from __future__ import annotations

from typing import Any


class S3Bundles:
    available = True

    def __init__(self, bucket: str, client: Any) -> None:
        self._bucket = bucket
        self._client = client

    def put(self, key: str, data: bytes) -> None:
        self._client.put_object(
            Bucket=self._bucket,
            Key=key,
            Body=data,
            ContentType="application/zip",
            ContentDisposition=f'attachment; filename="{key.rsplit("/", 1)[-1]}"',
        )

    def url(self, key: str, ttl_seconds: int) -> str:
        return self._client.generate_presigned_url(
            "get_object", Params={"Bucket": self._bucket, "Key": key}, ExpiresIn=ttl_seconds
        )
