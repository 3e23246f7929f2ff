#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| labyrinth_fuzz::dns_wire::check(data));
