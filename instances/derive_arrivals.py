"""Derive the per-second request counts edgeopt ships (edgeopt/catalog/azure_arrivals_2023.json) from the
two one-hour Azure LLM inference traces of 2023.

    python instances/derive_arrivals.py FOLDER      # FOLDER holds AzureLLMInferenceTrace_{code,conv}.csv

Source: the Azure Public Dataset (github.com/Azure/AzurePublicDataset, data/AzureLLMInferenceTrace_code.csv
and AzureLLMInferenceTrace_conv.csv), CC-BY 4.0; attribution: Patel, Choukse, Zhang, Shah, Goiri, Maleki,
Bianchini, "Splitwise: Efficient generative LLM inference using phase splitting", ISCA 2024. Each trace's
timestamps are counted per whole second from the second of its first request to the second of its last;
only the counts (and the totals of context and generated tokens per second) are kept.
"""
from __future__ import annotations

import csv
import json
import sys
from datetime import datetime
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "edgeopt" / "catalog" / "azure_arrivals_2023.json"
TRACES = {"azure-code-2023": "AzureLLMInferenceTrace_code.csv", "azure-conv-2023": "AzureLLMInferenceTrace_conv.csv"}


def per_second(path: Path) -> dict:
    rows = []
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            stamp = r["TIMESTAMP"].strip()
            whole, _, frac = stamp.partition(".")
            t = datetime.strptime(whole, "%Y-%m-%d %H:%M:%S").timestamp() + float("0." + (frac or "0"))
            rows.append((t, int(r["ContextTokens"]), int(r["GeneratedTokens"])))
    rows.sort()
    first = int(rows[0][0])
    seconds = int(rows[-1][0]) - first + 1
    counts, context, generated = [0] * seconds, [0] * seconds, [0] * seconds
    for t, c, g in rows:
        s = int(t) - first
        counts[s] += 1
        context[s] += c
        generated[s] += g
    return {"first_request": datetime.fromtimestamp(rows[0][0]).strftime("%Y-%m-%d %H:%M:%S.%f"),
            "requests": len(rows), "seconds": seconds, "counts": counts, "context_tokens": context,
            "generated_tokens": generated}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    folder = Path(argv[0])
    doc = {
        "about": "Per-second request counts (and per-second sums of context and generated tokens) of two one-hour "
                 "samples of production LLM inference in Azure, 2023-11-16: a code-completion service and a "
                 "conversation service. Derived by instances/derive_arrivals.py from the Azure Public Dataset "
                 "(github.com/Azure/AzurePublicDataset, data/AzureLLMInferenceTrace_code.csv and "
                 "AzureLLMInferenceTrace_conv.csv). Licence: CC-BY 4.0 (azure_arrivals_2023.LICENSE). Attribution: "
                 "Patel, Choukse, Zhang, Shah, Goiri, Maleki, Bianchini, 'Splitwise: Efficient generative LLM "
                 "inference using phase splitting', ISCA 2024.",
        "licence": "CC-BY-4.0",
        "traces": {name: per_second(folder / file) for name, file in TRACES.items()},
    }
    OUT.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
    for name, t in doc["traces"].items():
        print(f"{name}: {t['requests']} requests over {t['seconds']} s from {t['first_request']}")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
