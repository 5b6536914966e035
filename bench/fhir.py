"""FHIR benchmark: ``GET /fhir/R4/ServiceRequest?identifier=<accession>`` (a searchset Bundle of one
order, validated with fhir.resources, access log written) beside the JSON API's accession lookup
``GET /api/v1/imaging/orders/accession/<accession>``, in-process with a bearer token, alternating,
each round asking both for the same random accession number.

    .venv/bin/python -m bench.fhir --db postgresql+psycopg://postgres@127.0.0.1/imaging_bench_1000000

``make bench`` runs it as the ``fhir`` step of bench/run.py (``--only fhir``).
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select  # noqa: E402

from bench.common import interleaved, make_app, percentile, summarise  # noqa: E402

FHIR_SEARCH = "/fhir/R4/ServiceRequest"
API_LOOKUP = "/api/v1/imaging/orders/accession/"
TARGET_MS = 50


def sample_accessions(app, count: int, seed: int = 17) -> list[str]:
    """Random accession numbers that exist: drawn from each year's counter (no scan of the orders)."""
    from webapp.extensions import db
    from webapp.imaging.models import OrderCounter
    from webapp.imaging.numbering import format_number

    with app.app_context():
        counters = [(c.year, c.last_value) for c in db.session.scalars(select(OrderCounter)) if c.last_value]
        db.session.remove()
    rng = random.Random(seed)
    weights = [last for _, last in counters]
    picks = []
    for _ in range(count):
        year, last = rng.choices(counters, weights=weights)[0]
        picks.append(format_number("ACC", year, rng.randint(1, last)))
    return picks


def _stats(samples: list[float]) -> dict:
    return summarise(samples) | {"p90": round(percentile([s * 1000 for s in samples], 0.90), 3)}


def _ms(stats: dict) -> str:
    return f"p50 {stats['p50']:.2f} / p90 {stats['p90']:.2f} / p95 {stats['p95']:.2f} ms"


def measure(app, repeat: int) -> dict:
    from bench.scenarios import api_token

    accessions = sample_accessions(app, repeat + 3)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {api_token(client, 'doctor-001')}"}
    rounds = {"fhir": iter(accessions), "api": iter(accessions)}

    def fhir():
        accession = next(rounds["fhir"])
        response = client.get(FHIR_SEARCH, query_string={"identifier": accession}, headers=headers)
        assert response.status_code == 200, response.status_code
        body = response.get_json()
        assert body["total"] == 1 and body["entry"][0]["resource"]["identifier"][0]["value"] == accession

    def api():
        accession = next(rounds["api"])
        response = client.get(API_LOOKUP + accession, headers=headers)
        assert response.status_code == 200, response.status_code

    samples = interleaved({"fhir": fhir, "api": api}, repeat)
    return {name: _stats(values) for name, values in samples.items()}


def scenario_fhir(app, backend: str, repeat: int) -> list:
    from bench.scenarios import Row, has_route, verdict

    if not has_route(app, FHIR_SEARCH):
        return [Row("FHIR. ServiceRequest?identifier=", backend, "", "", None, f"p90 ≤ {TARGET_MS} ms",
                    "pending (FHIR API not on main yet)")]
    stats = measure(app, repeat)
    fhir, api = stats["fhir"], stats["api"]
    return [Row(
        "FHIR. ServiceRequest?identifier=<accession> (searchset Bundle) vs JSON API accession lookup", backend,
        _ms(fhir), f"JSON API {_ms(api)}", fhir["p50"] / api["p50"], f"p90 ≤ {TARGET_MS} ms (1M, PG)",
        verdict(fhir["p90"] <= TARGET_MS), stats,
    )]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", required=True, help="SQLAlchemy URL of a generated benchmark database")
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args(argv)
    backend = "postgresql" if args.db.startswith("postgres") else "sqlite"
    for row in scenario_fhir(make_app(args.db), backend, args.repeat):
        print(row.as_markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
