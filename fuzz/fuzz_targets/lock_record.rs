//! The lock record reader on arbitrary bytes: absent, released, held or corrupt with a
//! position, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use proctor::lock::{parse_record, OnDisk};

fuzz_target!(|data: &[u8]| {
    if let OnDisk::Corrupt(why) = parse_record(data) {
        assert!(
            why.contains("line "),
            "corruption without a position: {why}"
        );
    }
});
