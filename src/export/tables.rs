//! The files BI tools and CRMs take, from a stored run: the original notebook's three
//! (`csm_action_list.csv`, `crosssell_opportunities.csv`, `escalation_risks.csv`) with its
//! column names first, then cge's own columns; and the golden record.

use anyhow::{Context as _, Result, bail};
use rusqlite::{Connection, OptionalExtension};

use crate::actions::decide::Action;
use crate::actions::evidence::Evidence;
use crate::features;
use crate::models::crosssell::RuleTerms;
use crate::pipeline::history::Change;
use crate::pipeline::run::Offer;

/// Which file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum What {
    Actions,
    CrossSell,
    Escalation,
    Golden,
}

impl What {
    /// The original notebook's file name (the golden record has none: cge's own).
    pub fn file_name(self) -> &'static str {
        match self {
            What::Actions => "csm_action_list.csv",
            What::CrossSell => "crosssell_opportunities.csv",
            What::Escalation => "escalation_risks.csv",
            What::Golden => "golden_record.csv",
        }
    }
}

/// Row filters; `None` lets every row through. Also `cge export`'s flags (the doc comments
/// are their help).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Filters {
    /// Only this owner's accounts (any case).
    #[arg(long)]
    pub owner: Option<String>,
    /// Only accounts whose action contains this text (any case), e.g. rescue.
    #[arg(long)]
    pub action: Option<String>,
    /// Only this industry (any case).
    #[arg(long)]
    pub industry: Option<String>,
    /// Only this plan tier (any case).
    #[arg(long)]
    pub plan_tier: Option<String>,
    /// Only accounts with at least this ARR.
    #[arg(long, value_name = "DOLLARS")]
    pub min_arr: Option<f64>,
    /// Only accounts with at least this churn risk, 0–1 (e.g. 0.4).
    #[arg(long, value_name = "P", value_parser = parse_probability)]
    pub min_churn: Option<f64>,
    /// Only annual contracts renewing within this many days.
    #[arg(long, value_name = "DAYS")]
    pub renewal_within: Option<i64>,
    /// Only accounts whose name or id contains this text (any case).
    #[arg(long, value_name = "TEXT")]
    pub search: Option<String>,
}

/// A probability flag's value: 0–1.
pub fn parse_probability(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!(
            "expected a probability between 0 and 1 (e.g. 0.4), got {s:?}"
        )),
    }
}

/// A file's header and rows, before writing.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub headers: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
}

/// The original's action-list columns, in its order; cge's follow.
pub const ACTION_COLUMNS: [&str; 12] = [
    "account_id",
    "account_name",
    "industry",
    "plan_tier",
    "churn_risk_score",
    "churn_risk_category",
    "crosssell_opportunity_score",
    "crosssell_recommendation",
    "escalation_risk_score",
    "engagement_level",
    "escalation_health_status",
    "next_best_action",
];
const ACTION_EXTRA: [&str; 16] = [
    "owner",
    "arr",
    "arr_at_risk",
    "expected_expansion",
    "priority_rank",
    "urgent",
    "queue",
    "days_to_next_renewal",
    "churn_change",
    "previous_action",
    "why_moved",
    "drivers_up",
    "drivers_down",
    "signal",
    "evidence",
    "recommended_features",
];

pub const CROSSSELL_COLUMNS: [&str; 9] = [
    "account_id",
    "device_gap",
    "growth_rate_mom",
    "crosssell_readiness_score",
    "it_product_boost",
    "finance_product_boost",
    "upgrade_potential",
    "hybrid_crosssell_score",
    "crosssell_recommendation",
];
const CROSSSELL_EXTRA: [&str; 7] = [
    "account_name",
    "owner",
    "plan_tier",
    "arr",
    "expected_expansion",
    "recommended_features",
    "lookalikes",
];

pub const ESCALATION_COLUMNS: [&str; 6] = [
    "account_id",
    "escalation_intensity_score",
    "open_tickets",
    "high_priority_tickets",
    "escalation_health_status",
    "escalation_risk_next_week",
];
const ESCALATION_EXTRA: [&str; 6] = [
    "account_name",
    "owner",
    "escalation_probability_30d",
    "escalated_tickets_90d",
    "arr",
    "next_best_action",
];

/// One scored account with its golden-record context.
struct Row {
    id: String,
    name: String,
    owner: String,
    industry: String,
    tier: String,
    billing: String,
    engagement: String,
    health: String,
    renewal: Option<f64>,
    churn: f64,
    escalation: Option<f64>,
    crosssell: Option<f64>,
    arr: Option<f64>,
    drivers: crate::models::churn::Drivers,
    offers: Vec<Offer>,
    action: Option<Action>,
    change: Option<Change>,
    device_gap: Option<f64>,
    growth: Option<f64>,
    readiness: Option<f64>,
    seats: Option<f64>,
    intensity: Option<f64>,
    open_tickets: Option<f64>,
    high_priority: Option<f64>,
    escalations: Option<f64>,
}

/// The newest stored run's id, or `None` when there is none.
pub fn latest_run(conn: &Connection) -> Result<Option<i64>> {
    Ok(conn
        .query_row("SELECT max(run_id) FROM model_runs", [], |r| r.get(0))
        .optional()?
        .flatten())
}

/// The table `what` of run `run_id` (default: the newest), filtered.
pub fn table(
    conn: &Connection,
    run_id: Option<i64>,
    what: What,
    filters: &Filters,
) -> Result<Table> {
    let run_id = match run_id {
        Some(id) => id,
        None => latest_run(conn)?.context("no stored run to export: run `cge run` first")?,
    };
    let as_of: String = conn
        .query_row(
            "SELECT as_of FROM model_runs WHERE run_id = ?1",
            [run_id],
            |r| r.get(0),
        )
        .optional()?
        .with_context(|| format!("no run {run_id}: `cge runs` lists the stored ones"))?;
    if what == What::Golden {
        return golden(conn, run_id, &as_of, filters);
    }
    let mut rows = scored_rows(conn, run_id, &as_of)?;
    rows.retain(|r| keep(r, filters));
    Ok(match what {
        What::Actions => actions_table(rows),
        What::CrossSell => crosssell_table(rows),
        What::Escalation => escalation_table(rows),
        What::Golden => unreachable!("handled above"),
    })
}

fn scored_rows(conn: &Connection, run_id: i64, as_of: &str) -> Result<Vec<Row>> {
    if !features::table_is_current(conn)? {
        bail!(
            "the run's golden record is not stored (or is from an older cge): run `cge run` again"
        );
    }
    let mut stmt = conn.prepare(
        "SELECT s.account_id, g.account_name, g.owner, g.industry, g.plan_tier, g.billing_frequency,
                g.engagement_level, g.escalation_health_status, g.days_to_next_renewal,
                s.churn_probability, s.escalation_probability, s.crosssell_score, s.arr,
                s.drivers_json, s.offers_json, s.action, s.urgent, s.week, s.action_rank,
                s.arr_at_risk, s.expected_expansion, s.evidence_json, s.change_json,
                g.device_gap, g.growth_rate_mom, g.crosssell_readiness_score, g.seats,
                g.escalation_intensity_score, g.open_tickets, g.high_priority_tickets,
                g.escalations_90d
         FROM account_scores s
         LEFT JOIN golden_record g ON g.as_of = ?2 AND g.account_id = s.account_id
         WHERE s.run_id = ?1
         ORDER BY s.account_id",
    )?;
    let mut out = Vec::new();
    let mut q = stmt.query(rusqlite::params![run_id, as_of])?;
    while let Some(r) = q.next()? {
        let text = |i: usize| -> rusqlite::Result<String> {
            Ok(r.get::<_, Option<String>>(i)?.unwrap_or_default())
        };
        let json = |i: usize| -> rusqlite::Result<Option<String>> { r.get(i) };
        let action = match (json(15)?, json(21)?) {
            (Some(name), Some(evidence)) => Some(Action {
                rule: 0,
                action: name,
                urgent: r.get::<_, Option<bool>>(16)?.unwrap_or(false),
                week: r.get::<_, Option<i64>>(17)?.map(|w| w as usize),
                rank: r.get::<_, Option<i64>>(18)?.unwrap_or(0) as usize,
                arr_at_risk: r.get::<_, Option<f64>>(19)?.unwrap_or(0.0),
                expected_expansion: r.get::<_, Option<f64>>(20)?.unwrap_or(0.0),
                value: 0.0,
                evidence: serde_json::from_str::<Evidence>(&evidence).unwrap_or_default(),
            }),
            _ => None,
        };
        out.push(Row {
            id: r.get(0)?,
            name: text(1)?,
            owner: text(2)?,
            industry: text(3)?,
            tier: text(4)?,
            billing: text(5)?,
            engagement: text(6)?,
            health: text(7)?,
            renewal: r.get(8)?,
            churn: r.get(9)?,
            escalation: r.get(10)?,
            crosssell: r.get(11)?,
            arr: r.get(12)?,
            drivers: serde_json::from_str(&text(13)?).unwrap_or_default(),
            offers: serde_json::from_str(&text(14)?).unwrap_or_default(),
            action,
            change: json(22)?.and_then(|c| serde_json::from_str(&c).ok()),
            device_gap: r.get(23)?,
            growth: r.get(24)?,
            readiness: r.get(25)?,
            seats: r.get(26)?,
            intensity: r.get(27)?,
            open_tickets: r.get(28)?,
            high_priority: r.get(29)?,
            escalations: r.get(30)?,
        });
    }
    Ok(out)
}

fn same(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b.trim())
}

fn contains(hay: &str, needle: &str) -> bool {
    hay.to_lowercase().contains(&needle.trim().to_lowercase())
}

fn keep(r: &Row, f: &Filters) -> bool {
    f.owner.as_ref().is_none_or(|o| same(&r.owner, o))
        && f.industry.as_ref().is_none_or(|i| same(&r.industry, i))
        && f.plan_tier.as_ref().is_none_or(|t| same(&r.tier, t))
        && f.action
            .as_ref()
            .is_none_or(|a| r.action.as_ref().is_some_and(|x| contains(&x.action, a)))
        && f.min_arr.is_none_or(|m| r.arr.is_some_and(|a| a >= m))
        && f.min_churn.is_none_or(|m| r.churn >= m)
        && f.renewal_within.is_none_or(|n| {
            r.billing == "annual" && r.renewal.is_some_and(|d| (0.0..=n as f64).contains(&d))
        })
        && f.search
            .as_ref()
            .is_none_or(|s| contains(&r.name, s) || contains(&r.id, s))
}

fn num(v: Option<f64>, decimals: usize) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.decimals$}"),
        _ => String::new(),
    }
}

/// The original's three bands of churn risk, on the calibrated probability.
pub fn churn_category(p: f64) -> &'static str {
    if p > 0.7 {
        "High"
    } else if p > 0.4 {
        "Medium"
    } else {
        "Low"
    }
}

/// A 30-day probability as a 7-day one, under a constant hazard: 1 − (1 − p)^(7/30).
pub fn next_week(p30: f64) -> f64 {
    1.0 - (1.0 - p30.clamp(0.0, 1.0)).powf(7.0 / 30.0)
}

fn offers_text(offers: &[Offer]) -> String {
    offers
        .iter()
        .map(|o| format!("{} ({:.2})", o.feature, o.affinity))
        .collect::<Vec<_>>()
        .join("; ")
}

fn recommendation(offers: &[Offer]) -> String {
    offers
        .iter()
        .map(|o| o.feature.clone())
        .collect::<Vec<_>>()
        .join("; ")
}

fn words(d: &[crate::models::churn::Driver]) -> String {
    d.iter()
        .map(|d| d.words.clone())
        .collect::<Vec<_>>()
        .join("; ")
}

fn actions_table(mut rows: Vec<Row>) -> Table {
    rows.sort_by_key(|r| r.action.as_ref().map_or(usize::MAX, |a| a.rank));
    let headers = ACTION_COLUMNS
        .iter()
        .chain(&ACTION_EXTRA)
        .copied()
        .collect();
    let rows = rows
        .into_iter()
        .map(|r| {
            let a = r.action.as_ref();
            vec![
                r.id.clone(),
                r.name.clone(),
                r.industry.clone(),
                r.tier.clone(),
                num(Some(r.churn), 4),
                churn_category(r.churn).to_string(),
                num(r.crosssell, 4),
                recommendation(&r.offers),
                num(r.escalation, 4),
                r.engagement.clone(),
                r.health.clone(),
                a.map(|a| a.action.clone()).unwrap_or_default(),
                r.owner.clone(),
                num(r.arr, 2),
                num(a.map(|a| a.arr_at_risk), 2),
                num(a.map(|a| a.expected_expansion), 2),
                a.map(|a| a.rank.to_string()).unwrap_or_default(),
                a.map(|a| a.urgent.to_string()).unwrap_or_default(),
                a.map(Action::queue_label).unwrap_or_default(),
                num(r.renewal, 0),
                num(r.change.as_ref().map(|c| c.churn_delta), 4),
                r.change
                    .as_ref()
                    .and_then(|c| c.action_before.clone())
                    .unwrap_or_default(),
                r.change.as_ref().map(|c| words(&c.why)).unwrap_or_default(),
                words(&r.drivers.up),
                words(&r.drivers.down),
                a.map(|a| a.evidence.signal.clone()).unwrap_or_default(),
                a.map(|a| a.evidence.one_line()).unwrap_or_default(),
                offers_text(&r.offers),
            ]
        })
        .collect();
    Table { headers, rows }
}

fn crosssell_table(mut rows: Vec<Row>) -> Table {
    rows.sort_by(|a, b| {
        b.crosssell
            .unwrap_or(f64::NEG_INFINITY)
            .total_cmp(&a.crosssell.unwrap_or(f64::NEG_INFINITY))
            .then_with(|| a.id.cmp(&b.id))
    });
    let headers = CROSSSELL_COLUMNS
        .iter()
        .chain(&CROSSSELL_EXTRA)
        .copied()
        .collect();
    let rows = rows
        .into_iter()
        .map(|r| {
            let t = RuleTerms::of(
                r.readiness,
                r.growth,
                r.device_gap,
                r.seats,
                Some(r.tier.as_str()).filter(|t| !t.is_empty()),
            );
            let a = r.action.as_ref();
            vec![
                r.id.clone(),
                num(r.device_gap, 0),
                num(r.growth, 4),
                num(r.readiness, 1),
                num(t.device_gap, 4),
                num(t.growth, 4),
                num(Some(t.tier_headroom), 2),
                num(r.crosssell, 4),
                recommendation(&r.offers),
                r.name.clone(),
                r.owner.clone(),
                r.tier.clone(),
                num(r.arr, 2),
                num(a.map(|a| a.expected_expansion), 2),
                offers_text(&r.offers),
                a.map(|a| a.evidence.lookalikes.join("; "))
                    .unwrap_or_default(),
            ]
        })
        .collect();
    Table { headers, rows }
}

fn escalation_table(mut rows: Vec<Row>) -> Table {
    rows.sort_by(|a, b| {
        b.escalation
            .unwrap_or(f64::NEG_INFINITY)
            .total_cmp(&a.escalation.unwrap_or(f64::NEG_INFINITY))
            .then_with(|| a.id.cmp(&b.id))
    });
    let headers = ESCALATION_COLUMNS
        .iter()
        .chain(&ESCALATION_EXTRA)
        .copied()
        .collect();
    let rows = rows
        .into_iter()
        .map(|r| {
            vec![
                r.id.clone(),
                num(r.intensity, 1),
                num(r.open_tickets, 0),
                num(r.high_priority, 0),
                r.health.clone(),
                num(r.escalation.map(next_week), 4),
                r.name.clone(),
                r.owner.clone(),
                num(r.escalation, 4),
                num(r.escalations, 0),
                num(r.arr, 2),
                r.action.map(|a| a.action).unwrap_or_default(),
            ]
        })
        .collect();
    Table { headers, rows }
}

/// The golden record stored with the run, every account, with the run's action and churn
/// risk for the filters.
fn golden(conn: &Connection, run_id: i64, as_of: &str, f: &Filters) -> Result<Table> {
    if !features::table_is_current(conn)? {
        bail!(
            "the run's golden record is not stored (or is from an older cge): run `cge run` again"
        );
    }
    let columns = features::table_columns();
    let list: Vec<String> = columns.iter().map(|c| format!("g.{c}")).collect();
    let mut stmt = conn.prepare(&format!(
        "SELECT {}, s.action, s.churn_probability FROM golden_record g
         LEFT JOIN account_scores s ON s.run_id = ?1 AND s.account_id = g.account_id
         WHERE g.as_of = ?2 ORDER BY g.account_id",
        list.join(", ")
    ))?;
    let at = |name: &str| columns.iter().position(|c| *c == name);
    let (owner, industry, tier, name, arr, renewal, billing) = (
        at("owner"),
        at("industry"),
        at("plan_tier"),
        at("account_name"),
        at("total_arr"),
        at("days_to_next_renewal"),
        at("billing_frequency"),
    );
    let n = columns.len();
    let mut rows = Vec::new();
    let mut q = stmt.query(rusqlite::params![run_id, as_of])?;
    while let Some(r) = q.next()? {
        let cells: Vec<String> = (0..n)
            .map(|i| match r.get_ref(i)? {
                rusqlite::types::ValueRef::Null => Ok(String::new()),
                rusqlite::types::ValueRef::Integer(v) => Ok(v.to_string()),
                rusqlite::types::ValueRef::Real(v) => Ok(v.to_string()),
                rusqlite::types::ValueRef::Text(t) => Ok(String::from_utf8_lossy(t).into_owned()),
                rusqlite::types::ValueRef::Blob(_) => Ok(String::new()),
            })
            .collect::<rusqlite::Result<_>>()?;
        let action: Option<String> = r.get(n)?;
        let churn: Option<f64> = r.get(n + 1)?;
        let cell = |i: Option<usize>| i.map_or("", |i| cells[i].as_str());
        let number = |i: Option<usize>| cell(i).parse::<f64>().ok();
        let ok = f.owner.as_ref().is_none_or(|o| same(cell(owner), o))
            && f.industry.as_ref().is_none_or(|x| same(cell(industry), x))
            && f.plan_tier.as_ref().is_none_or(|x| same(cell(tier), x))
            && f.action
                .as_ref()
                .is_none_or(|a| action.as_ref().is_some_and(|x| contains(x, a)))
            && f.min_arr
                .is_none_or(|m| number(arr).is_some_and(|a| a >= m))
            && f.min_churn.is_none_or(|m| churn.is_some_and(|c| c >= m))
            && f.renewal_within.is_none_or(|d| {
                cell(billing) == "annual"
                    && number(renewal).is_some_and(|x| (0.0..=d as f64).contains(&x))
            })
            && f.search
                .as_ref()
                .is_none_or(|s| contains(cell(name), s) || contains(cell(at("account_id")), s));
        if ok {
            rows.push(cells);
        }
    }
    Ok(Table {
        headers: columns,
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_and_the_weekly_conversion() {
        assert_eq!(churn_category(0.71), "High");
        assert_eq!(churn_category(0.7), "Medium");
        assert_eq!(churn_category(0.41), "Medium");
        assert_eq!(churn_category(0.4), "Low");
        // 1 − 0.7^(7/30): ln 0.7 = −0.356675; × 7/30 = −0.083224; e^… = 0.920145.
        assert!((next_week(0.3) - 0.079855).abs() < 1e-5);
        assert_eq!(next_week(0.0), 0.0);
        assert_eq!(next_week(1.0), 1.0);
    }
}
