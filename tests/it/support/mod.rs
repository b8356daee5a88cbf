//! Shared test plumbing, by job: a database per test ([`db`]), the gateway started as
//! `yima gateway` starts it ([`gateway`]), servers of a test's own for drills
//! ([`servers`]), and running commands ([`run`]). Postgres and Redis are those
//! `deploy/dev/test.sh` started (or any given by `YIMA_TEST_POSTGRES_URL` and
//! `YIMA_TEST_REDIS_URL`).

pub mod browser;
pub mod db;
pub mod gateway;
pub mod run;
pub mod servers;

pub use browser::*;
pub use db::*;
pub use gateway::*;
pub use run::*;
pub use servers::*;
