"""Gather every step's results into OUT/summary.json; print the essentials; exit 0, 1 or 3."""

import csv
import json
import re
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

out, repo, mode, started, runs = (
    Path(sys.argv[1]),
    Path(sys.argv[2]),
    sys.argv[3],
    float(sys.argv[4]),
    Path(sys.argv[5]),
)
TARGET_H200 = 40_000  # the ratio's target is the benchmark's own (its JSON's target_ratio)


def load(path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def texts(nb):
    """Every cell's text outputs (streams, plain text, markdown), one string per cell."""
    result = []
    for cell in nb.get("cells", []):
        parts = []
        for o in cell.get("outputs", []):
            if o.get("output_type") == "stream":
                parts.append("".join(o.get("text", "")))
            for key in ("text/markdown", "text/plain"):
                v = o.get("data", {}).get(key)
                if v:
                    parts.append("".join(v))
        result.append("\n".join(parts))
    return "\n".join(result)


def find(pattern, text, cast=float):
    m = re.search(pattern, text or "", re.S)
    return cast(m.group(1)) if m else None


def flag(text):
    return text == "True"


ACC07 = r"test set, read once:\s+accuracy ([\d.]+)"
VAL07 = r"chosen on validation: epoch (\d+), validation accuracy ([\d.]+)"

steps = {}
for row in csv.reader((out / "steps.tsv").open(), delimiter="\t"):
    name, status, rc, seconds, limit = row[:5]
    steps[name] = {
        "status": status,
        "rc": int(rc) if rc else None,
        "seconds": float(seconds),
        "limit_s": int(limit),
        "log": f"logs/{name}.log",
    }
summary = {
    "check": "benchmarks/gpu_check.sh",
    "mode": mode,
    "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
    "wall_s": round(time.time() - started, 1),
    "steps": steps,
    "environment": load(out / "environment.json"),
    "install": load(out / "install.json"),
}
env = summary["environment"] or {}

tests = {"junit": "cuda-tests.xml"}
try:
    root = ET.parse(out / "cuda-tests.xml").getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    for key in ("tests", "failures", "errors", "skipped"):
        tests[key] = sum(int(s.get(key, 0)) for s in suites)
    tests["passed"] = tests["tests"] - tests["failures"] - tests["errors"] - tests["skipped"]
    tests["not_passed"] = [
        {
            "test": c.get("name"),
            "message": (
                c.find("failure") if c.find("failure") is not None else c.find("error")
            ).get("message", "")[:500],
        }
        for c in root.iter("testcase")
        if c.find("failure") is not None or c.find("error") is not None
    ]
except (OSError, ET.ParseError):
    tests["error"] = "no junit report"
tests["measured"] = load(out / "cuda-tests-record.json")
summary["cuda_tests"] = tests
summary["throughput"] = load(out / "throughput.json")

notebooks = {}
for name in ("07_training", "08_evaluation"):
    rec = load(out / "notebooks" / f"{name}.json") or {"status": "not run"}
    executed = load(out / "notebooks" / f"{name}.ipynb")
    text = texts(executed) if executed else ""
    if name == "07_training":
        rec["ours_test_acc"] = find(ACC07, text)
        m = re.search(VAL07, text, re.S)
        rec["chosen_epoch"], rec["chosen_val_acc"] = (int(m[1]), float(m[2])) if m else (None, None)
        rec["plan"] = find(r"This run: the (.+?) plan", text, str)
        for csv_path in sorted(runs.glob("lesson07-*/history.csv")):
            rows = list(csv.DictReader(csv_path.open()))
            if rows:
                rates = [float(r["images_per_s"]) for r in rows]
                rec["history"] = {
                    "epochs": len(rows),
                    "final_val_acc": float(rows[-1]["val_acc"]),
                    "best_val_acc": max(float(r["val_acc"]) for r in rows),
                    "train_images_per_s_median": sorted(rates)[len(rates) // 2],
                    "train_images_per_s_max": max(rates),
                    "seconds_total": round(sum(float(r["seconds"]) for r in rows), 1),
                }
    else:
        rec["test_acc"] = find(r"test, [\d,]+ images: accuracy ([\d.]+)", text)
        rec["top2_acc"] = find(r"\(top-2: ([\d.]+)\)", text)
        rec["used_lesson07_model"] = "Loaded lesson 07's model" in text
        rec["onnx_checked"] = find(r"the ONNX file \([\d,]+ MB\) (gives)", text, str) == "gives"
    notebooks[name] = rec
summary["notebooks"] = notebooks

# the targets, judged on a GPU only
targets = {}
if mode == "gpu":
    tp = summary["throughput"] or {}
    targets["ratio_to_d2l"] = {
        "target": f">= {tp['target_ratio']:g}" if "target_ratio" in tp else None,
        "measured": tp.get("ratio"),
        "met": tp.get("meets_target_ratio"),
    }
    gpu = (env.get("gpu") or {}).get("name", "")
    ours = tp.get("ours") or {}
    h200 = {
        "target": f">= {TARGET_H200:,} training images/s, d2l variant at 224, bf16, on an H200",
        "measured": ours.get("images_per_s"),
        "amp": ours.get("amp"),
        "gpu": gpu,
    }
    if "H200" in gpu and ours.get("images_per_s") is not None:
        h200["met"] = ours["images_per_s"] >= TARGET_H200 and ours.get("amp") == "bfloat16"
    else:
        h200["met"] = None
        h200["note"] = "judged on an H200 only"
    targets["h200_images_per_s"] = h200
    stored = json.loads((repo / "notebooks" / "07_training.ipynb").read_text())
    reference = find(ACC07, texts(stored))
    got = notebooks["07_training"].get("ours_test_acc")
    real = (env.get("data") or {}).get("kind") in ("sample", "full")
    targets["accuracy_vs_cpu_run"] = {
        "target": "the GPU plan's test accuracy >= the CPU run's (lesson 07's stored outputs)",
        "measured": got,
        "cpu_reference": reference,
        "epochs": (notebooks["07_training"].get("history") or {}).get("epochs"),
        "cpu_reference_plan": find(r"This run: the (.+?) plan", texts(stored), str),
        "data": (env.get("data") or {}).get("describe"),
        "met": (got >= reference) if (got is not None and reference is not None and real) else None,
    }
summary["targets"] = targets

failed = [n for n, s in steps.items() if s["status"] != "passed"]
missed = [n for n, t in targets.items() if t.get("met") is False]
summary["ok"] = not failed
summary["failed_steps"] = failed
summary["missed_targets"] = missed
(out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")

print(f"=== summary ({mode}), {summary['wall_s']} s in all: {out / 'summary.json'}")
for n, s in steps.items():
    print(f"  {n:12} {s['status']:8} {s['seconds']:7.1f} s  (limit {s['limit_s']} s)")
t = summary["cuda_tests"]
if "tests" in t:
    print(
        f"  cuda tests: {t['passed']} passed, {t['failures'] + t['errors']} failed, "
        f"{t['skipped']} skipped"
    )
tp = summary["throughput"] or {}
if tp.get("ratio"):
    print(
        f"  throughput: d2l {tp['d2l']['images_per_s']:,.0f} images/s, ours "
        f"{tp['ours']['images_per_s']:,.0f} ({tp['ours']['amp']}), ratio {tp['ratio']:.2f}x, "
        f"peak {tp['ours']['peak_mib']:,.0f} MiB"
    )
for n, t in targets.items():
    print(f"  target {n}: measured {t.get('measured')}, met: {t.get('met')}")
sys.exit(1 if failed else 3 if missed else 0)
