//! Running commands and reading what they and the repository hold.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The development key the demo uses; tests verify generated codes with it.
pub const DEV_KEYS: &str = "config/dev-code-keys.txt";
/// The development draw key: tests seal and open draw secrets with it.
pub const DEV_DRAW_KEYS: &str = "config/dev-draw-keys.txt";

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn key_ring() -> yima_code::KeyRing {
    let text = std::fs::read_to_string(repo().join(DEV_KEYS)).expect("dev keys");
    yima_code::KeyRing::parse(&text).expect("dev keys parse")
}

pub fn draw_keys() -> yima_campaign::DrawKeyRing {
    let text = std::fs::read_to_string(repo().join(DEV_DRAW_KEYS)).expect("dev draw keys");
    yima_campaign::DrawKeyRing::parse(&text).expect("dev draw keys parse")
}

/// A count as Postgres returns counts.
pub fn count(n: usize) -> i64 {
    i64::try_from(n).expect("a count fits an i64")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs and insists on success, showing stderr otherwise.
pub fn run_ok(command: &mut Command) -> Output {
    let output = command.output().expect("yima runs");
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}",
        stderr(&output)
    );
    output
}

/// Runs and insists on failure; returns stderr.
pub fn run_err(command: &mut Command) -> String {
    let output = command.output().expect("yima runs");
    assert!(
        !output.status.success(),
        "{command:?} unexpectedly succeeded"
    );
    stderr(&output)
}

/// A fresh directory, removed when the test is done with it.
pub fn temp_dir(tag: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("yima-{tag}-"))
        .tempdir()
        .expect("temp dir")
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
