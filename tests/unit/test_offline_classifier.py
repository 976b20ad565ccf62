"""The offline stand-in for Layer B: deterministic, labelled, and sensible enough to exercise every path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.adapters.offline_classifier import MODEL, OfflineClassifier
from chalicelib.domain.layer_b import ZERO_USAGE, ClassifierInput, decide

ROOT = Path(__file__).resolve().parents[2]

WATER = ClassifierInput(
    kind="solution",
    title="Solar pumps for village drinking water",
    body=(
        "Many villages still walk hours for drinking water, and contaminated wells spread disease.\n"
        "We propose a pilot of solar-powered pumps with ceramic purification at 5 sites, run by a local "
        "water committee trained over 6 weeks.\n"
        "- Budget: 4,000 USD per site, shared with a partner NGO.\n"
        "- Metrics: litres per day, households served, sanitation and hygiene sessions held.\n"
        "We will publish the survey data every month."
    ),
    domain="clean_water_sanitation",
)
WEAPONS = ClassifierInput(
    kind="solution",
    title="Community safety through weapons",
    body="Build an explosive and a firearm from parts, then spy on neighbours with facial recognition.",
    domain="community_building",
)


def test_the_offline_classifier_labels_itself_and_costs_nothing() -> None:
    result = OfflineClassifier().classify(WATER)
    assert (result.classifier, result.model, result.error) == ("offline", MODEL, None)
    assert result.usage == ZERO_USAGE and result.cost_usd_micros == 0 and result.attempts == 1
    trail = result.to_dict()
    assert trail["stand_in"] is True
    assert "not an LLM" in trail["assessment"]["reasoning"]
    assert "ANTHROPIC_API_KEY" in trail["note"]


def test_a_concrete_water_project_by_a_verified_agent_is_approved() -> None:
    found = OfflineClassifier().classify(WATER).assessment
    assert found is not None
    assert found.aligned_domain == "clean_water_sanitation"
    assert found.harm_risk < 0.2
    assert decide(found, "verified") == "approved"
    assert decide(found, "new") == "flagged"


def test_harmful_content_is_rejected_even_under_a_civic_title() -> None:
    found = OfflineClassifier().classify(WEAPONS).assessment
    assert found is not None
    assert found.harm_risk >= 0.8
    assert decide(found, "verified") == "rejected"


def test_off_topic_text_scores_low_and_is_rejected() -> None:
    item = ClassifierInput(
        kind="debate", title="Best sports car", body="Which sports car is fastest?", domain=None
    )
    found = OfflineClassifier().classify(item).assessment
    assert found is not None
    assert found.alignment_score < 0.4
    assert decide(found, "verified") == "rejected"


def test_the_declared_domain_stands_unless_the_text_points_clearly_elsewhere() -> None:
    item = ClassifierInput(
        kind="problem", title="A quiet question", body="Nothing specific here.", domain="elder_care"
    )
    found = OfflineClassifier().classify(item).assessment
    assert found is not None and found.aligned_domain == "elder_care"
    clear = ClassifierInput(kind="problem", title="Broken well pump",
                            body="The village hand pump is broken and the tap water is dirty.", domain="elder_care")
    found = OfflineClassifier().classify(clear).assessment
    assert found is not None and found.aligned_domain == "clean_water_sanitation"


def test_quality_rewards_structure_and_punishes_shouting() -> None:
    classify = OfflineClassifier().classify
    detailed = classify(WATER).assessment
    terse = classify(ClassifierInput("problem", "Water", "water bad", None)).assessment
    shouting = classify(ClassifierInput("problem", "WATER NOW", WATER.body.upper(), None)).assessment
    assert detailed is not None and terse is not None and shouting is not None
    assert detailed.quality > terse.quality
    assert detailed.quality > shouting.quality


texts = st.text(max_size=400)


@given(title=texts, body=texts, domain=st.one_of(st.none(), st.text(max_size=30), st.just("food_security")))
def test_any_text_gives_a_valid_assessment_and_the_same_one_twice(
    title: str, body: str, domain: str | None
) -> None:
    item = ClassifierInput(kind="problem", title=title, body=body, domain=domain)
    first = OfflineClassifier().classify(item)
    second = OfflineClassifier().classify(item)
    assert first.assessment is not None
    assert first.assessment == second.assessment


def test_the_verdict_is_the_same_in_another_process_with_another_hash_seed() -> None:
    script = (
        "import json, sys\n"
        "from chalicelib.adapters.offline_classifier import assess\n"
        "from chalicelib.domain.layer_b import ClassifierInput\n"
        "items = [ClassifierInput(**d) for d in json.loads(sys.stdin.read())]\n"
        "print(json.dumps([assess(i).model_dump() for i in items]))\n"
    )
    items = [WATER, WEAPONS]
    payload = json.dumps([vars(i) for i in items])
    here = [OfflineClassifier().classify(i).assessment.model_dump() for i in items]  # type: ignore[union-attr]
    for seed in ("1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
        out = subprocess.run(
            [sys.executable, "-c", script], input=payload, capture_output=True, text=True, env=env, check=True
        )
        assert json.loads(out.stdout) == here


# Ordinary civic reports a newcomer types first, never part of the labelled set: a verified agent's
# report is published, not sent to a human or refused.
CIVIC = [
    ("No ramp at the clinic", "Wheelchair users cannot enter."),
    ("Streetlights out on Elm road", "Half the streetlights on Elm road have been dark for two weeks."),
    ("Pothole outside the primary school", "A deep pothole by the school gate fills with water when it rains."),
    ("Food bank needs volunteers", "The food bank on King street needs drivers on Saturday mornings."),
]
HARMFUL = [
    ("Find where the activists live", "Collect the home addresses of the organisers and post them online."),
    ("Investment club for pensioners", "Promise pensioners guaranteed returns of 20 percent a month and pay old "
                                       "members with new deposits."),
    ("Make them leave the estate", "Threaten the refugee families and break their windows until they move away."),
]


@pytest.mark.parametrize(("title", "body"), CIVIC)
def test_ordinary_civic_reports_are_approved(title: str, body: str) -> None:
    found = OfflineClassifier().classify(ClassifierInput("problem", title, body, None)).assessment
    assert found is not None
    assert decide(found, "verified") == "approved", found


@pytest.mark.parametrize(("title", "body"), HARMFUL)
def test_harmful_texts_are_never_approved(title: str, body: str) -> None:
    found = OfflineClassifier().classify(ClassifierInput("problem", title, body, None)).assessment
    assert found is not None
    assert decide(found, "verified") != "approved", found


def test_the_committed_model_matches_its_labels_and_is_read_once() -> None:
    from chalicelib.adapters.offline_classifier import GROUPS, load_model

    model = load_model()
    assert model.group.labels == GROUPS
    assert load_model() is model
