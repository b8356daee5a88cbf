//! Sign and verify throughput of one core. The gateway verifies every scan before any
//! Redis command, so verify must stay far above the scan rate (target: 2M/s per core).
//! Run with `cargo bench --bench code`; criterion prints elements/s.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use yima_code::KeyRing;

fn ring() -> KeyRing {
    let keys = include_str!("../config/dev-code-keys.txt");
    KeyRing::parse(keys).expect("dev keys")
}

fn sign_and_verify(c: &mut Criterion) {
    let ring = ring();
    let key = ring.signing_key();
    let codes: Vec<String> = (0..1024)
        .map(|serial| key.sign(7, serial).to_string())
        .collect();
    let forged: Vec<String> = codes
        .iter()
        .map(|code| {
            let mut bytes = code.clone().into_bytes();
            bytes[20] = if bytes[20] == b'A' { b'B' } else { b'A' };
            String::from_utf8(bytes).expect("ascii")
        })
        .collect();

    let mut group = c.benchmark_group("code");
    group.throughput(Throughput::Elements(1));
    let mut serial = 0u32;
    group.bench_function("sign", |b| {
        b.iter(|| {
            serial = serial.wrapping_add(1);
            black_box(key.sign(black_box(7), serial))
        })
    });
    let mut next = 0usize;
    group.bench_function("verify_valid", |b| {
        b.iter(|| {
            next = (next + 1) % codes.len();
            black_box(ring.verify(black_box(&codes[next])))
        })
    });
    group.bench_function("verify_forged", |b| {
        b.iter(|| {
            next = (next + 1) % forged.len();
            black_box(ring.verify(black_box(&forged[next])))
        })
    });
    group.bench_function("verify_garbage", |b| {
        b.iter(|| black_box(ring.verify(black_box("not a code at all"))))
    });
    group.finish();
}

criterion_group!(benches, sign_and_verify);
criterion_main!(benches);
