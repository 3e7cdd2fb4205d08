//! The playbook applied to a book: one action per account with its evidence, ranked by
//! value, urgent plays held to each CSM's weekly capacity (the rest queued, never dropped).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::evidence::{self, Evidence};
use super::playbook::{Playbook, Scores, Value};

/// What the rules and the evidence need to know about one account.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub account_id: String,
    pub account_name: String,
    pub owner: String,
    pub arr: f64,
    pub churn: f64,
    pub escalation: Option<f64>,
    pub crosssell: f64,
    /// Days to the next renewal of an annual contract (`None`: none, or billed monthly).
    pub days_to_renewal: Option<i64>,
    pub billing: String,
    pub open_tickets: i64,
    /// The golden record's support status (`escalation_health_status`).
    pub support_status: String,
    /// What pushes churn risk up, in words, strongest first.
    pub risk_drivers: Vec<String>,
    /// Features to offer, best first, with their affinity.
    pub offers: Vec<(String, f64)>,
    /// Similar accounts that use an offered feature, in words.
    pub lookalikes: Vec<String>,
}

/// One account's next best action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Action {
    /// The playbook rule that fired (0-based).
    pub rule: usize,
    pub action: String,
    pub urgent: bool,
    /// Expected ARR at risk: calibrated churn probability × ARR.
    pub arr_at_risk: f64,
    /// Expected expansion: cross-sell score × the playbook's expansion share × ARR.
    pub expected_expansion: f64,
    /// What ranks it: ARR at risk for retention plays, expected expansion for upsells.
    pub value: f64,
    /// 1-based position in the book's ranked list.
    pub rank: usize,
    /// Urgent plays only: 0 = this week, k = queued k weeks out by the owner's capacity.
    pub week: Option<usize>,
    pub evidence: Evidence,
}

impl Action {
    /// An urgent play beyond its owner's capacity this week.
    pub fn is_queued(&self) -> bool {
        self.week.is_some_and(|w| w > 0)
    }

    /// "this week", "queued: week 2", or "" for plays without capacity.
    pub fn queue_label(&self) -> String {
        queue_label(self.week)
    }
}

/// An urgent play's place in its owner's weekly capacity: "this week", "queued: week 2"; empty
/// for plays that are not urgent (no week).
pub fn queue_label(week: Option<usize>) -> String {
    match week {
        Some(0) => "this week".into(),
        Some(w) => format!("queued: week {}", w + 1),
        None => String::new(),
    }
}

/// The playbook's action for every account of `book`, in the book's order.
///
/// Ranking: this week's urgent plays, then the other plays with conditions, then the queued
/// urgent plays (by week), then the catch-all; by value within each.
pub fn decide(playbook: &Playbook, book: &[Facts]) -> Vec<Action> {
    let churn_rank = top_shares(book.iter().map(|f| f.churn));
    let escalation_rank = top_shares(book.iter().map(|f| f.escalation.unwrap_or(f64::NAN)));
    let crosssell_rank = top_shares(book.iter().map(|f| f.crosssell));
    let mut actions: Vec<Action> = book
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let scores = Scores {
                churn: f.churn,
                escalation: f.escalation,
                crosssell: f.crosssell,
            };
            let r = playbook.choose(&scores);
            let rule = &playbook.rules[r];
            let arr = if f.arr.is_finite() {
                f.arr.max(0.0)
            } else {
                0.0
            };
            let arr_at_risk = f.churn.clamp(0.0, 1.0) * arr;
            let expected_expansion = f.crosssell.clamp(0.0, 1.0) * playbook.expansion_share * arr;
            let tops = evidence::Tops {
                churn: churn_rank[i],
                escalation: escalation_rank[i],
                crosssell: crosssell_rank[i],
            };
            Action {
                rule: r,
                action: rule.action.clone(),
                urgent: rule.urgent,
                arr_at_risk,
                expected_expansion,
                value: match rule.value {
                    Value::Risk => arr_at_risk,
                    Value::Expansion => expected_expansion,
                },
                rank: 0,
                week: None,
                evidence: evidence::build(rule, f, &tops),
            }
        })
        .collect();

    // Capacity: each owner's urgent plays by value, `capacity` per week.
    let mut urgent: Vec<usize> = (0..actions.len()).filter(|&i| actions[i].urgent).collect();
    urgent.sort_by(|&a, &b| by_value(&actions, a, b));
    let capacity = playbook.urgent_per_csm_per_week.max(1);
    let mut taken: HashMap<&str, usize> = HashMap::new();
    for i in urgent {
        let n = taken.entry(book[i].owner.as_str()).or_default();
        actions[i].week = Some(*n / capacity);
        *n += 1;
    }

    let catch_all = playbook.rules.len().saturating_sub(1);
    let tier = |a: &Action| match a.week {
        Some(0) => 0,
        Some(w) => 2 + w,
        None if a.rule == catch_all => usize::MAX,
        None => 1,
    };
    let mut order: Vec<usize> = (0..actions.len()).collect();
    order.sort_by(|&a, &b| {
        tier(&actions[a])
            .cmp(&tier(&actions[b]))
            .then_with(|| by_value(&actions, a, b))
            .then_with(|| book[a].account_id.cmp(&book[b].account_id))
    });
    for (pos, i) in order.into_iter().enumerate() {
        actions[i].rank = pos + 1;
    }
    actions
}

fn by_value(actions: &[Action], a: usize, b: usize) -> std::cmp::Ordering {
    actions[b].value.total_cmp(&actions[a].value)
}

/// Per value, the share of the book scoring at least as high (0.04 = "top 4 %"); NaN for
/// a missing value.
fn top_shares(values: impl Iterator<Item = f64>) -> Vec<f64> {
    let v: Vec<f64> = values.collect();
    let mut sorted: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let n = sorted.len().max(1) as f64;
    v.iter()
        .map(|&x| {
            if !x.is_finite() {
                return f64::NAN;
            }
            // Accounts scoring at least x: the first index whose value is below x.
            let at_least = sorted.partition_point(|&s| s >= x);
            at_least as f64 / n
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(id: &str, owner: &str, arr: f64, churn: f64, esc: f64, cs: f64) -> Facts {
        Facts {
            account_id: id.into(),
            account_name: format!("{id} Inc"),
            owner: owner.into(),
            arr,
            churn,
            escalation: Some(esc),
            crosssell: cs,
            billing: "annual".into(),
            ..Facts::default()
        }
    }

    #[test]
    fn the_default_playbook_gives_the_original_actions() {
        let pb = Playbook::builtin();
        let book = [
            facts("A", "o", 1000.0, 0.80, 0.1, 0.9),
            facts("B", "o", 1000.0, 0.55, 0.65, 0.1),
            facts("C", "o", 1000.0, 0.55, 0.55, 0.1),
            facts("D", "o", 1000.0, 0.30, 0.9, 0.80),
            facts("E", "o", 1000.0, 0.41, 0.1, 0.1),
            facts("F", "o", 1000.0, 0.05, 0.1, 0.1),
        ];
        let got: Vec<String> = decide(&pb, &book).into_iter().map(|a| a.action).collect();
        assert_eq!(
            got,
            [
                "URGENT: Rescue Call",
                "Proactive Support",
                "Check-in Call",
                "Upsell Meeting",
                "Check-in Call",
                "Monitor"
            ]
        );
    }

    #[test]
    fn value_is_risk_or_expansion_and_capacity_queues_the_rest() {
        let mut pb = Playbook::builtin();
        pb.urgent_per_csm_per_week = 2;
        pb.expansion_share = 0.2;
        // Owner "ann" has five rescues worth 0.8 × ARR; "bob" has one.
        let mut book: Vec<Facts> = (0..5)
            .map(|i| {
                facts(
                    &format!("R{i}"),
                    "ann",
                    1000.0 * (i + 1) as f64,
                    0.8,
                    0.0,
                    0.0,
                )
            })
            .collect();
        book.push(facts("S", "bob", 100.0, 0.9, 0.0, 0.0));
        book.push(facts("U", "bob", 10_000.0, 0.1, 0.0, 0.9));
        book.push(facts("M", "bob", 50_000.0, 0.1, 0.0, 0.1));
        let a = decide(&pb, &book);
        // Values: rescues 0.8 × ARR; the upsell 0.9 × 0.2 × 10,000 = 1,800.
        assert!((a[4].value - 4000.0).abs() < 1e-9);
        assert!((a[6].value - 1800.0).abs() < 1e-9);
        assert!((a[6].arr_at_risk - 1000.0).abs() < 1e-9);
        // ann: R4, R3 this week; R2, R1 next week; R0 the week after. bob: S this week.
        let weeks: Vec<Option<usize>> = a.iter().map(|x| x.week).collect();
        assert_eq!(
            weeks,
            [
                Some(2),
                Some(1),
                Some(1),
                Some(0),
                Some(0),
                Some(0),
                None,
                None
            ]
        );
        assert_eq!(a.iter().filter(|x| x.is_queued()).count(), 3);
        assert_eq!(a[0].queue_label(), "queued: week 3");
        // Ranks: this week's urgent (R4 4000, R3 3200, S 90), the upsell, the queue (R2, R1,
        // R0), then Monitor.
        let rank = |id: &str| a[book.iter().position(|f| f.account_id == id).unwrap()].rank;
        let order: Vec<usize> = ["R4", "R3", "S", "U", "R2", "R1", "R0", "M"]
            .iter()
            .map(|id| rank(id))
            .collect();
        assert_eq!(order, [1, 2, 3, 4, 5, 6, 7, 8]);
    }

    #[test]
    fn top_shares_count_ties_and_skip_missing() {
        let s = top_shares([0.9, 0.5, 0.5, 0.1, f64::NAN].into_iter());
        assert_eq!(s[0], 0.25);
        assert_eq!(s[1], 0.75);
        assert_eq!(s[2], 0.75);
        assert_eq!(s[3], 1.0);
        assert!(s[4].is_nan());
    }
}
