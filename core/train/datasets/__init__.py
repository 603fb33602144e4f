"""The dataset check that runs before a training launch, and as its own action.

ms-swift reads a local dataset file in one pass and, by default, *drops* every
row it cannot preprocess or that is longer than ``--max_length``
(``truncation_strategy='delete'``), logging a traceback for the first few only.
A broken file therefore costs a model load before it shows, and a half-broken
one trains silently on fewer samples than the user thinks. This module reads
the file the way swift will, names every bad line with its number and a fix,
measures token lengths with the profile's own tokenizer and chat template, and
converts layouts that swift would misread (Dolly: swift keeps ``instruction``
and ``response`` but silently drops ``context``) into the OpenAI ``messages``
layout.

Heavy libraries (``transformers``) are imported inside the functions that need them.
"""


from core.train.datasets.check import DatasetReport, check_dataset, check_profile_datasets
from core.train.datasets.conversion import convert_dataset, to_swift_messages
from core.train.datasets.encoding import detect_encoding
from core.train.datasets.layouts import FORMATS, NATIVE_FORMATS, SWIFT_EXTENSIONS, detect_format, validate_record
from core.train.datasets.lengths import LengthStats, token_lengths
from core.train.datasets.reading import DatasetIssue, read_records

__all__ = [
    "FORMATS",
    "NATIVE_FORMATS",
    "SWIFT_EXTENSIONS",
    "DatasetIssue",
    "DatasetReport",
    "LengthStats",
    "check_dataset",
    "check_profile_datasets",
    "convert_dataset",
    "detect_encoding",
    "detect_format",
    "read_records",
    "to_swift_messages",
    "token_lengths",
    "validate_record",
]
