//! Timing of the write-token check (`clustermatch::server::auth`): the mean time to reject a
//! presented token that differs from the configured one in its FIRST byte, in its LAST byte,
//! or in length (shorter, longer), and to accept the right one. With a constant-time check the
//! means agree within noise; the same cases through a plain `==` on the bytes are shown for
//! contrast (there a wrong first byte or a wrong length returns earlier).
//!
//! ```text
//! cargo bench --bench token
//! ```
//!
//! Criterion prints each case's mean with its confidence interval; compare
//! `token/constant_time/first_byte` with `token/constant_time/last_byte`.

use std::hint::black_box;

use clustermatch::server::auth::Token;
use criterion::{criterion_group, criterion_main, Criterion};

fn cases(secret: &str) -> Vec<(&'static str, Vec<u8>)> {
    let s = secret.as_bytes();
    let mut first = s.to_vec();
    first[0] ^= 1;
    let mut last = s.to_vec();
    *last.last_mut().unwrap_or(&mut 0) ^= 1;
    vec![
        ("right", s.to_vec()),
        ("first_byte", first),
        ("last_byte", last),
        ("shorter", s[..s.len() - 1].to_vec()),
        ("longer", [s, b"x"].concat()),
    ]
}

fn bench(c: &mut Criterion) {
    // A 64-byte token, as `openssl rand -hex 32` makes.
    let secret = "9f2c4e7a1b3d5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8";
    let token = Token::new(secret);
    let mut group = c.benchmark_group("token");
    for (name, given) in cases(secret) {
        group.bench_function(format!("constant_time/{name}"), |b| {
            b.iter(|| token.matches(black_box(&given)))
        });
    }
    for (name, given) in cases(secret) {
        group.bench_function(format!("plain_eq/{name}"), |b| {
            b.iter(|| black_box(&given[..]) == black_box(secret.as_bytes()))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
