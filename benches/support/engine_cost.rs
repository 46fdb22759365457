//! The webhook bench's in-process figures: the CPU cost of one review without HTTP or TLS (parse,
//! decide, encode), for a set of AdmissionReview bodies.

use std::time::Instant;

/// Times parse, parse + validate + encode and parse + mutate + encode over `bodies`, and prints µs
/// per review.
pub fn engine_cost_of(
    iterations: usize,
    bodies: &[Vec<u8>],
    resolver: &gko::admission::lookup::StaticResolver,
    engine: &gko::admission::Engine,
) {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    else {
        return;
    };
    let time = |name: &str, f: &mut dyn FnMut(&[u8])| {
        for b in bodies.iter().take(8) {
            f(b);
        }
        let t = Instant::now();
        for i in 0..iterations {
            f(&bodies[i % bodies.len()]);
        }
        let per = t.elapsed().as_secs_f64() * 1e6 / iterations as f64;
        println!("{name:<28} {per:>8.1} µs/review (in-process, one core)");
    };
    time("parse only", &mut |b| {
        let _ = gko::admission::review::parse::<gko::admission::Doc>(b);
    });
    time("parse + validate + encode", &mut |b| {
        if let Ok(req) = gko::admission::review::parse(b) {
            let out = rt.block_on(gko::admission::review::validate(
                &req,
                engine,
                resolver,
                None,
                std::time::Duration::from_secs(4),
            ));
            let _ = serde_json::to_vec(&out.body);
        }
    });
    time("parse + mutate + encode", &mut |b| {
        if let Ok(req) = gko::admission::review::parse(b) {
            let out = gko::admission::review::mutate(&req);
            let _ = serde_json::to_vec(&out.body);
        }
    });
}
