//! Numbered schema migrations, tracked in `PRAGMA user_version`.

use anyhow::{Result, bail};
use rusqlite::{Connection, TransactionBehavior};

/// Migrations in order; migration `i` brings the schema to version `i + 1`.
const MIGRATIONS: &[&str] = &[
    include_str!("../../assets/sql/migrations/0001_raw_tables.sql"),
    include_str!("../../assets/sql/migrations/0002_signals_truth_meta.sql"),
    include_str!("../../assets/sql/migrations/0003_model_runs.sql"),
    include_str!("../../assets/sql/migrations/0004_run_history.sql"),
    include_str!("../../assets/sql/migrations/0005_scores_view_index.sql"),
    include_str!("../../assets/sql/migrations/0006_lookalikes.sql"),
    include_str!("../../assets/sql/migrations/0007_scores_rowid.sql"),
];

pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

pub fn migrate(conn: &mut Connection) -> Result<()> {
    migrate_to(conn, SCHEMA_VERSION)
}

/// Apply the migrations up to schema version `target` (tests start from an older one).
fn migrate_to(conn: &mut Connection, target: i64) -> Result<()> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current > SCHEMA_VERSION {
        bail!(
            "the workspace has schema version {current}, newer than this cge understands ({SCHEMA_VERSION}); upgrade cge"
        );
    }
    if current >= target {
        return Ok(());
    }
    if stored_scores(conn) {
        // Stored runs: some migrations rewrite their tables, a minute for a big book.
        eprintln!(
            "cge: upgrading the workspace to schema {target} (from {current}); a large one takes a minute"
        );
    }
    // One immediate transaction: two processes opening a new workspace at once
    // cannot both apply the same migration.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let current: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (i, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .take(target as usize)
        .skip(current as usize)
    {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
    }
    tx.commit()?;
    if current > 0 && current < ROWID_SCORES && target >= ROWID_SCORES {
        reclaim(conn);
    }
    Ok(())
}

/// The workspace holds scored runs (from schema 3 on).
fn stored_scores(conn: &Connection) -> bool {
    conn.query_row("SELECT EXISTS (SELECT 1 FROM account_scores)", [], |r| {
        r.get::<_, bool>(0)
    })
    .unwrap_or(false)
}

/// The migration that rewrites the scores as a rowid table (it frees their old pages).
const ROWID_SCORES: i64 = 7;

/// Give the disk back when over a quarter of the file is free pages (a rewritten table's
/// old ones): the file never shrinks by itself. Best effort — a VACUUM that fails (no room
/// for its copy) leaves the workspace as it was, only bigger than it needs to be.
fn reclaim(conn: &Connection) {
    let pages = |pragma: &str| -> i64 {
        conn.query_row(&format!("PRAGMA {pragma}"), [], |r| r.get(0))
            .unwrap_or(0)
    };
    let (free, total) = (pages("freelist_count"), pages("page_count"));
    if total > 0 && free * 4 > total {
        let _ = conn.execute_batch("VACUUM");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_move_to_a_rowid_table_with_every_column_and_index() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate_to(&mut conn, 6).unwrap();
        conn.execute_batch(
            "INSERT INTO accounts (account_id, account_name, signup_date, plan_tier, seats,
                 is_trial, churn_flag) VALUES ('A-1', 'Acme', '2025-01-01', 'Pro', 10, 0, 0);
             INSERT INTO model_runs (run_id, as_of, horizon_days, label_source, report_json)
                 VALUES (3, '2026-10-31', 90, 'churn-events', '{}');
             INSERT INTO account_scores (run_id, account_id, churn_probability, churn_rule_score,
                 escalation_probability, crosssell_score, arr, drivers_json, offers_json, map_x,
                 map_y, action, urgent, week, action_rank, arr_at_risk, expected_expansion,
                 evidence_json, contributions_json, change_json, churn_delta, lookalikes_json)
             VALUES (3, 'A-1', 0.25, 40, 0.1, 0.7, 1200, '{\"up\":[]}', '[]', 0.5, -0.5,
                 'Monitor', 0, NULL, 7, 300, 84, '{}', '[]', NULL, 0.02, '[\"Beta\"]');",
        )
        .unwrap();
        let row = |conn: &Connection| -> String {
            conn.query_row(
                "SELECT json_array(run_id, account_id, churn_probability, churn_rule_score,
                     escalation_probability, crosssell_score, arr, drivers_json, offers_json,
                     map_x, map_y, action, urgent, week, action_rank, arr_at_risk,
                     expected_expansion, evidence_json, contributions_json, change_json,
                     churn_delta, lookalikes_json)
                 FROM account_scores WHERE run_id = 3",
                [],
                |r| r.get(0),
            )
            .unwrap()
        };
        let before = row(&conn);
        // Older runs with 3 KB of explanations each: most of the file is the scores.
        conn.execute_batch(
            "WITH RECURSIVE n(i) AS (SELECT 100 UNION ALL SELECT i + 1 FROM n WHERE i < 600)
             INSERT INTO model_runs (run_id, as_of, horizon_days, label_source, report_json)
                 SELECT i, '2026-09-30', 90, 'churn-events', '{}' FROM n;
             INSERT INTO account_scores (run_id, account_id, churn_probability, drivers_json,
                 offers_json)
                 SELECT run_id, 'A-1', 0.1, printf('%.3000c', 'x'), '[]' FROM model_runs
                 WHERE run_id >= 100;",
        )
        .unwrap();
        // A score row of a run no longer there (older cges could leave one): dropped, not
        // a failed migration.
        conn.execute_batch(
            "PRAGMA foreign_keys = OFF;
             INSERT INTO account_scores (run_id, account_id, churn_probability, drivers_json,
                 offers_json) VALUES (99, 'A-1', 0.5, '{}', '[]');
             PRAGMA foreign_keys = ON;",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        assert_eq!(row(&conn), before);
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM account_scores", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 502);
        // The old table's pages are given back.
        let free: i64 = conn
            .query_row("PRAGMA freelist_count", [], |r| r.get(0))
            .unwrap();
        assert_eq!(free, 0);
        let sql: String = conn
            .query_row(
                "SELECT sql FROM sqlite_master WHERE name = 'account_scores'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(!sql.contains("WITHOUT ROWID"), "{sql}");
        for index in ["account_scores_account", "account_scores_view"] {
            let n: i64 = conn
                .query_row(
                    "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = ?1",
                    [index],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(n, 1, "{index}");
        }
        // Still one row per run and account.
        let dup = conn.execute(
            "INSERT INTO account_scores (run_id, account_id, churn_probability, drivers_json, offers_json)
             VALUES (3, 'A-1', 0.5, '{}', '[]')",
            [],
        );
        assert!(dup.is_err());
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
    }
}
