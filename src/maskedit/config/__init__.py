"""Typed settings, prompts, cases and manifests, and the model-loading options; every default
is written here once. No torch here: the CLI checks its flags before any heavy import.

`settings` holds the typed edit, `values` checks one manifest value at a time, `yaml_doc` reads a
manifest's YAML within bounds, `manifest` turns it into cases, `loading` holds `ModelOptions`.
"""

from maskedit.config.loading import (  # noqa: F401 - the package's public names
    COMPILE_MODES,
    DTYPES,
    TEXT_BACKENDS,
    VAE_TILING,
    ModelOptions,
    Speedups,
    _one_line,
    is_local_or_hub_id,
    shown,
)
from maskedit.config.manifest import (  # noqa: F401
    Manifest,
    case_from_dict,
    check_threshold,
    load_manifest,
)
from maskedit.config.settings import (  # noqa: F401
    _CASE_KEYS,
    _SETTING_KEYS,
    BENCHMARKS,
    DEFAULT_SEED,
    HARMONIZE,
    MASK_SOURCES,
    METHODS,
    PROMPT_KEYS,
    RUN_FOLDER_FILES,
    WORKING_SIZE_RANGE,
    BenchmarkTag,
    Case,
    EditSettings,
    Method,
    Prompts,
    Region,
    Turn,
)
from maskedit.config.values import _inside, _suggest, kind_of  # noqa: F401
from maskedit.config.yaml_doc import (  # noqa: F401
    MAX_MANIFEST_BYTES,
    MAX_MANIFEST_DEPTH,
    MAX_MANIFEST_VALUES,
    read_yaml,
)
