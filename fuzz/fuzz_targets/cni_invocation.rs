#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| labyrinth_fuzz::cni_invocation::check(data));
