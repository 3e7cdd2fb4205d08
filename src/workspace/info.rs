//! `cge info`: what a workspace holds.

use std::fmt;
use std::path::PathBuf;

use anyhow::Result;

use super::Workspace;
use super::contract::TABLES;

#[derive(Debug)]
pub struct TableInfo {
    pub name: String,
    pub rows: i64,
    /// Earliest and latest date over the table's date columns.
    pub date_range: Option<(String, String)>,
}

#[derive(Debug)]
pub struct Info {
    pub path: PathBuf,
    pub schema_version: i64,
    /// The data's as-of date: the default as-of date of every command.
    pub data_as_of: Option<chrono::NaiveDate>,
    pub tables: Vec<TableInfo>,
    pub accounts_with_churn_event: i64,
    pub accounts_flagged_churned: i64,
    pub owners: i64,
}

impl Info {
    pub fn rows(&self, table: &str) -> Option<i64> {
        self.tables.iter().find(|t| t.name == table).map(|t| t.rows)
    }
}

pub fn info(ws: &Workspace) -> Result<Info> {
    let conn = ws.conn();
    let mut tables = Vec::new();
    for t in TABLES {
        let rows = ws.count(t.name)?;
        let mut lo: Option<String> = None;
        let mut hi: Option<String> = None;
        for c in t.date_columns {
            // Timestamps compare by their date part.
            let (a, b): (Option<String>, Option<String>) = conn.query_row(
                &format!(
                    "SELECT min(substr({c}, 1, 10)), max(substr({c}, 1, 10)) FROM {}",
                    t.name
                ),
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            lo = match (lo, a) {
                (Some(x), Some(y)) => Some(x.min(y)),
                (x, y) => x.or(y),
            };
            hi = match (hi, b) {
                (Some(x), Some(y)) => Some(x.max(y)),
                (x, y) => x.or(y),
            };
        }
        tables.push(TableInfo {
            name: t.name.to_string(),
            rows,
            date_range: lo.zip(hi),
        });
    }
    let one = |sql: &str| -> Result<i64> { Ok(conn.query_row(sql, [], |r| r.get(0))?) };
    Ok(Info {
        path: ws.path().to_path_buf(),
        schema_version: ws.schema_version()?,
        data_as_of: super::data_as_of(conn)?,
        tables,
        accounts_with_churn_event: one("SELECT count(DISTINCT account_id) FROM churn_events")?,
        accounts_flagged_churned: one("SELECT count(*) FROM accounts WHERE churn_flag = 1")?,
        owners: one("SELECT count(DISTINCT owner) FROM accounts")?,
    })
}

impl fmt::Display for Info {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "workspace       {}", self.path.display())?;
        writeln!(f, "schema version  {}", self.schema_version)?;
        match self.data_as_of {
            Some(d) => writeln!(f, "data as of      {d}")?,
            None => writeln!(f, "data as of      - (no data yet)")?,
        }
        writeln!(f)?;
        writeln!(f, "{:<18} {:>10}  dates", "table", "rows")?;
        for t in &self.tables {
            let range = t
                .date_range
                .as_ref()
                .map(|(a, b)| format!("{a} .. {b}"))
                .unwrap_or_else(|| "-".into());
            writeln!(f, "{:<18} {:>10}  {}", t.name, t.rows, range)?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "accounts with a churn event    {}",
            self.accounts_with_churn_event
        )?;
        writeln!(
            f,
            "accounts flagged churned       {}",
            self.accounts_flagged_churned
        )?;
        write!(f, "account owners (CSMs)          {}", self.owners)
    }
}
