//! The store's tests run against both backends, from one body: `store_tests!`
//! makes a `sqlite` and a `postgres` test of each. The PostgreSQL ones need
//! a server: `NEWSROOM_TEST_POSTGRES` is its URL (`scripts/pg-cluster.sh
//! start DIR` starts one and prints it). Without it they say so in one line
//! and pass, unless `NEWSROOM_REQUIRE_POSTGRES=1` (CI) makes that a failure.
//! Each test gets a schema of its own, dropped after it.
//!
//! Compiled into the library (hidden from its documentation) so that the
//! integration tests use the same places (`tests/integration/support.rs`).

use std::path::PathBuf;

use super::Store;

/// Where one test's store lives; [`TestPlace::open`] connects to it again
/// (a second process, or the same one after a crash).
pub enum TestPlace {
    Sqlite { _dir: tempfile::TempDir, path: PathBuf },
    Postgres { server: String, schema: String },
}

impl TestPlace {
    pub fn sqlite() -> TestPlace {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().join("store.sqlite");
        TestPlace::Sqlite { _dir: dir, path }
    }

    /// A fresh schema on the test server, or `None` (and a line saying
    /// so) when there is none.
    pub fn postgres(test: &str) -> Option<TestPlace> {
        let server = postgres_server(test)?;
        let schema = format!("t_{}_{:08x}", std::process::id(), fastrand::u32(..));
        let mut client = postgres::Client::connect(&server, postgres::NoTls).expect("the test server");
        client.batch_execute(&format!("CREATE SCHEMA {schema}")).expect("a schema");
        Some(TestPlace::Postgres { server, schema })
    }

    /// The URL a command would be given for this store.
    pub fn url(&self) -> String {
        match self {
            TestPlace::Sqlite { path, .. } => path.display().to_string(),
            TestPlace::Postgres { server, schema } => {
                let separator = if server.contains('?') { '&' } else { '?' };
                format!("{server}{separator}options=-csearch_path%3D{schema}")
            }
        }
    }

    pub fn open(&self) -> Store {
        match self {
            TestPlace::Sqlite { path, .. } => Store::open(path).expect("the SQLite store"),
            TestPlace::Postgres { .. } => Store::open_postgres(&self.url()).expect("the PostgreSQL store"),
        }
    }
}

/// The test server's URL, or `None` and a line saying `test` is skipped on
/// PostgreSQL; a failure instead under `NEWSROOM_REQUIRE_POSTGRES=1`.
pub fn postgres_server(test: &str) -> Option<String> {
    let server = std::env::var("NEWSROOM_TEST_POSTGRES").ok().filter(|url| !url.is_empty());
    if server.is_none() {
        assert!(
            std::env::var("NEWSROOM_REQUIRE_POSTGRES").as_deref() != Ok("1"),
            "NEWSROOM_REQUIRE_POSTGRES=1 but NEWSROOM_TEST_POSTGRES is not set"
        );
        eprintln!("skipped: {test} on PostgreSQL: NEWSROOM_TEST_POSTGRES is not set (scripts/pg-cluster.sh)");
    }
    server
}

impl Drop for TestPlace {
    fn drop(&mut self) {
        if let TestPlace::Postgres { server, schema } = self
            && let Ok(mut client) = postgres::Client::connect(server, postgres::NoTls)
        {
            let _ = client.batch_execute(&format!("DROP SCHEMA {schema} CASCADE"));
        }
    }
}

#[cfg(test)]
/// Each `fn name(place: &TestPlace) { … }` becomes `name::sqlite` and
/// `name::postgres`, one body run on each backend.
macro_rules! store_tests {
    ($($(#[$attribute:meta])* fn $name:ident($place:ident: &TestPlace) $body:block)*) => {
        $(
            $(#[$attribute])*
            mod $name {
                #[allow(unused_imports)]
                use super::*;
                use $crate::store::testing::TestPlace;

                fn body($place: &TestPlace) $body

                #[test]
                fn sqlite() {
                    body(&TestPlace::sqlite());
                }

                #[test]
                fn postgres() {
                    if let Some(place) = TestPlace::postgres(concat!(module_path!(), "::", stringify!($name))) {
                        body(&place);
                    }
                }
            }
        )*
    };
}
#[cfg(test)]
pub(crate) use store_tests;
