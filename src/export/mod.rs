//! Safe CSV export: UTF-8 with a header, formula cells defused, written to a temp
//! file and renamed into place, never replacing an existing file unless asked. `tables`
//! builds the files of a stored run.

pub mod tables;

use std::borrow::Cow;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// The target exists and overwriting was not confirmed.
#[derive(Debug, thiserror::Error)]
#[error("{} already exists", .0.display())]
pub struct AlreadyExists(pub PathBuf);

/// Neutralize a cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR
/// at the start) by prefixing a single quote. Plain numbers such as `-12.5` stay numbers.
pub fn defuse(cell: &str) -> Cow<'_, str> {
    let risky = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if risky && cell.parse::<f64>().map_or(true, |v| !v.is_finite()) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// Write `rows` under `headers` to `path`. Returns the number of data rows.
pub fn write_csv<I, R>(path: &Path, headers: &[&str], rows: I, overwrite: bool) -> Result<usize>
where
    I: IntoIterator<Item = R>,
    R: IntoIterator<Item = String>,
{
    write_file(path, overwrite, |f| write_rows(f, headers, rows))
}

/// Write a file through a temp file in its folder (created if missing), synced and renamed
/// into place: a failure leaves `path` as it was. Without `overwrite` an existing `path`
/// is [`AlreadyExists`], also one that appears meanwhile. Returns what `write` returns.
pub fn write_file<T>(
    path: &Path,
    overwrite: bool,
    write: impl FnOnce(&std::fs::File) -> Result<T>,
) -> Result<T> {
    if path.exists() && !overwrite {
        return Err(AlreadyExists(path.to_path_buf()).into());
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix(".cge-")
        .suffix(".tmp")
        .tempfile_in(&dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    let out = write(tmp.as_file())?;
    tmp.as_file().sync_all()?;
    if overwrite {
        tmp.persist(path)
            .map_err(|e| e.error)
            .with_context(|| format!("cannot write {}", path.display()))?;
    } else {
        // Atomic: fails instead of replacing a file that appeared meanwhile.
        tmp.persist_noclobber(path).map_err(|e| {
            if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                anyhow::Error::new(AlreadyExists(path.to_path_buf()))
            } else {
                anyhow::Error::new(e.error).context(format!("cannot write {}", path.display()))
            }
        })?;
    }
    Ok(out)
}

/// Write `headers` and `rows` as CSV (RFC 4180 quoting, every cell defused) to `out`.
/// Returns the number of data rows.
pub fn write_rows<W, I, R>(out: W, headers: &[&str], rows: I) -> Result<usize>
where
    W: Write,
    I: IntoIterator<Item = R>,
    R: IntoIterator<Item = String>,
{
    let mut count = 0;
    let mut w = csv::WriterBuilder::new().from_writer(std::io::BufWriter::new(out));
    w.write_record(headers.iter().map(|h| defuse(h).into_owned()))?;
    for row in rows {
        let cells: Vec<String> = row.into_iter().collect();
        w.write_record(cells.iter().map(|c| defuse(c).into_owned()))?;
        count += 1;
    }
    w.flush()?;
    w.into_inner()
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .flush()?;
    Ok(count)
}

/// `base` if free, else `base-1`, `base-2`, ... before the extension.
pub fn free_path(base: &Path) -> PathBuf {
    if !base.exists() {
        return base.to_path_buf();
    }
    let stem = base
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = base
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    (1..)
        .map(|i| base.with_file_name(format!("{stem}-{i}{ext}")))
        .find(|p| !p.exists())
        .expect("some suffix is free")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_defused_numbers_kept() {
        for (raw, want) in [
            ("=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"),
            ("+1+1", "'+1+1"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tcmd", "'\tcmd"),
            ("\rcmd", "'\rcmd"),
            ("-9000", "-9000"),
            ("-0.25", "-0.25"),
            ("+5", "+5"),
            ("Acme", "Acme"),
            ("", ""),
        ] {
            assert_eq!(defuse(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn writes_atomically_and_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        let rows = vec![
            vec!["Acme, Inc.".to_string(), "=1+1".to_string()],
            vec!["Zürich AG".into(), "-5".into()],
        ];
        assert_eq!(
            write_csv(&path, &["name", "value"], rows.clone(), false).unwrap(),
            2
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "name,value\n\"Acme, Inc.\",'=1+1\nZürich AG,-5\n");
        let err = write_csv(&path, &["name"], vec![vec!["x".to_string()]], false).unwrap_err();
        assert!(err.downcast_ref::<AlreadyExists>().is_some());
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            text,
            "refused export changed the file"
        );
        write_csv(&path, &["name"], vec![vec!["x".to_string()]], true).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "name\nx\n");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .collect();
        assert_eq!(leftovers.len(), 1, "temp files left behind");
        assert_eq!(free_path(&path), dir.path().join("out-1.csv"));
    }
}
