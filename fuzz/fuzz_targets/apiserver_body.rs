#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| labyrinth_fuzz::apiserver_body::check(data));
