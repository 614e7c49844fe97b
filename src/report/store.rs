//! The report store: every report read is kept once (organisation + report-id), so `report
//! --store` judges from history and a daily run reads only what is new. SQLite (bundled: no
//! server to install) or PostgreSQL (several machines, several receivers) behind one trait;
//! both run the same statements, which bind every value as a parameter (`$1`: SQLite reads it
//! as a numbered parameter too), so nothing a report says is ever SQL.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::Report;
use crate::imap::Mark;

/// The tables, created on first use; the same text for both backends.
const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS mtasts_reports (
        organization TEXT NOT NULL,
        report_key TEXT NOT NULL,
        end_time BIGINT NOT NULL,
        report TEXT NOT NULL,
        PRIMARY KEY (organization, report_key))",
    "CREATE INDEX IF NOT EXISTS mtasts_reports_end ON mtasts_reports (end_time)",
    "CREATE TABLE IF NOT EXISTS mtasts_mailboxes (
        mailbox TEXT PRIMARY KEY,
        uidvalidity BIGINT NOT NULL,
        last_uid BIGINT NOT NULL)",
];
const INSERT: &str = "INSERT INTO mtasts_reports (organization, report_key, end_time, report) \
                      VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING";
const SELECT: &str = "SELECT report FROM mtasts_reports WHERE end_time >= $1 \
                      ORDER BY end_time, organization, report_key";
const FORGET: &str = "DELETE FROM mtasts_reports WHERE end_time < $1";
const MAILBOX: &str = "SELECT uidvalidity, last_uid FROM mtasts_mailboxes WHERE mailbox = $1";
const SET_MAILBOX: &str = "INSERT INTO mtasts_mailboxes (mailbox, uidvalidity, last_uid) \
                           VALUES ($1, $2, $3) ON CONFLICT (mailbox) DO UPDATE \
                           SET uidvalidity = excluded.uidvalidity, last_uid = excluded.last_uid";

/// A store failed; nothing a report said is in the message, only the store's own words.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite.
    #[error("report store {path}")]
    Sqlite {
        /// The file.
        path: String,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// PostgreSQL.
    #[error("report store {url}")]
    Postgres {
        /// The URL without its password.
        url: String,
        /// What PostgreSQL said.
        #[source]
        source: postgres::Error,
    },
    /// A directory where the store's file should be: most likely `--store` took an input path
    /// as its value.
    #[error(
        "report store {0} is a directory: --store takes the store's file; name the inputs before --store, or write --store=FILE"
    )]
    IsDirectory(String),
    /// A stored row that is not a report (written by something else).
    #[error("report store: a stored report does not read back: {0}")]
    Corrupt(#[from] serde_json::Error),
}

/// What every backend does; the command code sees only this.
pub trait Store: Send {
    /// Stores the reports not stored yet, in one transaction; says of each whether it was new.
    fn insert(&mut self, reports: &[Report]) -> Result<Vec<bool>, StoreError>;
    /// Hands every stored report whose range ends at or after `since` to `each`, a row at a
    /// time (a history of millions is never in memory at once).
    fn reports(
        &mut self,
        since: DateTime<Utc>,
        each: &mut dyn FnMut(Report),
    ) -> Result<(), StoreError>;
    /// Deletes the reports whose range ended before `before`; returns how many.
    fn forget_before(&mut self, before: DateTime<Utc>) -> Result<usize, StoreError>;
    /// Where `mailbox` was read up to.
    fn mark(&mut self, mailbox: &str) -> Result<Option<Mark>, StoreError>;
    /// Remembers where `mailbox` was read up to.
    fn set_mark(&mut self, mailbox: &str, mark: Mark) -> Result<(), StoreError>;
}

/// Opens (and on first use creates) the store `spec` names: a `postgres://` or
/// `postgresql://` URL, else a SQLite file (relative to `base`).
pub fn open(spec: &str, base: &Path) -> Result<Box<dyn Store>, StoreError> {
    if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
        return Ok(Box::new(Postgres::open(spec)?));
    }
    let path = base.join(spec);
    if path.is_dir() {
        return Err(StoreError::IsDirectory(path.display().to_string()));
    }
    Ok(Box::new(Sqlite::open(&path)?))
}

/// The key a report is stored under: its report-id, or (a reporter that sends none) a digest
/// of what it says, so the same report is still stored once.
fn key(report: &Report, json: &str) -> String {
    if report.report_id.is_empty() {
        let digest = Sha256::digest(json.as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        format!("sha256:{hex}")
    } else {
        report.report_id.clone()
    }
}

/// The row of one report.
fn row(report: &Report) -> Result<(String, i64, String), StoreError> {
    let json = serde_json::to_string(report)?;
    Ok((key(report, &json), report.end.timestamp(), json))
}

/// The embedded store: one SQLite file.
struct Sqlite {
    path: PathBuf,
    conn: rusqlite::Connection,
}

/// Names the file in SQLite's errors.
fn sqlite_err(path: &Path) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |source| StoreError::Sqlite {
        path: path.display().to_string(),
        source,
    }
}

impl Sqlite {
    fn open(path: &Path) -> Result<Sqlite, StoreError> {
        let err = sqlite_err(path);
        let conn = rusqlite::Connection::open(path).map_err(&err)?;
        // WAL lets `report` read while `receive` writes; a committed report survives the
        // process being killed.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(&err)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(&err)?;
        for statement in SCHEMA {
            conn.execute(statement, []).map_err(&err)?;
        }
        Ok(Sqlite {
            path: path.to_path_buf(),
            conn,
        })
    }
}

impl Store for Sqlite {
    fn insert(&mut self, reports: &[Report]) -> Result<Vec<bool>, StoreError> {
        let err = sqlite_err(&self.path);
        let tx = self.conn.transaction().map_err(&err)?;
        let mut new = Vec::with_capacity(reports.len());
        {
            let mut insert = tx.prepare_cached(INSERT).map_err(&err)?;
            for report in reports {
                let (key, end, json) = row(report)?;
                let added = insert
                    .execute(rusqlite::params![report.organization, key, end, json])
                    .map_err(&err)?;
                new.push(added > 0);
            }
        }
        tx.commit().map_err(&err)?;
        Ok(new)
    }

    fn reports(
        &mut self,
        since: DateTime<Utc>,
        each: &mut dyn FnMut(Report),
    ) -> Result<(), StoreError> {
        let err = sqlite_err(&self.path);
        let mut select = self.conn.prepare_cached(SELECT).map_err(&err)?;
        let mut rows = select.query([since.timestamp()]).map_err(&err)?;
        while let Some(row) = rows.next().map_err(&err)? {
            let json = row.get_ref(0).and_then(|v| Ok(v.as_str()?)).map_err(&err)?;
            each(serde_json::from_str(json)?);
        }
        Ok(())
    }

    fn forget_before(&mut self, before: DateTime<Utc>) -> Result<usize, StoreError> {
        self.conn
            .execute(FORGET, [before.timestamp()])
            .map_err(sqlite_err(&self.path))
    }

    fn mark(&mut self, mailbox: &str) -> Result<Option<Mark>, StoreError> {
        use rusqlite::OptionalExtension;
        self.conn
            .query_row(MAILBOX, [mailbox], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
            })
            .optional()
            .map(|found| found.map(mark))
            .map_err(sqlite_err(&self.path))
    }

    fn set_mark(&mut self, mailbox: &str, mark: Mark) -> Result<(), StoreError> {
        self.conn
            .execute(
                SET_MAILBOX,
                rusqlite::params![
                    mailbox,
                    i64::from(mark.uidvalidity),
                    i64::from(mark.last_uid)
                ],
            )
            .map(drop)
            .map_err(sqlite_err(&self.path))
    }
}

/// A stored mailbox row; values that no IMAP server can send read as 0 (read it all again).
fn mark((uidvalidity, last_uid): (i64, i64)) -> Mark {
    Mark {
        uidvalidity: u32::try_from(uidvalidity).unwrap_or(0),
        last_uid: u32::try_from(last_uid).unwrap_or(0),
    }
}

/// The shared store: a PostgreSQL database.
struct Postgres {
    url: String,
    client: postgres::Client,
}

impl Postgres {
    fn open(url: &str) -> Result<Postgres, StoreError> {
        let shown = without_password(url);
        let err = |source| StoreError::Postgres {
            url: shown.clone(),
            source,
        };
        let mut client = postgres::Client::connect(url, postgres::NoTls).map_err(err)?;
        for statement in SCHEMA {
            client.batch_execute(statement).map_err(err)?;
        }
        Ok(Postgres { url: shown, client })
    }

    fn err(&self, source: postgres::Error) -> StoreError {
        postgres_err(&self.url)(source)
    }
}

/// Names the (password-free) URL in PostgreSQL's errors.
fn postgres_err(url: &str) -> impl Fn(postgres::Error) -> StoreError + '_ {
    move |source| StoreError::Postgres {
        url: url.to_string(),
        source,
    }
}

impl Store for Postgres {
    fn insert(&mut self, reports: &[Report]) -> Result<Vec<bool>, StoreError> {
        let err = postgres_err(&self.url);
        let mut tx = self.client.transaction().map_err(&err)?;
        let insert = tx.prepare(INSERT).map_err(&err)?;
        let mut new = Vec::with_capacity(reports.len());
        for report in reports {
            let (key, end, json) = row(report)?;
            let added = tx
                .execute(&insert, &[&report.organization, &key, &end, &json])
                .map_err(&err)?;
            new.push(added > 0);
        }
        tx.commit().map_err(&err)?;
        Ok(new)
    }

    fn reports(
        &mut self,
        since: DateTime<Utc>,
        each: &mut dyn FnMut(Report),
    ) -> Result<(), StoreError> {
        use postgres::fallible_iterator::FallibleIterator;
        let err = postgres_err(&self.url);
        let mut rows = self
            .client
            .query_raw(SELECT, [since.timestamp()])
            .map_err(&err)?;
        while let Some(row) = rows.next().map_err(&err)? {
            let json: &str = row.try_get(0).map_err(&err)?;
            each(serde_json::from_str(json)?);
        }
        Ok(())
    }

    fn forget_before(&mut self, before: DateTime<Utc>) -> Result<usize, StoreError> {
        self.client
            .execute(FORGET, &[&before.timestamp()])
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
            .map_err(|e| self.err(e))
    }

    fn mark(&mut self, mailbox: &str) -> Result<Option<Mark>, StoreError> {
        let row = self
            .client
            .query_opt(MAILBOX, &[&mailbox])
            .map_err(|e| self.err(e))?;
        let Some(row) = row else { return Ok(None) };
        let values = (
            row.try_get(0).map_err(|e| self.err(e))?,
            row.try_get(1).map_err(|e| self.err(e))?,
        );
        Ok(Some(mark(values)))
    }

    fn set_mark(&mut self, mailbox: &str, mark: Mark) -> Result<(), StoreError> {
        self.client
            .execute(
                SET_MAILBOX,
                &[
                    &mailbox,
                    &i64::from(mark.uidvalidity),
                    &i64::from(mark.last_uid),
                ],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }
}

/// The URL as it may be printed: the password replaced.
fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, tail) = rest.split_once('/').unwrap_or((rest, ""));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            let tail = if tail.is_empty() {
                String::new()
            } else {
                format!("/{tail}")
            };
            format!("{scheme}://{user}:***@{host}{tail}")
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)] // fixed dates in November 2026
mod tests {
    use super::*;

    fn report(org: &str, id: &str, day: u32) -> Report {
        let day = chrono::NaiveDate::from_ymd_opt(2026, 11, day)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc();
        Report {
            organization: org.into(),
            report_id: id.into(),
            start: day,
            end: day + chrono::Duration::hours(24),
            policies: vec![super::super::PolicyResult {
                policy_type: super::super::PolicyType::Sts,
                domain: Some("example.com".into()),
                policy_string: vec!["version: STSv1".into()],
                successful: 10,
                failed: 1,
                failures: vec![super::super::Failure {
                    result_type: super::super::ResultType::ValidationFailure,
                    mx: "mx.example.com".into(),
                    count: 1,
                }],
            }],
        }
    }

    #[test]
    fn sqlite_stores_each_report_once_and_answers_from_history() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = open("r.sqlite", dir.path()).unwrap();
        let a = report("Google Inc.", "1", 1);
        let hostile = report("x'); DROP TABLE mtasts_reports; --", "", 2);
        assert_eq!(
            store.insert(&[a.clone(), hostile.clone()]).unwrap(),
            [true, true]
        );
        assert_eq!(
            store
                .insert(&[a.clone(), a.clone(), hostile.clone()])
                .unwrap(),
            [false, false, false]
        );
        let since = a.end - chrono::Duration::days(30);
        let all = |store: &mut Box<dyn Store>| {
            let mut out = Vec::new();
            store.reports(since, &mut |r| out.push(r)).unwrap();
            out
        };
        assert_eq!(all(&mut store), vec![a.clone(), hostile]);
        assert_eq!(
            store
                .forget_before(a.end + chrono::Duration::hours(1))
                .unwrap(),
            1
        );
        assert_eq!(all(&mut store).len(), 1);
        assert_eq!(store.mark("INBOX").unwrap(), None);
        let mark = Mark {
            uidvalidity: u32::MAX,
            last_uid: 7,
        };
        store.set_mark("INBOX", mark).unwrap();
        drop(store);
        let mut again = open("r.sqlite", dir.path()).unwrap();
        assert_eq!(again.mark("INBOX").unwrap(), Some(mark));
    }

    #[test]
    fn a_directory_as_the_store_says_how_to_name_the_store() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("reports")).unwrap();
        let err = open("reports", dir.path()).err().unwrap().to_string();
        assert!(
            err.contains("is a directory") && err.contains("--store=FILE"),
            "{err}"
        );
    }

    #[test]
    fn passwords_are_not_printed() {
        assert_eq!(
            without_password("postgres://u:secret@db:5432/r"),
            "postgres://u:***@db:5432/r"
        );
        assert_eq!(without_password("postgres://db/r"), "postgres://db/r");
    }
}
