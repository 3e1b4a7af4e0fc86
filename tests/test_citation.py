"""``CITATION.cff`` is valid Citation File Format 1.2.0 and cites the studies and data sets the notebooks use.

The schema in ``tests/data/cff-1.2.0.schema.json`` is the Citation File Format's own (citation-file-format/
citation-file-format, ``schema.json``, CC BY 4.0).
"""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parent.parent


def _citation() -> dict:
    return yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))


def test_citation_file_validates_against_the_cff_schema():
    schema = json.loads((ROOT / "tests" / "data" / "cff-1.2.0.schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(json.loads(json.dumps(_citation(), default=str)), schema)


def test_the_validation_rejects_a_broken_file():
    schema = json.loads((ROOT / "tests" / "data" / "cff-1.2.0.schema.json").read_text(encoding="utf-8"))
    broken = dict(_citation(), references=[{"type": "report"}])  # no title, no authors
    try:
        jsonschema.validate(broken, schema)
    except jsonschema.ValidationError:
        return
    raise AssertionError("a reference without title and authors passed the schema")


def test_citation_lists_the_five_studies_and_the_data_sets():
    titles = " | ".join(r["title"] for r in _citation()["references"])
    for title in ("Defending Adversarial Attacks against CNN", "Training robust neural networks",
                  "Reproducing 'Toward Robust Image Classification'", "DL autonomous lab",
                  "Analyzing impacts of Attacks and Counters on Image Classifiers",
                  "MNIST", "Tiny Images", "colorectal cancer histology", "Imagewoof", "Flickr"):
        assert title in titles, f"CITATION.cff does not cite {title!r}"
