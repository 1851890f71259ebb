//! The source documents under `../shared/seeds/`, and the one normalisation every
//! traceability test compares quotes with.

use std::path::PathBuf;

/// Collapses every run of whitespace to one space, so that line breaks and the
/// extraction's double spaces in the source documents do not matter.
pub fn normalise(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Where the source documents are: `ANSLUT_SEEDS_DIR`, or `../shared/seeds` beside the
/// repository.
pub fn seeds_dir() -> PathBuf {
    std::env::var_os("ANSLUT_SEEDS_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/seeds"),
        PathBuf::from,
    )
}

/// A source document, normalised; `None` when it is not on this machine.
pub fn document(file: &str) -> Option<String> {
    std::fs::read_to_string(seeds_dir().join(file))
        .ok()
        .map(|text| normalise(&text))
}

/// Fails in CI, and only warns elsewhere, when source documents were not found.
pub fn report_missing(missing: &[String]) {
    if missing.is_empty() {
        return;
    }
    let message = format!(
        "source documents not found in {} (set ANSLUT_SEEDS_DIR): {}",
        seeds_dir().display(),
        missing.join(", ")
    );
    assert!(std::env::var_os("CI").is_none(), "{message}");
    eprintln!("skipped: {message}");
}
