"""Storage root for every film's outputs, from ANIMPROC_DATA (default ./data; `s3://bucket/prefix` works)."""
from dagster import ConfigurableResource

from animproc.storage import Storage
from resources import from_env


class StorageResource(ConfigurableResource):
    root: str = from_env("ANIMPROC_DATA", "data")
    s3_endpoint_url: str | None = from_env("ANIMPROC_S3_ENDPOINT_URL")

    def storage(self) -> Storage:
        if self.root.startswith("s3://") and self.s3_endpoint_url:
            return Storage(self.root, client_kwargs={"endpoint_url": self.s3_endpoint_url})
        return Storage(self.root)
