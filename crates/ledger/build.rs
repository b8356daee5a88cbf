//! Rebuilds the crate when a migration is added or changed: `sqlx::migrate!` embeds
//! the directory at compile time, and cargo would otherwise not look at it again.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
