//! Churn and escalation labels from `models::outcomes` (loaded once, labelled in memory)
//! against the same definitions written as plain SQL, on a simulated world.

use std::collections::HashSet;

use chrono::{Duration, NaiveDate};
use rusqlite::Connection;

use cge::models::outcomes::Outcomes;
use cge::simulate::{SimConfig, simulate};
use cge::workspace::Workspace;

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn set(conn: &Connection, sql: &str, lo: &str, hi: &str) -> HashSet<String> {
    let mut stmt = conn.prepare(sql).unwrap();
    stmt.query_map([lo, hi], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

/// Churn in (t, t + h]: an event in the window; for an account without any event, every
/// subscription started by the window's end ended by then, the last inside the window.
const CHURN_SQL: &str =
    "SELECT account_id FROM churn_events WHERE churn_date > ?1 AND churn_date <= ?2
     UNION
     SELECT s.account_id FROM subscriptions s
     WHERE NOT EXISTS (SELECT 1 FROM churn_events c WHERE c.account_id = s.account_id)
       AND s.start_date <= ?2
     GROUP BY s.account_id
     HAVING sum(s.end_date IS NULL OR s.end_date > ?2) = 0 AND max(s.end_date) > ?1";

const ESCALATION_SQL: &str = "SELECT DISTINCT account_id FROM support_tickets
     WHERE substr(submitted_at, 1, 10) > ?1 AND substr(submitted_at, 1, 10) <= ?2
       AND (escalation_flag = 1 OR priority = 'urgent')";

#[test]
fn labels_in_memory_match_the_sql_definitions() {
    let tmp = tempfile::tempdir().unwrap();
    let mut ws = Workspace::open(&tmp.path().join("w.db")).unwrap();
    simulate(&mut ws, &SimConfig::new(600, 13, date("2026-10-31")), false).unwrap();
    let conn = ws.conn();
    // Accounts without any churn event whose subscriptions all ended: the fallback's cases.
    conn.execute_batch("DELETE FROM churn_events WHERE rowid % 3 = 0;")
        .unwrap();
    let accounts: Vec<String> = {
        let mut s = conn
            .prepare("SELECT account_id FROM accounts ORDER BY account_id")
            .unwrap();
        s.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    };
    let outcomes = Outcomes::load(conn).unwrap();
    let fmt = |d: NaiveDate| d.format("%Y-%m-%d").to_string();
    let (mut churned, mut escalated) = (0, 0);
    for t in ["2025-11-30", "2026-01-31", "2026-04-30", "2026-07-31"].map(date) {
        for h in [30, 90] {
            let want = set(conn, CHURN_SQL, &fmt(t), &fmt(t + Duration::days(h)));
            let got = outcomes.churn(&accounts, t, h);
            let expected: Vec<bool> = accounts.iter().map(|a| want.contains(a)).collect();
            assert_eq!(got, expected, "churn as of {t}, {h} days");
            churned += want.len();
        }
        let want = set(conn, ESCALATION_SQL, &fmt(t), &fmt(t + Duration::days(30)));
        let expected: Vec<bool> = accounts.iter().map(|a| want.contains(a)).collect();
        assert_eq!(
            outcomes.escalation(&accounts, t, 30),
            expected,
            "escalation {t}"
        );
        escalated += want.len();
    }
    assert!(churned > 20 && escalated > 20, "{churned} {escalated}");
}
