import pytest

from animproc.config import FilmConfig, load_film_config, parse_film_config
from animproc.errors import ConfigError, FilmKeyError
from animproc.films import slugify, validate_film_key


@pytest.mark.parametrize("name", ["sintel", "big-buck-bunny", "tears_of_steel", "a", "film2"])
def test_valid_film_keys_pass(name):
    """Lowercase slugs are accepted unchanged."""
    assert validate_film_key(name) == name


@pytest.mark.parametrize("name", ["", "../etc", "a/b", "a\\b", ".hidden", "Sintel", "my film", "-x", "x-", "é"])
def test_invalid_film_keys_are_refused(name):
    """Anything that is not a lowercase slug, and anything with path characters, is refused."""
    with pytest.raises(FilmKeyError):
        validate_film_key(name)


def test_path_characters_are_named_in_the_error():
    """The error says why a key with path characters is refused."""
    with pytest.raises(FilmKeyError, match="path characters"):
        validate_film_key("../../secrets")


def test_slugify_derives_keys_from_file_names():
    """Inbox file names become keys: lowercase, accents dropped, separators collapsed."""
    assert slugify("Big Buck Bunny (2008) 1080p") == "big-buck-bunny-2008-1080p"
    assert slugify("Café Épisode_01") == "cafe-episode-01"


def test_missing_config_gives_3d_defaults(tmp_path):
    """Without configs/projects/{film}.yaml the generic 3D defaults apply."""
    config, path = load_film_config(tmp_path, "nothing-here")
    assert path is None
    assert config.instances.alpha_threshold == 0.15
    assert config.quality.min_sharpness is None and config.quality.max_blur == 0.6  # no absolute sharpness floor
    assert config.identities.min_cluster_size == 10


def test_config_values_and_character_shorthand(tmp_path):
    """Character names may be plain strings; values override defaults."""
    (tmp_path / "f.yaml").write_text("characters: [ava, {name: bo, reference_image: bo.png}]\n"
                                     "sampling: {mode: scene, frames_per_shot: 5}\n")
    config, _ = load_film_config(tmp_path, "f")
    assert [c.name for c in config.characters] == ["ava", "bo"]
    assert config.characters[1].reference_image == "bo.png"
    assert config.sampling.mode == "scene" and config.sampling.frames_per_shot == 5


@pytest.mark.parametrize("text, key, reason", [
    ("sampling: {mode: random}\n", "sampling.mode", "Input should be"),
    ("quality: {min_sharpnes: 5}\n", "quality.min_sharpnes", "unknown key"),
    ("frames_per_shot: 3\n", "frames_per_shot", "unknown key"),
    ("sampling: {frames_per_shot: 0}\n", "sampling.frames_per_shot", "greater than or equal to 1"),
    ("quality: {min_brightness: 200, max_brightness: 100}\n", "quality", "min_brightness must be below"),
    ("characters: [ava, ava]\n", "(top level)", "repeated: ava"),
])
def test_bad_config_names_file_key_and_reason(tmp_path, text, key, reason):
    """A bad key or value is an error naming the file, the key and the reason."""
    path = tmp_path / "film.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_film_config(tmp_path, "film")
    message = str(err.value)
    assert str(path) in message and key in message and reason in message


def test_unparseable_yaml_is_reported(tmp_path):
    """YAML syntax errors name the file."""
    with pytest.raises(ConfigError, match="not valid YAML"):
        parse_film_config("sampling: [unclosed", tmp_path / "x.yaml")


def test_config_must_be_a_mapping(tmp_path):
    with pytest.raises(ConfigError, match="expected a mapping"):
        parse_film_config("- a\n- b\n", tmp_path / "x.yaml")


def test_repository_configs_are_valid():
    """Every config shipped in configs/projects validates."""
    from pathlib import Path

    folder = Path(__file__).resolve().parents[1] / "configs" / "projects"
    for path in folder.glob("*.yaml"):
        assert isinstance(parse_film_config(path.read_text(), path), FilmConfig)
