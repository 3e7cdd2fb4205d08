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
];

pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

pub fn migrate(conn: &mut Connection) -> Result<()> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current > SCHEMA_VERSION {
        bail!(
            "the workspace has schema version {current}, newer than this cge understands ({SCHEMA_VERSION}); upgrade cge"
        );
    }
    if current == SCHEMA_VERSION {
        return Ok(());
    }
    // One immediate transaction: two processes opening a new workspace at once
    // cannot both apply the same migration.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let current: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
    }
    tx.commit()?;
    Ok(())
}
