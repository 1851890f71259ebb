//! The `anslut` command as an operator runs it: the built binary against a database, most
//! tests against the database and data directory of a test server the API's integration
//! tests' helpers start (their modules are shared, not copied: `#[path]` below).

#[path = "../../../api/tests/api/fixtures.rs"]
#[expect(
    dead_code,
    reason = "the fixtures of the API's tests, of which these use a few"
)]
mod fixtures;
#[path = "../../../api/tests/api/helpers.rs"]
#[expect(
    dead_code,
    reason = "the helpers of the API's tests, of which these use a few"
)]
mod helpers;

mod audit;
mod migrate;
mod privacy;
mod projections;
