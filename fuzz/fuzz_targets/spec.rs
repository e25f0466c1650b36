//! The spec parser on arbitrary text: a spec or errors that each name file:line:col.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let path = Path::new("/fuzz/proctor.toml");
    if let Err(errors) = proctor::spec::Spec::parse_str(&text, path) {
        assert!(!errors.0.is_empty());
        for e in &errors.0 {
            assert!(e.line >= 1 && e.col >= 1, "error without a position: {e}");
        }
    }
});
