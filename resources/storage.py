"""Storage root for every film's outputs, from ANIMPROC_DATA (default ./data; `s3://bucket/prefix` works)."""
import os

from dagster import ConfigurableResource
from pydantic import Field

from animproc.storage import Storage


class StorageResource(ConfigurableResource):
    root: str = Field(default_factory=lambda: os.environ.get("ANIMPROC_DATA", "data"))
    s3_endpoint_url: str | None = Field(default_factory=lambda: os.environ.get("ANIMPROC_S3_ENDPOINT_URL"))

    def storage(self) -> Storage:
        if self.root.startswith("s3://") and self.s3_endpoint_url:
            return Storage(self.root, client_kwargs={"endpoint_url": self.s3_endpoint_url})
        return Storage(self.root)
