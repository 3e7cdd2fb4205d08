//! Evidence a CSM can read aloud: the signal that fired the rule, the account's context,
//! the play, and the drivers (or, for an upsell, the features to offer and the lookalikes
//! that use them).

use serde::{Deserialize, Serialize};

use super::decide::Facts;
use super::playbook::{Condition, Metric, Rule, Value};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// "churn risk 0.82, top 4 % of the book".
    pub signal: String,
    /// "ARR $48,000; annual contract renews in 37 days; 2 open tickets (support: at risk); owner Dana Smith".
    pub context: String,
    pub play: String,
    /// What pushes churn risk up, in words (retention plays).
    pub drivers: Vec<String>,
    /// Features to offer, with affinity (upsells).
    pub offers: Vec<String>,
    /// Similar accounts that use them (upsells).
    pub lookalikes: Vec<String>,
}

impl Evidence {
    /// All of it on one line: signal; context; play; why.
    pub fn one_line(&self) -> String {
        let mut parts = vec![self.signal.clone(), self.context.clone(), self.play.clone()];
        if !self.drivers.is_empty() {
            parts.push(format!("drivers: {}", self.drivers.join("; ")));
        }
        if !self.offers.is_empty() {
            parts.push(format!("offer: {}", self.offers.join(", ")));
        }
        if !self.lookalikes.is_empty() {
            parts.push(format!("lookalikes: {}", self.lookalikes.join("; ")));
        }
        parts.join(" | ")
    }
}

/// Each account's rank in the book per score, as the share scoring at least as high.
#[derive(Debug, Clone, Copy)]
pub struct Tops {
    pub churn: f64,
    pub escalation: f64,
    pub crosssell: f64,
}

pub fn build(rule: &Rule, f: &Facts, tops: &Tops) -> Evidence {
    let score = |m: Metric| match m {
        Metric::Churn => (f.churn, tops.churn),
        Metric::Escalation => (f.escalation.unwrap_or(f64::NAN), tops.escalation),
        Metric::CrossSell => (f.crosssell, tops.crosssell),
    };
    let signal = if rule.when.is_empty() {
        let (v, top) = score(Metric::Churn);
        format!(
            "{}: below every threshold of the playbook",
            describe(Metric::Churn, v, top)
        )
    } else {
        rule.when
            .iter()
            .map(|&Condition { metric, .. }| {
                let (v, top) = score(metric);
                describe(metric, v, top)
            })
            .collect::<Vec<_>>()
            .join(" and ")
    };
    let upsell = rule.value == Value::Expansion;
    Evidence {
        signal,
        context: context(f),
        play: rule.play.clone(),
        drivers: if upsell {
            Vec::new()
        } else {
            f.risk_drivers.iter().take(3).cloned().collect()
        },
        offers: if upsell {
            f.offers
                .iter()
                .map(|(name, a)| format!("{name} (affinity {a:.2})"))
                .collect()
        } else {
            Vec::new()
        },
        lookalikes: if upsell {
            f.lookalikes.clone()
        } else {
            Vec::new()
        },
    }
}

/// "churn risk 0.82, top 4 % of the book".
fn describe(metric: Metric, v: f64, top: f64) -> String {
    if !v.is_finite() {
        return format!("{} unknown", metric.label());
    }
    let pct = 100.0 * top;
    let top = if pct < 1.0 {
        "top 1 %".to_string()
    } else {
        format!("top {pct:.0} %")
    };
    format!("{} {v:.2}, {top} of the book", metric.label())
}

fn context(f: &Facts) -> String {
    let mut parts = vec![format!("ARR {}", money(f.arr))];
    // A monthly account's "renewal" is its next invoice: no contract to prepare for.
    parts.push(match (f.billing.as_str(), f.days_to_renewal) {
        ("monthly", _) => "billed monthly".into(),
        ("annual", Some(d)) if d >= 0 => format!("annual contract renews in {d} days"),
        ("annual", Some(d)) => format!("annual contract renewal {} days overdue", -d),
        (_, Some(d)) if d >= 0 => format!("renews in {d} days"),
        (_, Some(d)) => format!("renewal {} days overdue", -d),
        (_, None) => "no renewal date".into(),
    });
    let status = f.support_status.replace('_', " ");
    parts.push(match f.open_tickets {
        0 => format!("no open tickets (support: {status})"),
        1 => format!("1 open ticket (support: {status})"),
        n => format!("{n} open tickets (support: {status})"),
    });
    parts.push(format!("owner {}", f.owner));
    parts.join("; ")
}

/// Compact dollars: $950, $1.2k, $3.4M, $1.1B. The unit steps up where rounding would
/// otherwise print "$1000.0k".
pub fn money_short(v: f64) -> String {
    // Below half a dollar either way shows as $0 (not "$-0").
    let (sign, a) = if v <= -0.5 { ("-", -v) } else { ("", v.abs()) };
    if a >= 999_950_000.0 {
        format!("{sign}${:.1}B", a / 1e9)
    } else if a >= 999_950.0 {
        format!("{sign}${:.1}M", a / 1e6)
    } else if a >= 999.5 {
        format!("{sign}${:.1}k", a / 1e3)
    } else {
        format!("{sign}${a:.0}")
    }
}

/// "$48,000": whole dollars with thousands separators.
pub fn money(v: f64) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    let n = v.round().abs() as u64;
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    format!("{}${out}", if v < -0.5 { "-" } else { "" })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::playbook::Playbook;

    fn facts() -> Facts {
        Facts {
            account_id: "A-1".into(),
            account_name: "Acme".into(),
            owner: "Dana Smith".into(),
            arr: 48_000.0,
            churn: 0.82,
            escalation: Some(0.3),
            crosssell: 0.2,
            days_to_renewal: Some(37),
            billing: "annual".into(),
            open_tickets: 2,
            support_status: "at_risk".into(),
            risk_drivers: vec![
                "usage down 41 % over 30 days".into(),
                "2 urgent tickets in 14 days".into(),
                "stopped using Integrations".into(),
                "a fourth".into(),
            ],
            offers: vec![("Reporting".into(), 0.61)],
            lookalikes: vec!["Beta Ltd (uses Reporting; expanded)".into()],
        }
    }

    #[test]
    fn a_rescue_reads_aloud() {
        let pb = Playbook::builtin();
        let tops = Tops {
            churn: 0.04,
            escalation: 0.5,
            crosssell: 0.9,
        };
        let e = build(&pb.rules[0], &facts(), &tops);
        assert_eq!(e.signal, "churn risk 0.82, top 4 % of the book");
        assert_eq!(
            e.context,
            "ARR $48,000; annual contract renews in 37 days; 2 open tickets (support: at risk); owner Dana Smith"
        );
        assert_eq!(e.play, pb.rules[0].play);
        assert_eq!(e.drivers.len(), 3);
        assert!(e.offers.is_empty() && e.lookalikes.is_empty());
    }

    #[test]
    fn a_monthly_account_has_no_contract_renewal() {
        let monthly = Facts {
            billing: "monthly".into(),
            days_to_renewal: Some(12),
            ..facts()
        };
        let tops = Tops {
            churn: 0.04,
            escalation: 0.5,
            crosssell: 0.9,
        };
        let e = build(&Playbook::builtin().rules[0], &monthly, &tops);
        assert_eq!(
            e.context,
            "ARR $48,000; billed monthly; 2 open tickets (support: at risk); owner Dana Smith"
        );
    }

    #[test]
    fn an_upsell_carries_offers_and_lookalikes() {
        let pb = Playbook::builtin();
        let upsell = pb
            .rules
            .iter()
            .find(|r| r.value == Value::Expansion)
            .unwrap();
        let tops = Tops {
            churn: 0.5,
            escalation: 0.5,
            crosssell: 0.005,
        };
        let mut f = facts();
        f.crosssell = 0.8;
        f.days_to_renewal = None;
        f.billing = "monthly".into();
        f.open_tickets = 0;
        f.support_status = "healthy".into();
        let e = build(upsell, &f, &tops);
        assert_eq!(e.signal, "cross-sell score 0.80, top 1 % of the book");
        assert_eq!(
            e.context,
            "ARR $48,000; billed monthly; no open tickets (support: healthy); owner Dana Smith"
        );
        assert_eq!(e.offers, ["Reporting (affinity 0.61)"]);
        assert_eq!(e.lookalikes, ["Beta Ltd (uses Reporting; expanded)"]);
        assert!(e.drivers.is_empty());
    }

    #[test]
    fn two_conditions_and_the_catch_all() {
        let pb = Playbook::builtin();
        let tops = Tops {
            churn: 0.1,
            escalation: 0.02,
            crosssell: 0.5,
        };
        let mut f = facts();
        f.churn = 0.55;
        f.escalation = Some(0.64);
        let proactive = pb.rules.iter().find(|r| r.when.len() == 2).unwrap();
        assert_eq!(
            build(proactive, &f, &tops).signal,
            "churn risk 0.55, top 10 % of the book and escalation risk 0.64, top 2 % of the book"
        );
        f.churn = 0.05;
        let monitor = pb.rules.last().unwrap();
        let t = Tops {
            churn: 0.63,
            ..tops
        };
        assert_eq!(
            build(monitor, &f, &t).signal,
            "churn risk 0.05, top 63 % of the book: below every threshold of the playbook"
        );
    }

    #[test]
    fn money_has_separators() {
        assert_eq!(money(0.0), "$0");
        assert_eq!(money(950.4), "$950");
        assert_eq!(money(1234567.6), "$1,234,568");
        assert_eq!(money(-48000.0), "-$48,000");
        assert_eq!(money(f64::NAN), "-");
    }
}
