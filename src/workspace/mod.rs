//! The workspace: one SQLite file holding the raw tables and everything cge derives.
//!
//! Opening applies connection settings (WAL, foreign keys, busy timeout) and
//! the numbered migrations recorded in `PRAGMA user_version`.

pub mod contract;
pub mod dates;
pub mod import;
pub mod info;
mod migrate;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use rusqlite::{Connection, OpenFlags};

pub use migrate::SCHEMA_VERSION;

/// How long a second process waits for a busy workspace before giving up.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// An open workspace.
pub struct Workspace {
    conn: Connection,
    path: PathBuf,
}

impl Workspace {
    /// Open (creating if needed) the workspace at `path` and bring its schema up to date.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).with_context(|| {
                format!("cannot create the workspace folder {}", parent.display())
            })?;
        }
        let conn = Connection::open(path)
            .with_context(|| format!("cannot open workspace {}", path.display()))?;
        Self::setup(conn, path)
    }

    /// Open an existing workspace without creating or migrating it (read-only use).
    pub fn open_existing(path: &Path) -> Result<Self> {
        if !path.exists() {
            bail!(
                "no workspace at {} (create one with `cge import` or `cge simulate`)",
                path.display()
            );
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_URI
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .with_context(|| format!("cannot open workspace {}", path.display()))?;
        Self::setup(conn, path)
    }

    fn setup(mut conn: Connection, path: &Path) -> Result<Self> {
        conn.busy_timeout(busy_timeout())?;
        // The first real read tells us whether this is a SQLite file at all.
        let probe: rusqlite::Result<i64> = conn.query_row("PRAGMA user_version", [], |r| r.get(0));
        if let Err(e) = probe {
            bail!(
                "{} is not a usable cge workspace: {e}. Move it aside or pass another --workspace.",
                path.display()
            );
        }
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .with_context(|| format!("cannot set WAL mode on {}", path.display()))?;
        if mode != "wal" {
            bail!(
                "{}: expected WAL journal mode, SQLite chose {mode}",
                path.display()
            );
        }
        conn.pragma_update(None, "foreign_keys", true)?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        migrate::migrate(&mut conn)
            .with_context(|| format!("cannot migrate workspace {}", path.display()))?;
        Ok(Workspace {
            conn,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    pub fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }

    pub fn schema_version(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    /// Number of rows in a table of the workspace.
    pub fn count(&self, table: &str) -> Result<i64> {
        Ok(self
            .conn
            .query_row(&format!("SELECT count(*) FROM \"{table}\""), [], |r| {
                r.get(0)
            })?)
    }

    /// True when none of the raw tables holds a row.
    pub fn is_empty(&self) -> Result<bool> {
        for t in contract::TABLES {
            if self.count(t.name)? > 0 {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// Tables derived from (or simulated alongside) the raw tables, children first.
/// They are emptied whenever the raw data is replaced, in the same transaction, so
/// nothing computed from the old data survives. Tables created on demand
/// (`golden_record`) may be absent.
pub const DERIVED_TABLES: [&str; 5] = [
    "account_scores",
    "model_runs",
    "golden_record",
    "sim_truth",
    "account_signals",
];

/// Empty the derived tables and the metadata that describes the old data.
pub fn clear_derived(conn: &Connection) -> Result<()> {
    for t in DERIVED_TABLES {
        if table_exists(conn, t)? {
            conn.execute(&format!("DELETE FROM {t}"), [])?;
        }
    }
    conn.execute("DELETE FROM meta", [])?;
    Ok(())
}

pub fn table_exists(conn: &Connection, name: &str) -> Result<bool> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
        [name],
        |r| r.get(0),
    )?)
}

/// Drop the secondary indexes of `tables` and return the SQL that recreates them.
/// Bulk loads into emptied tables run several times faster without them; call
/// [`create_indexes`] with the result before committing the same transaction.
pub fn drop_indexes(conn: &Connection, tables: &[&str]) -> Result<Vec<String>> {
    let mut stmt = conn.prepare(
        "SELECT name, sql, tbl_name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL",
    )?;
    let all: Vec<(String, String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut sqls = Vec::new();
    for (name, sql, table) in all {
        if tables.contains(&table.as_str()) {
            conn.execute(&format!("DROP INDEX \"{name}\""), [])?;
            sqls.push(sql);
        }
    }
    Ok(sqls)
}

pub fn create_indexes(conn: &Connection, sqls: &[String]) -> Result<()> {
    for sql in sqls {
        conn.execute(sql, [])?;
    }
    Ok(())
}

/// A page cache big enough that million-row transactions don't spill pages to the WAL
/// over and over (measured on 1 M usage rows: 6.0 s -> 2.9 s together with index rebuilds).
pub fn bulk_cache(conn: &Connection) -> Result<()> {
    conn.pragma_update(None, "cache_size", -262_144)?;
    Ok(())
}

/// Read a metadata value.
pub fn meta(conn: &Connection, key: &str) -> Result<Option<String>> {
    use rusqlite::OptionalExtension;
    Ok(conn
        .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()?)
}

pub fn set_meta(conn: &Connection, key: &str, value: &str) -> Result<()> {
    conn.execute("INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value", [key, value])?;
    Ok(())
}

/// The data's as-of date: the date recorded by the import or the simulator; for
/// workspaces without one, the latest usage or ticket date (a start or signup date may
/// lie in the future and must not move every feature with it). `None` when empty.
pub fn data_as_of(conn: &Connection) -> Result<Option<chrono::NaiveDate>> {
    let recorded = meta(conn, "data_as_of")?;
    let latest = match recorded {
        Some(d) => Some(d),
        None => conn.query_row(
            "SELECT coalesce(
                 (SELECT max(d) FROM (SELECT max(usage_date) AS d FROM feature_usage
                                      UNION ALL SELECT max(submitted_at) FROM support_tickets)),
                 (SELECT max(d) FROM (SELECT max(start_date) AS d FROM subscriptions
                                      UNION ALL SELECT max(signup_date) FROM accounts)))",
            [],
            |r| r.get(0),
        )?,
    };
    latest
        .map(|d: String| {
            dates::parse_date(&d).with_context(|| format!("the workspace's data date {d:?}"))
        })
        .transpose()
}

/// The busy timeout: `CGE_BUSY_TIMEOUT_MS` overrides the default (tests use it).
pub fn busy_timeout() -> Duration {
    std::env::var("CGE_BUSY_TIMEOUT_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(Duration::from_millis)
        .unwrap_or(DEFAULT_BUSY_TIMEOUT)
}

/// The default workspace location: `workspace.db` in the user's data folder.
pub fn default_path() -> Result<PathBuf> {
    let dirs = directories::ProjectDirs::from("", "", "cge")
        .context("cannot find a home folder for the default workspace; pass --workspace PATH")?;
    Ok(dirs.data_dir().join("workspace.db"))
}

/// The shipped 500-account sample workspace (`sample_db/`), for a first start offline.
pub const SAMPLE: &[u8] = include_bytes!("../../sample_db/workspace.db");

/// Create a workspace at `path` from the shipped sample (refuses to replace a file).
pub fn create_from_sample(path: &Path) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create the workspace folder {}", parent.display()))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    std::io::Write::write_all(&mut file, SAMPLE)?;
    file.sync_all()?;
    drop(file);
    // Marked, so the UI can say it is showing sample data; importing real data clears it.
    let ws = Workspace::open_existing(path)?;
    set_meta(ws.conn(), ORIGIN, SAMPLE_ORIGIN)?;
    Ok(())
}

/// Meta key of where the data came from when it is not the user's own.
const ORIGIN: &str = "origin";
const SAMPLE_ORIGIN: &str = "sample";

/// True when the workspace holds the shipped sample (made by [`create_from_sample`]).
pub fn is_sample(conn: &Connection) -> Result<bool> {
    Ok(meta(conn, ORIGIN)?.as_deref() == Some(SAMPLE_ORIGIN))
}

/// True when a SQLite error means another process holds the lock.
pub fn is_busy(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        matches!(
            e.downcast_ref::<rusqlite::Error>(),
            Some(rusqlite::Error::SqliteFailure(f, _))
                if f.code == rusqlite::ErrorCode::DatabaseBusy || f.code == rusqlite::ErrorCode::DatabaseLocked
        )
    })
}
