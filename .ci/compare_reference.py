#!/usr/bin/env python3
"""CI: cge's churn backtest against the XGBoost reference on the same workspace.

usage: compare_reference.py CGE_RUN.json REFERENCE.json

Passes when cge's PR-AUC is at least the reference's best variant's minus 0.01, its Brier
no worse than that variant's (+0.001 for run-to-run noise), and it beats the rule score.
"""
import json, sys

ours = json.load(open(sys.argv[1]))["churn"]["backtest"]
ref = json.load(open(sys.argv[2]))
variants = {k: v for k, v in ref.items() if k.startswith("xgboost[")}
best_name, best = max(variants.items(), key=lambda kv: kv[1]["pr_auc"])
oracle = ref.get("oracle_sim_truth", {}).get("pr_auc")
print(f"  cge            PR-AUC {ours['pr_auc']:.3f}  ROC-AUC {ours['roc_auc']:.3f}  Brier {ours['brier']:.4f}"
      + (f"  ({ours['pr_auc'] / oracle:.0%} of the oracle)" if oracle else ""))
print(f"  {best_name:<14} PR-AUC {best['pr_auc']:.3f}  ROC-AUC {best['roc_auc']:.3f}  Brier {best['brier']:.4f}")
print(f"  rule score     PR-AUC {ref['rule_score']['pr_auc']:.3f}   base rate {ref['base_rate']:.3f}")
failures = []
if ours["pr_auc"] < best["pr_auc"] - 0.01:
    failures.append(f"PR-AUC {ours['pr_auc']:.3f} below the reference's {best['pr_auc']:.3f} - 0.01")
if ours["brier"] > best["brier"] + 0.001:
    failures.append(f"Brier {ours['brier']:.4f} worse than the reference's {best['brier']:.4f}")
if ours["pr_auc"] <= ref["rule_score"]["pr_auc"]:
    failures.append("PR-AUC not above the rule score")
if failures:
    sys.exit("reference check failed: " + "; ".join(failures))
