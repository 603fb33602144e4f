"""Model profiles: TOML files validated by pydantic.

Shipped profiles live in the repository's ``profiles/``. A workspace's own
``profiles/`` can add profiles, replace one of the same name, or extend one
(``extends = "name"``) and override only the keys it sets.
"""


from core.profiles.faults import validate_profile
from core.profiles.loading import (
    SHIPPED_PROFILES_DIR,
    ProfileEntry,
    deep_merge,
    find_profile,
    load_profiles,
    profile_dirs,
    read_toml,
)
from core.profiles.overrides import apply_overrides, parse_override
from core.profiles.schema import (
    DeploySection,
    DistributedSection,
    ExportSection,
    LoraSection,
    ModelSection,
    Profile,
    Range,
    ResourcesSection,
    TrainSection,
)

__all__ = [
    "SHIPPED_PROFILES_DIR",
    "DeploySection",
    "DistributedSection",
    "ExportSection",
    "LoraSection",
    "ModelSection",
    "Profile",
    "ProfileEntry",
    "Range",
    "ResourcesSection",
    "TrainSection",
    "apply_overrides",
    "deep_merge",
    "find_profile",
    "load_profiles",
    "parse_override",
    "profile_dirs",
    "read_toml",
    "validate_profile",
]
