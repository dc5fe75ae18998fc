//! The database under the store: an embedded SQLite file (the default) or
//! a PostgreSQL server that several machines share. The store's queries
//! are written once, against this type; where the two dialects differ the
//! store asks [`Db::backend`].
//!
//! The interface is rusqlite's, cut down to what the store uses: numbered
//! parameters written `?1`, `?2` (sent to PostgreSQL as `$1`, `$2`),
//! statements prepared once per connection, rows read by column index into
//! types both drivers know (`i64`, `String`, `Vec<u8>`, their `Option`s).
//! Integer columns are `BIGINT` on PostgreSQL so that both give `i64`.
//!
//! PostgreSQL is reached through the `postgres` crate: tokio-postgres (its
//! protocol code, by the same maintainers) behind a blocking client with a
//! runtime of its own. The store is synchronous for both backends, so no
//! command knows which it has: `serve` gives it a writer thread, `send`
//! holds it behind a mutex. A call made from inside a Tokio runtime leaves
//! the runtime's worker for the round trip ([`outside_runtime`]).

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;

use anyhow::{Context, Result, anyhow};
use rusqlite::Connection;

/// Which server holds the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A value bound to a statement's parameter: anything both drivers can
/// write (integers as `i64`, text, bytes, and their `Option`s for NULL).
pub trait Param {
    fn sqlite(&self) -> &dyn rusqlite::ToSql;
    fn postgres(&self) -> &(dyn postgres::types::ToSql + Sync);
}

impl<T: rusqlite::ToSql + postgres::types::ToSql + Sync> Param for T {
    fn sqlite(&self) -> &dyn rusqlite::ToSql {
        self
    }
    fn postgres(&self) -> &(dyn postgres::types::ToSql + Sync) {
        self
    }
}

/// A column's value read into a type both drivers can produce.
pub trait Column: rusqlite::types::FromSql + for<'a> postgres::types::FromSql<'a> {}
impl<T: rusqlite::types::FromSql + for<'a> postgres::types::FromSql<'a>> Column for T {}

/// The parameters of one statement: `params![id, address, None::<&str>]`.
macro_rules! params {
    () => {
        &[] as &[&dyn $crate::store::db::Param]
    };
    ($($param:expr),+ $(,)?) => {
        &[$(&$param as &dyn $crate::store::db::Param),+] as &[&dyn $crate::store::db::Param]
    };
}
pub(crate) use params;

/// `?1, ?2, ?3`: `count` numbered parameters from `first`.
pub fn numbered(first: usize, count: usize) -> String {
    (first..first + count).map(|n| format!("?{n}")).collect::<Vec<_>>().join(", ")
}

/// `(?1, ?2), (?3, ?4)`: the `VALUES` of `rows` rows of `width`
/// parameters each, for a statement that inserts many rows at once.
pub fn values(rows: usize, width: usize) -> String {
    (0..rows).map(|row| format!("({})", numbered(row * width + 1, width))).collect::<Vec<_>>().join(", ")
}

/// One row of a result.
pub enum Row<'a> {
    Sqlite(&'a rusqlite::Row<'a>),
    Postgres(&'a postgres::Row),
}

impl Row<'_> {
    /// Column `index` (from 0).
    pub fn get<T: Column>(&self, index: usize) -> Result<T> {
        match self {
            Row::Sqlite(row) => Ok(row.get(index)?),
            Row::Postgres(row) => Ok(row.try_get(index)?),
        }
    }
}

/// A PostgreSQL connection with the statements it has prepared.
pub struct Postgres {
    url: String,
    /// Always `Some` but while dropping (see `Drop`).
    client: RefCell<Option<postgres::Client>>,
    statements: RefCell<HashMap<String, postgres::Statement>>,
}

/// The store's connection.
pub enum Db {
    Sqlite(Connection),
    Postgres(Box<Postgres>),
}

impl fmt::Debug for Db {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Db({:?})", self.backend())
    }
}

/// `?N` parameters as PostgreSQL writes them, `$N`; a `?` inside a quoted
/// string or identifier is left alone.
pub fn postgres_sql(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quote: Option<char> = None;
    for c in sql.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (None, '\'' | '"') => quote = Some(c),
            (None, '?') => {
                out.push('$');
                continue;
            }
            _ => {}
        }
        out.push(c);
    }
    out
}

/// Runs a blocking round trip to PostgreSQL from wherever the store is
/// called: on a multi-threaded Tokio runtime's worker the worker hands its
/// other tasks on first (`block_in_place`), and on a single-threaded one
/// the call runs on a thread of its own; the `postgres` client's own
/// runtime cannot be entered from inside another.
fn outside_runtime<T: Send>(call: impl FnOnce() -> T + Send) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|handle| handle.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(call),
        Ok(_) => std::thread::scope(|scope| scope.spawn(call).join().expect("a store call panicked")),
        Err(_) => call(),
    }
}

impl Postgres {
    /// Connects to `url` (`postgres://user:password@host:port/database`,
    /// or with `host=/a/socket/folder`). TLS is used as the URL's
    /// `sslmode` says (tokio-postgres's default, `prefer`: when the server
    /// offers it), with the system's roots.
    pub fn connect(url: &str) -> Result<Postgres> {
        let client = Postgres::client(url)?;
        Ok(Postgres {
            url: url.to_string(),
            client: RefCell::new(Some(client)),
            statements: RefCell::new(HashMap::new()),
        })
    }

    /// The URL connected to, password included.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn client(url: &str) -> Result<postgres::Client> {
        use rustls_platform_verifier::ConfigVerifierExt;
        let tls = rustls::ClientConfig::with_platform_verifier().context("failed to set up TLS for PostgreSQL")?;
        let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls);
        outside_runtime(|| postgres::Client::connect(url, tls))
            .map_err(postgres_error)
            .with_context(|| format!("failed to connect to the PostgreSQL store `{}`", redact(url)))
    }

    /// A connection the server closed (a restart, a failover, an idle
    /// timeout) is opened again before the next statement. A transaction
    /// it was in was rolled back with it, and its caller had the error.
    fn reconnect_if_closed(&self) -> Result<()> {
        if !self.client.borrow().as_ref().is_some_and(postgres::Client::is_closed) {
            return Ok(());
        }
        let client = Postgres::client(&self.url)?;
        let old = self.client.borrow_mut().replace(client);
        self.statements.borrow_mut().clear();
        outside_runtime(move || drop(old));
        Ok(())
    }

    fn run<T: Send>(
        &self,
        sql: &str,
        call: impl FnOnce(&mut postgres::Client, &postgres::Statement) -> Result<T, postgres::Error> + Send,
    ) -> Result<T> {
        self.reconnect_if_closed()?;
        let mut client = self.client.borrow_mut();
        let mut statements = self.statements.borrow_mut();
        let (client, statements) = (client.as_mut().expect("connected"), &mut *statements);
        outside_runtime(|| -> Result<T> {
            let statement = match statements.get(sql) {
                Some(statement) => statement.clone(),
                None => {
                    let statement = client
                        .prepare(&postgres_sql(sql))
                        .map_err(postgres_error)
                        .with_context(|| format!("in `{}`", one_line(sql)))?;
                    statements.insert(sql.to_string(), statement.clone());
                    statement
                }
            };
            call(client, &statement).map_err(postgres_error).with_context(|| format!("in `{}`", one_line(sql)))
        })
    }
}

impl Drop for Postgres {
    /// The client says goodbye to the server on its own runtime, which
    /// cannot be entered from inside another: a store dropped in async
    /// code closes its connection from outside it.
    fn drop(&mut self) {
        self.statements.get_mut().clear();
        if let Some(client) = self.client.get_mut().take() {
            outside_runtime(move || drop(client));
        }
    }
}

/// PostgreSQL's own words for an error (`db error` alone says nothing).
fn postgres_error(error: postgres::Error) -> anyhow::Error {
    match error.as_db_error() {
        Some(db) => {
            anyhow::Error::new(PostgresError { message: db.message().to_string(), code: db.code().code().to_string() })
        }
        None => anyhow!(error),
    }
}

/// An error the PostgreSQL server reported, with its SQLSTATE.
#[derive(Debug, thiserror::Error)]
#[error("PostgreSQL: {message} ({code})")]
pub struct PostgresError {
    pub message: String,
    pub code: String,
}

/// Whether `error` is one a transaction may simply be run again after:
/// PostgreSQL chose it as a deadlock's victim (40P01) or could not
/// serialise it (40001). Two `serve` instances applying batches that touch
/// the same readers in other orders meet the first.
pub fn is_retryable(error: &anyhow::Error) -> bool {
    error
        .chain()
        .filter_map(|cause| cause.downcast_ref::<PostgresError>())
        .any(|error| error.code == "40P01" || error.code == "40001")
}

/// A statement on one line, for messages; one that inserts many rows is
/// cut after its first 160 characters.
fn one_line(sql: &str) -> String {
    let line = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(160) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    }
}

/// A connection string without its password, for messages.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}

/// How long [`Db::commit_and_yield`] leaves the SQLite write lock free.
const YIELD: std::time::Duration = std::time::Duration::from_millis(3);

/// How long a SQLite statement waits for another connection's write lock
/// before it fails with `SQLITE_BUSY`.
pub const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The busy handler of every SQLite connection of the store: try again
/// every millisecond, for up to [`BUSY_TIMEOUT`]. SQLite's own
/// (`busy_timeout`) backs off to 100 ms between tries, so a writer waiting
/// behind a long merge could sleep through each gap the merge leaves
/// between its batches ([`Db::commit_and_yield`]) and wait for all of it.
pub fn busy(tries: i32) -> bool {
    let tries = u32::try_from(tries).unwrap_or(0);
    if std::time::Duration::from_millis(u64::from(tries)) >= BUSY_TIMEOUT {
        return false;
    }
    std::thread::sleep(std::time::Duration::from_millis(1));
    true
}

impl Db {
    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// The SQLite connection, for what only SQLite has (pragmas, its
    /// migrations' bookkeeping); `None` on PostgreSQL.
    pub fn sqlite(&self) -> Option<&Connection> {
        match self {
            Db::Sqlite(connection) => Some(connection),
            Db::Postgres(_) => None,
        }
    }

    /// Runs one statement: how many rows it changed.
    pub fn execute(&self, sql: &str, params: &[&dyn Param]) -> Result<usize> {
        match self {
            Db::Sqlite(connection) => {
                let params: Vec<&dyn rusqlite::ToSql> = params.iter().map(|p| p.sqlite()).collect();
                Ok(connection.prepare_cached(sql)?.execute(params.as_slice())?)
            }
            Db::Postgres(pg) => {
                let params: Vec<&(dyn postgres::types::ToSql + Sync)> = params.iter().map(|p| p.postgres()).collect();
                pg.run(sql, |client, statement| client.execute(statement, &params)).map(|n| n as usize)
            }
        }
    }

    /// Every row of a query, each read with `read`.
    pub fn query<T>(
        &self,
        sql: &str,
        params: &[&dyn Param],
        mut read: impl FnMut(&Row) -> Result<T>,
    ) -> Result<Vec<T>> {
        match self {
            Db::Sqlite(connection) => {
                let params: Vec<&dyn rusqlite::ToSql> = params.iter().map(|p| p.sqlite()).collect();
                let mut statement = connection.prepare_cached(sql)?;
                let mut rows = statement.query(params.as_slice())?;
                let mut out = Vec::new();
                while let Some(row) = rows.next()? {
                    out.push(read(&Row::Sqlite(row))?);
                }
                Ok(out)
            }
            Db::Postgres(pg) => {
                let params: Vec<&(dyn postgres::types::ToSql + Sync)> = params.iter().map(|p| p.postgres()).collect();
                let rows = pg.run(sql, |client, statement| client.query(statement, &params))?;
                rows.iter().map(|row| read(&Row::Postgres(row))).collect()
            }
        }
    }

    /// The first row of a query, if there is one.
    pub fn query_opt<T>(
        &self,
        sql: &str,
        params: &[&dyn Param],
        read: impl FnOnce(&Row) -> Result<T>,
    ) -> Result<Option<T>> {
        match self {
            Db::Sqlite(connection) => {
                let params: Vec<&dyn rusqlite::ToSql> = params.iter().map(|p| p.sqlite()).collect();
                let mut statement = connection.prepare_cached(sql)?;
                let mut rows = statement.query(params.as_slice())?;
                match rows.next()? {
                    Some(row) => Ok(Some(read(&Row::Sqlite(row))?)),
                    None => Ok(None),
                }
            }
            Db::Postgres(pg) => {
                let params: Vec<&(dyn postgres::types::ToSql + Sync)> = params.iter().map(|p| p.postgres()).collect();
                let row = pg.run(sql, |client, statement| client.query_opt(statement, &params))?;
                row.map(|row| read(&Row::Postgres(&row))).transpose()
            }
        }
    }

    /// The one row a query must return.
    pub fn query_one<T>(&self, sql: &str, params: &[&dyn Param], read: impl FnOnce(&Row) -> Result<T>) -> Result<T> {
        self.query_opt(sql, params, read)?.ok_or_else(|| anyhow!("no row from `{}`", one_line(sql)))
    }

    /// Runs statements with no parameters and no results (schema changes).
    pub fn execute_batch(&self, sql: &str) -> Result<()> {
        match self {
            Db::Sqlite(connection) => Ok(connection.execute_batch(sql)?),
            Db::Postgres(pg) => {
                pg.reconnect_if_closed()?;
                let mut client = pg.client.borrow_mut();
                let client = client.as_mut().expect("connected");
                outside_runtime(|| client.batch_execute(sql))
                    .map_err(postgres_error)
                    .with_context(|| format!("in `{}`", one_line(sql)))
            }
        }
    }

    /// Runs `changes` in one transaction, committed if they all succeed
    /// and rolled back otherwise. SQLite's is `BEGIN IMMEDIATE`: it takes
    /// the write lock at once, so two writers queue instead of failing at
    /// their first write. BEGIN and COMMIT are cached statements (a tenth
    /// of a message's ledger cost when parsed again each time).
    pub fn transaction<T>(&self, changes: impl FnOnce(&Db) -> Result<T>) -> Result<T> {
        self.begin()?;
        let result = changes(self);
        let ended = self.end(result.is_ok());
        let value = result?;
        ended?;
        Ok(value)
    }

    /// Opens a transaction that [`Db::end`] closes (for work whose end
    /// is decided by its caller: a dry run rolls back).
    pub fn begin(&self) -> Result<()> {
        let begin = match self.backend() {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        };
        self.execute(begin, params![])?;
        Ok(())
    }

    /// Commits the open transaction and opens the next, for work done in
    /// batches. On SQLite, where one writer at a time holds the lock, it
    /// first waits a moment, in which a writer waiting for the lock (its
    /// busy handler polls every millisecond: [`busy`]) takes it, and this
    /// one's `BEGIN IMMEDIATE` waits behind it.
    pub fn commit_and_yield(&self) -> Result<()> {
        self.end(true)?;
        if self.backend() == Backend::Sqlite {
            std::thread::sleep(YIELD);
        }
        self.begin()
    }

    /// Commits (`commit`) or rolls back the open transaction.
    pub fn end(&self, commit: bool) -> Result<()> {
        if commit {
            let committed = self.execute("COMMIT", params![]);
            if committed.is_err() && self.in_transaction() {
                let _ = self.execute_batch("ROLLBACK");
            }
            committed.map(drop)
        } else {
            if self.in_transaction() {
                self.execute_batch("ROLLBACK")?;
            }
            Ok(())
        }
    }

    /// Whether a transaction is open.
    fn in_transaction(&self) -> bool {
        match self {
            Db::Sqlite(connection) => !connection.is_autocommit(),
            // A failed statement leaves PostgreSQL's transaction open (and
            // aborted) until ROLLBACK; a ROLLBACK outside one only warns.
            Db::Postgres(_) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_parameters_become_dollars_outside_quotes() {
        assert_eq!(
            postgres_sql("SELECT a FROM t WHERE b = ?1 AND c = '?2' AND \"d?\" = ?12"),
            "SELECT a FROM t WHERE b = $1 AND c = '?2' AND \"d?\" = $12"
        );
        assert_eq!(postgres_sql("SELECT 'it''s ?' , ?3"), "SELECT 'it''s ?' , $3");
    }

    #[test]
    fn a_long_statement_is_cut_in_messages() {
        assert_eq!(one_line("SELECT a\n     FROM t"), "SELECT a FROM t");
        let long = format!("INSERT INTO t (a) VALUES {}", values(2_000, 1));
        let shown = one_line(&long);
        assert!(shown.starts_with("INSERT INTO t (a) VALUES (?1), (?2)") && shown.ends_with('…'), "{shown}");
        assert_eq!(shown.chars().count(), 161);
    }

    #[test]
    fn many_rows_are_numbered_in_order() {
        assert_eq!(numbered(3, 2), "?3, ?4");
        assert_eq!(values(2, 3), "(?1, ?2, ?3), (?4, ?5, ?6)");
        assert_eq!(values(0, 3), "");
    }

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(redact("postgres://ann:secret@db.example.org/news"), "postgres://ann:***@db.example.org/news");
        assert_eq!(redact("postgres://ann@db/news"), "postgres://ann@db/news");
    }

    #[test]
    fn a_failed_transaction_changes_nothing() {
        let db = Db::Sqlite(Connection::open_in_memory().unwrap());
        db.execute_batch("CREATE TABLE t (a INTEGER NOT NULL)").unwrap();
        let failed = db.transaction(|db| {
            db.execute("INSERT INTO t (a) VALUES (?1)", params![1_i64])?;
            db.execute("INSERT INTO t (a) VALUES (?1)", params![None::<i64>])
        });
        assert!(failed.is_err());
        let count: i64 = db.query_one("SELECT COUNT(*) FROM t", params![], |row| row.get(0)).unwrap();
        assert_eq!(count, 0);
    }

    /// A server that drops the connection (a restart, an idle timeout)
    /// costs the statement in flight, not the rest of the process's life.
    #[test]
    fn a_dropped_postgres_connection_is_opened_again() {
        let Some(place) = crate::store::testing::TestPlace::postgres("a_dropped_postgres_connection_is_opened_again")
        else {
            return;
        };
        let db = Db::Postgres(Box::new(Postgres::connect(&place.url()).unwrap()));
        let pid: i32 = db.query_one("SELECT pg_backend_pid()", params![], |row| row.get(0)).unwrap();
        let mut other = postgres::Client::connect(&place.url(), postgres::NoTls).unwrap();
        other.execute("SELECT pg_terminate_backend($1)", &[&pid]).unwrap();
        let mut answered = None;
        for _ in 0..50 {
            if let Ok(value) = db.query_one("SELECT CAST(2 AS BIGINT)", params![], |row| row.get::<i64>(0)) {
                answered = Some(value);
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(answered, Some(2));
        let again: i32 = db.query_one("SELECT pg_backend_pid()", params![], |row| row.get(0)).unwrap();
        assert_ne!(again, pid);
    }

    #[test]
    fn deadlock_victims_are_retried_other_errors_are_not() {
        let error = |code: &str| {
            anyhow::Error::new(PostgresError { message: "m".into(), code: code.into() }).context("in `UPDATE …`")
        };
        assert!(is_retryable(&error("40P01")) && is_retryable(&error("40001")));
        assert!(!is_retryable(&error("23505")) && !is_retryable(&anyhow!("no database")));
    }
}
