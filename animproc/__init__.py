"""animproc: the functional core (video, image, audio and clustering logic). Never imports dagster."""

__version__ = "0.1.0"
