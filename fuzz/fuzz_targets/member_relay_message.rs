#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| syncshell_fuzz::member::relay_message(data));
